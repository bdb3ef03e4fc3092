"""Loopback peers for the stream tests: real sockets, real TLS, threads with bounded lifetimes."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable

from boomnet.errors import ConnectionClosed
from boomnet.stream import Stream

DEADLINE = 5.0


def wait_established(stream: Stream, timeout: float = DEADLINE) -> None:
    """Call ``establish`` until it succeeds (bounded); errors propagate."""
    end = time.monotonic() + timeout
    while not stream.establish():
        if time.monotonic() > end:
            raise AssertionError("establish did not complete in time")
        time.sleep(0.0005)


def read_exactly(stream: Stream, n: int, timeout: float = DEADLINE, chunk: int = 65536) -> bytes:
    """Read ``n`` bytes by busy-polling (with a tiny sleep) until a deadline."""
    out = bytearray()
    buf = bytearray(chunk)
    end = time.monotonic() + timeout
    while len(out) < n:
        got = stream.recv_into(memoryview(buf)[: min(chunk, n - len(out))])
        if got:
            out += buf[:got]
        else:
            if time.monotonic() > end:
                raise AssertionError(f"read {len(out)} of {n} bytes before the deadline")
            time.sleep(0.0002)
    return bytes(out)


def read_to_end(stream: Stream, size: int = 256 * 1024, timeout: float = 10.0) -> tuple[bytes, ConnectionClosed]:
    """Everything until the stream ends, and how it ended: reads of ``size`` bytes busy-polled
    (with a tiny sleep) until the end is raised or the deadline passes (an AssertionError)."""
    out = bytearray()
    view = memoryview(bytearray(size))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            n = stream.recv_into(view)
        except ConnectionClosed as e:
            return bytes(out), e
        out += view[:n]
        if not n:
            time.sleep(0.0002)
    raise AssertionError(f"no end of stream after {len(out)} bytes: the close was not seen")


def flush_all(stream: Stream, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not stream.flush():
        if time.monotonic() > end:
            raise AssertionError("flush did not complete in time")
        time.sleep(0.0005)


class Peer:
    """A listening socket whose one accepted connection is handed to ``handler`` in a thread.

    An exception in ``handler`` (or in accept) is re-raised by :meth:`join` and when the ``with``
    block ends, so a peer that failed cannot pass unnoticed. A TLS handshake the client refused is
    expected in some tests: it is kept in ``handshake_error`` and not raised.
    """

    def __init__(
        self,
        handler: Callable[[socket.socket], None],
        *,
        family: int = socket.AF_INET,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        path: str | None = None,
    ):
        self.error: BaseException | None = None
        self.handshake_error: BaseException | None = None
        self._closing = False
        self._handler = handler
        self._ssl_context = ssl_context
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.listener.bind(path)
            self.address = path
        else:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((host, 0))
            self.address = self.listener.getsockname()[:2]
        self.port = self.address[1] if family != socket.AF_UNIX else 0
        self.listener.listen(4)
        self.listener.settimeout(DEADLINE)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                if self._closing:
                    return  # the test ended without needing the connection
                raise
            conn.settimeout(DEADLINE)
            if self._ssl_context is not None:
                try:
                    conn = self._ssl_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:  # client rejected us: expected in some tests
                    self.handshake_error = e
                    conn.close()
                    return
            with conn:
                self._handler(conn)
        except BaseException as e:  # surfaced by join()
            self.error = e

    def join(self, timeout: float = DEADLINE) -> None:
        """Wait for the handler; re-raise what it raised."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "peer thread did not finish"
        self._closing = True
        self.listener.close()
        self._raise()

    def _raise(self) -> None:
        error, self.error = self.error, None  # raised once
        if error is not None:
            raise AssertionError(f"the peer's handler failed: {error!r}") from error

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._closing = True
        self.listener.close()
        self.thread.join(DEADLINE)
        if exc_type is None:  # never hide the test's own failure behind the peer's
            self._raise()


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = conn.recv(min(1 << 20, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def open_descriptors() -> list[str]:
    """What each descriptor of this process is open on (``/proc/self/fd`` link targets: a path,
    or ``socket:[inode]``); one that closes while being listed is skipped."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:  # closed since listed (the listing's own descriptor, at least)
            continue
    return out
