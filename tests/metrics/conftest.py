"""A loopback TCP peer driven from the test thread (no boomnet code), and a polling helper."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from boomnet.service import Endpoint, IOService


class Peer:
    """A listener; ``accept_pending()`` takes queued connections, ``send``/``close_all`` act on them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []

    def accept_pending(self) -> int:
        while True:
            try:
                c, _ = self.listener.accept()
            except BlockingIOError:
                return len(self.conns)
            self.conns.append(c)

    def send(self, data: bytes) -> None:
        for c in self.conns:
            c.sendall(data)

    def close_all(self) -> None:
        for c in self.conns:
            c.close()
        self.conns.clear()

    def close(self) -> None:
        self.close_all()
        self.listener.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


class Reader(Endpoint[Any, Any]):
    """Reads what the peer sends; ``delay`` seconds of work per poll that found data (a slow handler)."""

    def __init__(self, port: int, **options: Any) -> None:
        super().__init__("127.0.0.1", port, **options)
        self.buf = bytearray(65536)
        self.data = bytearray()
        self.delay = 0.0
        self.fail: Exception | None = None

    def poll(self, stream: Any, ctx: Any) -> None:
        n = stream.recv_into(self.buf)
        if n:
            self.data += self.buf[:n]
            if self.delay:
                end = time.perf_counter() + self.delay
                while time.perf_counter() < end:  # busy work, like a handler that computes too long
                    pass
        if self.fail is not None:
            exc, self.fail = self.fail, None
            raise exc

    def on_disconnect(self, reason: Any, ctx: Any) -> bool:
        return True


def poll_until(io: IOService[Any], pred: Callable[[], bool], peer: Peer | None = None,
               timeout: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    n = 0
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        io.poll()
        if peer is not None:
            peer.accept_pending()
        n += 1
        if n % 8 == 0:
            time.sleep(0.0002)
