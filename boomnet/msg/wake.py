"""Waking the loop thread from other threads: run a callback on the loop at its next poll.

:func:`loop_caller` returns a thread-safe ``call(fn)`` for the IOService an endpoint is
registered with: ``endpoint.control.call_soon_threadsafe`` when the control offers it (asked of
the service helper), else a :class:`WakerEndpoint` registered through the control — an eventfd
the selector watches, so a loop sleeping in ``IOService.wait()`` returns at once and runs the
queued callbacks (no polling of a queue on every loop iteration).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from ..errors import InvalidState
from ..service.endpoint import Endpoint
from ..service.resolver import Address

__all__ = ["WakerEndpoint", "Wakeup", "loop_caller"]

log = logging.getLogger("boomnet.msg")

Caller = Callable[[Callable[[], object]], None]


class Wakeup:
    """The target of a :class:`WakerEndpoint`: an eventfd plus a queue of callbacks."""

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.calls: deque[Callable[[], object]] = deque()

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.calls.append(fn)  # atomic; the write below makes the descriptor readable
        fd = self._fd
        if fd >= 0:
            try:
                os.eventfd_write(fd, 1)
            except OSError:  # closed concurrently: the loop is shutting down
                pass

    def run(self) -> None:
        fd = self._fd
        try:
            os.eventfd_read(fd)
        except (BlockingIOError, OSError):
            pass
        calls = self.calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("callback %r from another thread raised", fn)

    def establish(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def read_hint(self) -> int:
        return len(self.calls)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class WakerEndpoint(Endpoint[Wakeup, Any]):
    """Runs callbacks queued from other threads on the loop thread (fallback for services
    without ``call_soon_threadsafe``)."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self.wakeup = Wakeup()

    def create_target(self, addr: Address | None, ctx: Any) -> Wakeup:
        return self.wakeup

    def poll(self, target: Wakeup, ctx: Any) -> None:
        target.run()

    def on_disconnect(self, reason: Any, ctx: Any) -> bool:
        return False

    def describe(self) -> str:
        return "waker"


_wakers: WeakKeyDictionary[Endpoint[Any, Any], WakerEndpoint] = WeakKeyDictionary()


def register_with(endpoint: Endpoint[Any, Any], other: Endpoint[Any, Any]) -> Any:
    """Register ``other`` with the service ``endpoint`` belongs to (``endpoint.control.register``)."""
    control = endpoint.control
    if control is None:
        raise InvalidState(f"{endpoint!r} is not registered with an IOService")
    return control.register(other)


def loop_caller(endpoint: Endpoint[Any, Any]) -> Caller:
    """A thread-safe ``call(fn)`` running ``fn()`` on the loop thread of ``endpoint``'s service:
    the control's ``call_soon_threadsafe`` when the service offers it there, else a
    :class:`WakerEndpoint` registered next to ``endpoint`` (one per endpoint, or per listener
    for accepted connections, kept across reconnects)."""
    control = endpoint.control
    if control is None:
        raise InvalidState(f"{endpoint!r} is not registered with an IOService")
    native = getattr(control, "call_soon_threadsafe", None)
    if native is not None:
        return lambda fn: native(fn)
    root: Endpoint[Any, Any] = getattr(endpoint, "listener", None) or endpoint
    waker = _wakers.get(root)
    if waker is None or waker.control is None:
        waker = _wakers[root] = WakerEndpoint()
        control.register(waker)
    return waker.wakeup.call_soon
