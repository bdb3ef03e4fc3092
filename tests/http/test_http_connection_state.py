"""HttpConnection exposes what a readiness selector checks: pending output and closed."""

from __future__ import annotations

import socket

from boomnet.http.connection import HttpConnection
from boomnet.stream import TcpStream


def test_pending_and_closed_follow_the_stream() -> None:
    a, b = socket.socketpair()
    try:
        conn = HttpConnection(TcpStream.from_socket(a), "example.test")
        assert conn.pending == 0 and conn.closed is False
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        conn.send_request("POST", "/big", body=b"x" * 1_000_000)  # the peer reads nothing
        assert conn.pending > 0  # what the kernel refused waits, in order
        conn.close()
        assert conn.closed is True
    finally:
        b.close()
