"""ConnectionPool bookkeeping with real keep-alive connections to aiohttp."""

from __future__ import annotations

import time

import pytest

from boomnet.errors import LimitExceeded
from boomnet.http import ConnectionPool, HttpClient, HttpConnection, parse_url
from boomnet.http.blocking import establish
from boomnet.http.client import HTTP_SCHEMES, open_connection


def _conn(server, key="k") -> HttpConnection:
    conn = open_connection(parse_url(server.url("/"), HTTP_SCHEMES), key=key)
    establish(conn, time.monotonic() + 5)
    return conn


def test_lifo_reuse_and_cap(aio_server):
    pool = ConnectionPool(max_per_key=2)
    assert pool.acquire("k") is None and pool.can_open("k")
    a, b = _conn(aio_server), _conn(aio_server)
    pool.opened(a)
    pool.opened(b)
    assert not pool.can_open("k") and pool.can_open("other")
    pool.release(a)
    pool.release(b)
    assert pool.idle_count("k") == 2 and pool.open_count("k") == 2
    assert pool.acquire("k") is b  # most recently used first: the warmest socket
    assert pool.acquire("k") is a and pool.acquire("k") is None and pool.reused == 2
    pool.discard(a)
    assert pool.can_open("k") and pool.open_count("k") == 1
    pool.discard(b)
    pool.close()


def test_busy_connection_is_not_pooled(aio_server):
    pool = ConnectionPool()
    conn = _conn(aio_server)
    pool.opened(conn)
    conn.send_request("GET", "/hello")  # response not read: mid-exchange
    pool.release(conn)
    assert pool.idle_count() == 0 and pool.open_count("k") == 0 and conn.stream.closed


def test_expiry_and_prune(aio_server):
    now = [100.0]
    pool = ConnectionPool(idle_timeout=5, clock=lambda: now[0])
    conns = [_conn(aio_server) for _ in range(3)]
    for c in conns:
        pool.opened(c)
        pool.release(c)
    now[0] = 106.0
    assert pool.prune() == 3 and pool.idle_count() == 0 and all(c.stream.closed for c in conns)


def test_client_enforces_the_cap(aio_server):
    with HttpClient(max_per_key=1) as client:
        client.get(aio_server.url("/hello"))
        (conn,) = [c for conns in client.pool._idle.values() for c in conns]
        taken = client.pool.acquire(conn.key)  # someone holds the only allowed connection
        with pytest.raises(LimitExceeded):
            client.get(aio_server.url("/hello"))
        client.pool.release(taken)
        assert client.get(aio_server.url("/hello")).body == b"hello" and client.connections_opened == 1


def test_max_per_key_validated():
    with pytest.raises(ValueError):
        ConnectionPool(max_per_key=0)
