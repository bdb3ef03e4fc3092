"""Thread-safe calls into the loop: a queue of callbacks plus a descriptor that wakes ``wait()``.

``Waker`` is registered with the service's selector like any endpoint's record: its ``target``
is itself (``fileno()`` = an eventfd, or one end of a socketpair where eventfd is missing) and its
``poll`` runs the queued callbacks. So the hot loop pays nothing for it (readiness selectors
return it only after ``call_soon_threadsafe``), and a ``wait()`` sleeping in the kernel returns
the moment another thread queues a call. (With ``DirectSelector``, which would visit it on every
poll, the service runs it from housekeeping instead and passes its descriptor to ``wait()``.)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Waker"]

log = logging.getLogger("boomnet.service")


class Waker:
    """Callbacks queued from any thread, run on the loop thread by :meth:`poll`."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        #: calls are queued (read without the lock: a stale answer only delays them a poll)
        self.signalled = False
        self._on_error = on_error
        self._rsock: socket.socket | None = None
        self._wsock: socket.socket | None = None
        self._efd = -1
        if hasattr(os, "eventfd"):
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._fd = self._efd
        else:  # pragma: no cover - non-Linux
            self._rsock, self._wsock = socket.socketpair()
            self._rsock.setblocking(False)
            self._wsock.setblocking(False)
            self._fd = self._rsock.fileno()

    @property
    def target(self) -> Waker:
        return self  # the selector's token is its own target

    def fileno(self) -> int:
        return self._fd

    def read_hint(self) -> int:
        return 0

    # --- any thread -------------------------------------------------------------------------------

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        self._calls.append((fn, args))  # deque.append is atomic
        with self._lock:
            if self.signalled or self._fd < 0:
                return
            self.signalled = True
        self._signal()

    def _signal(self) -> None:
        try:
            if self._efd >= 0:
                os.eventfd_write(self._efd, 1)
            elif self._wsock is not None:  # pragma: no cover - non-Linux
                self._wsock.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the counter is saturated or the waker closed: the loop has a wake-up already

    # --- loop thread ------------------------------------------------------------------------------

    def poll(self, target: object, ctx: object) -> None:
        """Run every queued call (those queued while running wait for the next poll)."""
        if not self.signalled:
            return  # DirectSelector visits us every poll: make that cheap
        calls = self._calls
        with self._lock:
            self.signalled = False
        self._drain()
        for _ in range(len(calls)):
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception as exc:
                self._on_error(exc)

    def _drain(self) -> None:
        try:
            if self._efd >= 0:
                os.eventfd_read(self._efd)
            elif self._rsock is not None:  # pragma: no cover - non-Linux
                self._rsock.recv(4096)
        except (BlockingIOError, OSError):
            pass

    def pending(self) -> int:
        return len(self._calls)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if self._efd >= 0:
            self._efd = -1
            os.close(fd)
        for sock in (self._rsock, self._wsock):
            if sock is not None:
                sock.close()

    def __repr__(self) -> str:
        return f"<Waker pending={len(self._calls)}>"
