"""HttpConnection over a scripted stream: what is finished is delivered before a failure, a TLS
cut without close_notify never completes an EOF-delimited body, the 100-continue wait ends.

The scripted stream plays the transport exactly as the stream layer's contract says: ``recv_into``
returns what is available (0 = nothing now) and raises ``ConnectionClosed`` -- or its
``TruncatedStream`` subclass for a TLS EOF without close_notify -- at the end.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from boomnet.errors import ConnectionClosed, HttpProtocolError, TruncatedStream
from boomnet.http import HttpConnection, HttpEndpoint
from boomnet.service import IOService
from boomnet.stream.base import Stream

BIG = bytes(range(256)) * 400  # 100 KiB: read straight into its own buffer, across reads


class ScriptedStream(Stream):
    def __init__(self, chunks: list[bytes], end: BaseException | None = None) -> None:
        self.chunks = list(chunks)
        self.end = end
        self.written = bytearray()
        self.is_closed = False

    def recv_into(self, buf) -> int:
        if not self.chunks:
            if self.end is None:
                return 0
            raise self.end
        chunk = self.chunks.pop(0)
        n = min(len(chunk), len(buf))
        buf[:n] = chunk[:n]
        if n < len(chunk):
            self.chunks.insert(0, chunk[n:])
        return n

    def write(self, data) -> None:
        self.written += data

    def flush(self) -> bool:
        return True

    def close(self) -> None:
        self.is_closed = True

    @property
    def closed(self) -> bool:
        return self.is_closed


def conn_over(chunks: list[bytes], end: BaseException | None = None, requests: int = 1, **options) -> HttpConnection:
    conn = HttpConnection(ScriptedStream(chunks, end), "example.test", pipelining=True, **options)
    for _ in range(requests):
        conn.send_request("GET", "/")
    return conn


def poll_all(conn: HttpConnection, rounds: int = 10) -> list:
    """Poll a bounded number of times (the script is short), collecting responses."""
    out = []
    for _ in range(rounds):
        out += conn.poll()
    return out


# --- responses finished before EOF or an error are delivered first --------------------------------


def test_response_then_eof_in_one_poll_is_delivered_then_the_close_is_reported():
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG
    conn = conn_over([big], ConnectionClosed("peer closed"), requests=2)
    (resp,) = conn.poll()  # the whole response, then EOF within the same poll
    assert resp.body == BIG
    with pytest.raises(ConnectionClosed, match="1 request"):
        conn.poll()
    assert not conn.reusable


def test_responses_then_malformed_in_one_read_are_delivered_then_the_error():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    conn = conn_over([ok + ok + b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"], requests=3)
    assert [r.body for r in conn.poll()] == [b"ok", b"ok"]
    assert conn.read_hint() > 0  # a selector polls it again, so the error is not left lying
    with pytest.raises(HttpProtocolError, match="Content-Length"):
        conn.poll()
    assert not conn.reusable


def test_big_response_then_malformed_across_reads_of_one_poll():
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG
    conn = conn_over([big, b"HTTP/1.1 2xx OK\r\n\r\n"], requests=2)
    (resp,) = conn.poll()
    assert resp.body == BIG
    with pytest.raises(HttpProtocolError):
        conn.poll()


# --- TLS EOF without close_notify ----------------------------------------------------------------


def test_eof_delimited_body_cut_without_close_notify_is_refused():
    conn = conn_over([b"HTTP/1.1 200 OK\r\n\r\nbody that may be cut"], TruncatedStream("no close_notify"))
    with pytest.raises(HttpProtocolError, match="close_notify") as info:
        poll_all(conn)
    assert isinstance(info.value.__cause__, TruncatedStream)


def test_eof_delimited_body_with_clean_close_is_complete():
    conn = conn_over([b"HTTP/1.1 200 OK\r\n\r\nwhole body"], ConnectionClosed("close_notify, then EOF"))
    (resp,) = poll_all(conn)
    assert resp.body == b"whole body" and not resp.keep_alive


def test_framed_body_complete_before_a_truncated_eof_is_accepted():
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    conn = conn_over([data], TruncatedStream("no close_notify"))
    (resp,) = poll_all(conn)
    assert resp.body == b"hello"


def test_framed_body_incomplete_at_a_truncated_eof_is_an_error():
    conn = conn_over([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"], TruncatedStream("cut"))
    with pytest.raises(HttpProtocolError, match="closed before"):
        poll_all(conn)


def test_responses_before_a_truncated_eof_body_are_delivered():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    conn = conn_over([ok + b"HTTP/1.1 200 OK\r\n\r\npartial"], TruncatedStream("cut"), requests=2)
    assert [r.body for r in conn.poll()] == [b"ok"]
    with pytest.raises(HttpProtocolError, match="close_notify"):
        conn.poll()


# --- Expect: 100-continue: the body goes out after the wait, also without a 100 ------------------


def test_connection_sends_held_body_after_the_timeout():
    stream = ScriptedStream([])
    conn = HttpConnection(stream, "h", expect_continue_timeout=0.5)
    before = time.monotonic()
    conn.send_request("POST", "/", {"Expect": "100-continue"}, b"payload")
    assert conn.waiting_for_continue and not stream.written.endswith(b"payload")
    deadline = conn.continue_deadline
    assert before + 0.5 <= deadline <= time.monotonic() + 0.5
    assert conn.check_continue(deadline - 0.01) is False
    assert conn.check_continue(deadline) is True and stream.written.endswith(b"\r\n\r\npayload")
    assert not conn.waiting_for_continue and conn.continue_deadline == 0.0


class SilentOnExpectServer:
    """Reads a request head; never answers 100; answers 200 with the body it got once it has it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.got_body_at: float | None = None
        self.head_at: float | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            self.head_at = time.monotonic()
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0].split(b":")[1])
            while len(body) < length:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                body += chunk
            self.got_body_at = time.monotonic()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            conn.recv(1)  # until the client closes

    def stop(self) -> None:
        self.thread.join(5)
        self.sock.close()


def test_endpoint_sends_the_body_when_the_server_never_answers_100():
    server = SilentOnExpectServer()
    io = IOService()
    try:
        ep = HttpEndpoint(f"http://127.0.0.1:{server.port}", expect_continue_timeout=0.2, check_interval=0.02)
        io.register(ep)
        req = ep.post("/upload", b"the body", {"Expect": "100-continue"})
        deadline = time.monotonic() + 5
        while not req.done and time.monotonic() < deadline:
            io.poll()
            time.sleep(0.001)
        assert req.response is not None and req.response.body == b"the body"
        assert server.head_at is not None and server.got_body_at is not None
        assert server.got_body_at - server.head_at >= 0.15  # held back, then sent without a 100
    finally:
        io.close()
        server.stop()
