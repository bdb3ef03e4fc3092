"""BufferedStream: writes wait for flush (or capacity); reads pass through."""

from __future__ import annotations

import socket

import pytest

from boomnet.stream import BufferedStream, UnixStream

from .helpers import read_exactly


def pair(capacity: int = 64 * 1024) -> tuple[BufferedStream, socket.socket]:
    a, b = socket.socketpair()
    b.setblocking(False)
    return UnixStream.from_socket(a).into_buffered(capacity=capacity), b


def test_writes_wait_for_flush() -> None:
    s, peer = pair()
    s.write(b"one ")
    s.write(bytearray(b"two "))
    s.write(memoryview(b"three"))
    assert s.pending == 13
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing was sent before flush
    assert s.flush()
    assert s.pending == 0
    assert peer.recv(100) == b"one two three"
    s.close()
    peer.close()


def test_exceeding_capacity_hands_over() -> None:
    s, peer = pair(capacity=10)
    s.write(b"12345678")
    s.write(b"abcdef")  # would exceed 10: the first 8 go out, these 6 wait
    assert peer.recv(100) == b"12345678"
    assert s.pending == 6
    s.write(b"X" * 50)  # larger than capacity: buffered bytes then this, in order
    assert peer.recv(100) == b"abcdef" + b"X" * 50
    s.close()
    peer.close()


def test_reads_pass_through_and_close_flushes() -> None:
    s, peer = pair()
    peer.sendall(b"inbound")
    assert read_exactly(s, 7) == b"inbound"
    assert s.fileno() == s.inner.fileno()
    s.write(b"last words")
    s.close()
    peer.setblocking(True)
    assert peer.recv(100) == b"last words"
    peer.close()


def test_capacity_must_be_positive() -> None:
    a, b = socket.socketpair()
    with pytest.raises(ValueError):
        BufferedStream(UnixStream.from_socket(a), capacity=0)
    a.close()
    b.close()
