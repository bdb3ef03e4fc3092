"""The loopback Peer must not swallow its handler's failures (or the tests built on it prove less)."""

from __future__ import annotations

import socket

import pytest

from .helpers import Peer


def failing_handler(conn: socket.socket) -> None:
    conn.recv(1)
    raise RuntimeError("the peer saw something wrong")


def test_join_re_raises_the_handler_error() -> None:
    peer = Peer(failing_handler)
    c = socket.create_connection(("127.0.0.1", peer.port))
    c.sendall(b"x")
    with pytest.raises(AssertionError, match="the peer saw something wrong"):
        peer.join()
    c.close()


def test_leaving_the_with_block_re_raises_the_handler_error() -> None:
    with pytest.raises(AssertionError, match="the peer saw something wrong"), Peer(failing_handler) as peer:
        c = socket.create_connection(("127.0.0.1", peer.port))
        c.sendall(b"x")
        peer.thread.join(5)
        c.close()


def test_a_peer_nobody_connected_to_ends_quietly() -> None:
    with Peer(failing_handler):
        pass
