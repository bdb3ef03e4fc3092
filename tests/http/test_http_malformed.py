"""Malformed responses over a real socket: crafted bytes from a raw server must raise
HttpProtocolError (or a limit subclass) promptly, never hang and never poison the pool."""

from __future__ import annotations

import pytest

from boomnet.errors import (
    BodyTooLarge,
    ConnectionClosed,
    DeadlineExceeded,
    HeaderTooLarge,
    HttpProtocolError,
)
from boomnet.http import HttpClient, HttpLimits

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

CASES = {
    "bad-status-line": b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n",
    "not-http": b"220 smtp.example ESMTP ready\r\n\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
    "chunk-missing-crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloworld",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\tcontinued\r\nContent-Length: 0\r\n\r\n",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n",
    "bare-lf-smuggling": b"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n",
    "differing-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\nok",
    "length-and-chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
    "non-digit-length": b"HTTP/1.1 200 OK\r\nContent-Length: 2a\r\n\r\nok",
    "unknown-coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\nok",
    "space-in-name": b"HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nok",
    "unsolicited-101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
}


@pytest.fixture
def client():
    with HttpClient(request_timeout=5) as c:
        yield c


@pytest.mark.parametrize("keep_open", [False, True], ids=["then-close", "kept-open"])
@pytest.mark.parametrize("name", list(CASES))
def test_malformed_response(client, raw_server, name, keep_open):
    url = raw_server.route(f"/{name}-{keep_open}", CASES[name], close=not keep_open)
    with pytest.raises(HttpProtocolError):
        client.get(url)
    assert client.pool.idle() == 0 and client.pool.in_use() == 0  # discarded, not pooled


def test_truncated_body_then_close(client, raw_server):
    url = raw_server.route("/truncated", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close=True)
    with pytest.raises(HttpProtocolError, match="closed"):
        client.get(url)


def test_truncated_chunked_then_close(client, raw_server):
    url = raw_server.route("/truncated-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", close=True)
    with pytest.raises(HttpProtocolError, match="closed"):
        client.get(url)


def test_truncated_body_kept_open_hits_the_deadline(raw_server):
    url = raw_server.route("/stall", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close=False)
    with HttpClient() as c, pytest.raises(DeadlineExceeded):
        c.get(url, timeout=0.2)


def test_closed_without_any_response(client, raw_server):
    url = raw_server.route("/nothing", b"", close=True)
    with pytest.raises(ConnectionClosed):  # a fresh connection: nothing to retry
        client.get(url)


def test_header_block_limit_over_socket(client, raw_server):
    url = raw_server.route("/huge-head", b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", close=False)
    with pytest.raises(HeaderTooLarge):
        client.get(url)
    many = b"".join(b"X-%d: v\r\n" % i for i in range(150))
    url = raw_server.route("/many-headers", b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 0\r\n\r\n", close=False)
    with pytest.raises(HeaderTooLarge):
        client.get(url)


def test_body_limit_over_socket(raw_server):
    url = raw_server.route("/endless", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 50_000, close=False)
    with HttpClient(limits=HttpLimits(max_body_size=10_000), request_timeout=5) as c, pytest.raises(BodyTooLarge):
        c.get(url)


def test_good_response_after_malformed_uses_a_new_connection(client, raw_server):
    bad = raw_server.route("/bad-then", CASES["bad-chunk-size"], close=False)
    good = raw_server.route("/good", OK, close=False)
    with pytest.raises(HttpProtocolError):
        client.get(bad)
    assert client.get(good).body == b"ok"
    assert client.connections_opened == 2
