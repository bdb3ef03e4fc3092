"""HttpClient over the generic boomnet.connect.Pool, HTTP/1.1 side, with real keep-alive
connections to aiohttp: LIFO reuse, one request per connection at a time, the cap, expiry, and
no connection returned dirty after a failed, timed-out or interrupted request."""

from __future__ import annotations

import os
import socket

import pytest

from boomnet.connect import Origin
from boomnet.errors import DeadlineExceeded, LimitExceeded, LocalError
from boomnet.http import HttpClient, HttpOptions
from boomnet.http.pooled import PooledConnection


def _origin(server) -> Origin:
    return Origin.of(server.url("/"))


def test_lifo_reuse_and_one_request_per_connection(aio_server):
    with HttpClient(max_per_key=2) as client:
        key = _origin(aio_server)
        a = client._acquire(key, deadline=1e18)
        b = client._acquire(key, deadline=1e18)  # a is leased: HTTP/1.1 takes one request at a time
        assert a is not b and a.http_version == b.http_version == "1.1"
        assert a.capacity() == 0 and client.pool.in_use(key) == 2
        with pytest.raises(LimitExceeded):
            client._acquire(key, deadline=1e18)  # a third would exceed max_per_key=2
        client._release(a, clean=True)
        client._release(b, clean=True)
        assert client.pool.idle(key) == 2 and client.pool.idle_connections(key)[-1] is b
        # most recently used first: the warmest socket; the request itself reports HTTP/1.1
        r = client.get(aio_server.url("/peer"))
        assert r.http_version == "1.1"
        with socket.socket(fileno=os.dup(b.fileno())) as sock:
            assert int(r.text()) == sock.getsockname()[1]  # b carried it
        assert client.pool.stats.reused == 1 and client.connections_opened == 2


def test_busy_connection_is_never_pooled(aio_server):
    with HttpClient() as client:
        key = _origin(aio_server)
        pooled = client._acquire(key, deadline=1e18)
        assert pooled.h1 is not None
        pooled.h1.send_request("GET", "/hello")  # response not read: mid-exchange
        client._release(pooled, clean=pooled.h1.idle)
        assert client.pool.idle() == 0 and client.pool.in_use() == 0 and pooled.stream.closed


def test_timed_out_request_never_returns_its_connection(aio_server):
    with HttpClient() as client:
        assert client.get(aio_server.url("/hello")).body == b"hello"
        (pooled,) = client.pool.idle_connections(_origin(aio_server))
        with pytest.raises(DeadlineExceeded):
            client.get(aio_server.url("/slow?delay=2"), timeout=0.2)
        assert pooled.stream.closed and client.pool.idle() == 0  # dirty: closed, not pooled
        assert client.get(aio_server.url("/hello")).body == b"hello" and client.connections_opened == 2


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt (a cancelled blocking call)."""


def test_interrupted_request_never_returns_its_connection(aio_server, monkeypatch):
    import boomnet.http.client as client_module

    with HttpClient() as client:
        assert client.get(aio_server.url("/hello")).body == b"hello"
        (pooled,) = client.pool.idle_connections(_origin(aio_server))
        real = client_module.exchange

        def interrupted(conn, method, head, body, deadline):  # the request is out, then ^C
            conn.send_encoded(method, head, body)
            raise Interrupt

        monkeypatch.setattr(client_module, "exchange", interrupted)
        with pytest.raises(Interrupt):
            client.get(aio_server.url("/hello"))
        monkeypatch.setattr(client_module, "exchange", real)
        assert pooled.stream.closed and client.pool.idle() == 0 and client.pool.in_use() == 0
        assert client.get(aio_server.url("/hello")).body == b"hello" and client.connections_opened == 2


def test_expiry(aio_server):
    now = [100.0]
    with HttpClient(idle_timeout=5) as client:
        client.pool._clock = lambda: now[0]
        client.gather([("GET", aio_server.url("/hello"))] * 3)  # HTTP/1.1: in turn, on one connection
        assert client.pool.idle() == 1 and client.connections_opened == 1
        (pooled,) = client.pool.idle_connections(_origin(aio_server))
        now[0] = 106.0
        assert client.pool.expire() == 1 and client.pool.idle() == 0 and pooled.stream.closed


def test_client_enforces_the_cap(aio_server):
    with HttpClient(max_per_key=1) as client:
        client.get(aio_server.url("/hello"))
        taken = client._acquire(_origin(aio_server), deadline=1e18)  # someone holds the only one
        with pytest.raises(LimitExceeded):
            client.get(aio_server.url("/hello"))
        client._release(taken, clean=True)
        assert client.get(aio_server.url("/hello")).body == b"hello" and client.connections_opened == 1


def test_options_validated():
    with pytest.raises(LocalError):
        HttpOptions(max_per_key=0)
    with pytest.raises(LocalError):
        HttpOptions(http2="yes")
    with pytest.raises(LocalError):
        HttpOptions(retries=-1)
    with pytest.raises(LocalError):
        HttpOptions(h2c=1)  # type: ignore[arg-type]


def test_pooled_connection_offers_nothing_before_it_speaks(aio_server):
    from boomnet.connect import TcpConnector

    key = _origin(aio_server)
    p = PooledConnection(key, TcpConnector().connect(key), HttpOptions())  # connecting: protocol not known yet
    assert p.http_version is None and not p.reusable() and p.capacity() == 0
    p.close()
    assert p.stream.closed
