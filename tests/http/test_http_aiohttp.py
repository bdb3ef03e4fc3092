"""The blocking client and the non-blocking connection against aiohttp.web (an independent server)."""

from __future__ import annotations

import select
import time

import pytest

from boomnet.connect import Origin
from boomnet.errors import BodyTooLarge, ConnectError, ConnectionClosed, DeadlineExceeded, InvalidState
from boomnet.http import HttpClient, HttpConnection, HttpLimits, InvalidHttpRequest, request
from boomnet.stream import TcpStream


@pytest.fixture
def client():
    with HttpClient(request_timeout=5) as c:
        yield c


def test_one_shot_request(aio_server):
    resp = request("GET", aio_server.url("/hello"))
    assert (resp.status, resp.body, resp.text()) == (200, b"hello", "hello")
    assert resp.headers["content-type"].startswith("text/plain") and resp.url == aio_server.url("/hello")


def test_keep_alive_reuses_one_connection(client, aio_server):
    ports = {client.get(aio_server.url("/peer")).text() for _ in range(5)}
    assert len(ports) == 1 and client.connections_opened == 1 and client.pool.stats.reused == 4


def test_chunked(client, aio_server):
    resp = client.get(aio_server.url("/chunked?n=30&size=1000&pause=1"))
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.body == b"".join(bytes([65 + i % 26]) * 1000 for i in range(30))
    assert client.get(aio_server.url("/hello")).body == b"hello"  # same connection still in sync
    assert client.connections_opened == 1


def test_body_ended_by_close(client, aio_server):
    resp = client.get(aio_server.url("/eof"))
    assert "content-length" not in resp.headers and "transfer-encoding" not in resp.headers
    assert resp.body == b"part0;part1;part2;" and not resp.keep_alive
    assert client.pool.idle() == 0  # not pooled: it ended with the connection
    assert client.get(aio_server.url("/hello")).body == b"hello"
    assert client.connections_opened == 2


def test_head_has_no_body_and_connection_stays_usable(client, aio_server):
    resp = client.head(aio_server.url("/head"))
    assert resp.status == 200 and resp.body == b"" and resp.headers["content-length"] == "100"
    assert client.get(aio_server.url("/head")).body == b"x" * 100
    assert client.connections_opened == 1


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(client, aio_server, code):
    resp = client.get(aio_server.url(f"/status/{code}"))
    assert resp.status == code and resp.body == b""
    assert client.get(aio_server.url("/hello")).body == b"hello"
    assert client.connections_opened == 1


def test_post_echo(client, aio_server):
    payload = bytes(range(256)) * 1000  # bigger than one write
    resp = client.post(aio_server.url("/echo"), payload)
    assert resp.body == payload


def test_expect_100_continue(client, aio_server):
    resp = client.post(aio_server.url("/echo"), b"the body", {"Expect": "100-continue"})
    assert resp.status == 200 and resp.body == b"the body" and resp.headers["x-expect"] == "100-continue"
    (pooled,) = client.pool.idle_connections(Origin.of(aio_server.url("/")))
    conn = pooled.h1
    assert conn.parser.interim_total == 1  # the body went out after the server's 100 Continue
    assert client.get(aio_server.url("/hello")).body == b"hello"
    assert client.connections_opened == 1


def test_expect_refused_before_body_is_sent(client, aio_server):
    resp = client.post(aio_server.url("/refuse-expect"), b"never sent", {"Expect": "100-continue"})
    assert resp.status == 417
    # the body was never sent, so the connection is not trusted again
    assert client.get(aio_server.url("/hello")).body == b"hello"
    assert client.connections_opened == 2


def test_large_body(client, aio_server):
    resp = client.get(aio_server.url("/big?size=5000003"))
    assert len(resp.body) == 5000003 and resp.body[:256] == bytes(range(256)) and resp.body.endswith(b"z" * 3)


def test_body_limit(aio_server):
    with HttpClient(limits=HttpLimits(max_body_size=1000)) as c:
        with pytest.raises(BodyTooLarge):
            c.get(aio_server.url("/big?size=5000"))
        with pytest.raises(BodyTooLarge):
            c.get(aio_server.url("/chunked?n=20&size=100"))
        assert c.get(aio_server.url("/hello")).body == b"hello"


def test_response_deadline(client, aio_server):
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.get(aio_server.url("/slow?delay=1"), timeout=0.2)
    assert time.monotonic() - started < 1.0  # generous: the point is that it did not wait for the server
    with pytest.raises(DeadlineExceeded):  # headers came, the body stalls
        client.get(aio_server.url("/slow-body?delay=1"), timeout=0.2)
    assert client.pool.idle() == 0  # a connection abandoned mid-response is never pooled
    assert client.get(aio_server.url("/hello")).body == b"hello"


def test_server_connection_close_header(client, aio_server):
    resp = client.get(aio_server.url("/close"))
    assert resp.headers["connection"] == "close" and not resp.keep_alive
    assert client.pool.idle() == 0
    client.get(aio_server.url("/hello"))
    assert client.connections_opened == 2


def test_client_connection_close_header(client, aio_server):
    client.get(aio_server.url("/hello"), {"Connection": "close"})
    assert client.pool.idle() == 0


def test_stale_pooled_connection_is_retried_once(client, aio_server):
    assert client.get(aio_server.url("/stale")).text() == "ok 1"
    # the server closes the reused connection without answering: retried on a fresh one
    assert client.get(aio_server.url("/stale")).text() == "ok 1"
    assert client.connections_opened == 2


def test_stale_connection_not_retried_for_post(client, aio_server):
    assert client.post(aio_server.url("/stale"), b"x").text() == "ok 1"
    with pytest.raises(ConnectionClosed):
        client.post(aio_server.url("/stale"), b"x")
    assert client.connections_opened == 1


def test_idle_connection_closed_by_server_is_never_handed_out(aio_idle_close_server):
    server = aio_idle_close_server
    with HttpClient(request_timeout=5) as c:
        first = c.get(server.url("/peer")).text()
        (conn,) = c.pool.idle_connections(Origin.of(server.url("/")))
        # wait (bounded) until the server's FIN has arrived on the pooled socket
        p = select.poll()
        p.register(conn.fileno(), select.POLLIN)
        assert p.poll(3000), "server did not close the idle connection"
        second = c.get(server.url("/peer")).text()
        assert first != second and c.pool.stats.discarded == 1 and c.connections_opened == 2


def test_idle_expiry_on_client_side(aio_server):
    now = [0.0]
    with HttpClient() as c:
        c.pool._clock = lambda: now[0]
        c.pool.idle_timeout = 10
        c.get(aio_server.url("/hello"))
        now[0] = 11.0
        c.get(aio_server.url("/hello"))
        assert c.pool.stats.expired == 1 and c.connections_opened == 2
        now[0] = 30.0
        assert c.pool.expire() == 1 and c.pool.idle() == 0


def test_refused_connection(client):
    import socket

    with socket.socket() as s:  # a port that is certainly closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def test_injection_refused_before_connecting(client, aio_server):
    with pytest.raises(InvalidHttpRequest):
        client.get(aio_server.url("/hello"), {"X-Evil": "a\r\nInjected: yes"})


# --- the non-blocking connection -----------------------------------------------------------------


def _poll_until(conn: HttpConnection, count: int, seconds: float = 5.0) -> list:
    """Drive ``conn`` without blocking calls of its own; wait on its descriptor between polls."""
    out: list = []
    p = select.poll()
    p.register(conn.fileno(), select.POLLIN)
    deadline = time.monotonic() + seconds
    while len(out) < count and time.monotonic() < deadline:
        out += conn.poll()
        if len(out) < count:
            p.poll(50)
    return out


def _connected(server) -> HttpConnection:
    conn = HttpConnection(TcpStream.connect("127.0.0.1", server.port), f"127.0.0.1:{server.port}", pipelining=True)
    deadline = time.monotonic() + 5
    while not conn.establish():
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return conn


def test_nonblocking_pipelined_requests_with_callbacks(aio_server):
    conn = _connected(aio_server)
    seen = []
    conn.send_request("GET", "/hello", callback=lambda r: seen.append(("hello", r.body)))
    conn.send_request("HEAD", "/head", callback=lambda r: seen.append(("head", r.body)))
    conn.send_request("GET", "/chunked?n=3&size=2", callback=lambda r: seen.append(("chunked", r.body)))
    responses = _poll_until(conn, 3)
    assert [r.status for r in responses] == [200, 200, 200]
    assert seen == [("hello", b"hello"), ("head", b""), ("chunked", b"AABBCC")]
    assert conn.idle and conn.outstanding == 0
    conn.close()


def test_nonblocking_refuses_second_request_without_pipelining(aio_server):
    conn = _connected(aio_server)
    conn.pipelining = False
    conn.send_request("GET", "/hello")
    with pytest.raises(InvalidState):  # the caller's misuse of this connection's state
        conn.send_request("GET", "/hello")
    assert [r.body for r in _poll_until(conn, 1)] == [b"hello"]
    conn.close()


def test_nonblocking_poll_reports_server_close(aio_server):
    conn = _connected(aio_server)
    conn.send_request("GET", "/stale")
    assert _poll_until(conn, 1)[0].text() == "ok 1"
    conn.send_request("GET", "/stale")
    with pytest.raises(ConnectionClosed):
        for _ in range(200):
            if _poll_until(conn, 1, 0.05):
                break
    assert not conn.reusable
    conn.close()
