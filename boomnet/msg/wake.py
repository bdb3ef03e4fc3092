"""Waking the loop thread from other threads: run a callback on the loop at its next poll.

:func:`loop_caller` returns a thread-safe ``call(fn)`` for the IOService an endpoint is
registered with: the service's own ``call_soon_threadsafe`` when it has one, else a
:class:`WakerEndpoint` registered once per service — an eventfd the selector watches, so a
loop sleeping in ``IOService.wait()`` returns at once and runs the queued callbacks (no polling
of a queue on every loop iteration).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from ..service.endpoint import Address, Endpoint

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


class WakerEndpoint(Endpoint):
    """Runs callbacks queued from other threads on the loop thread (fallback for services
    without ``call_soon_threadsafe``)."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self.wakeup = Wakeup()

    def create_target(self, addr: Address | None, ctx: Any) -> Any:
        return self.wakeup

    def poll(self, target: Any, ctx: Any) -> None:
        target.run()

    def on_disconnect(self, reason: Any, ctx: Any) -> bool:
        return False

    def describe(self) -> str:
        return "waker"


_wakers: WeakKeyDictionary[Any, WakerEndpoint] = WeakKeyDictionary()


def service_of(endpoint: Endpoint) -> Any:
    """The IOService ``endpoint`` is registered with (public ``control`` when the service has it)."""
    control = getattr(endpoint, "control", None)
    service = getattr(control, "service", None) if control is not None else None
    if service is None:
        conn = getattr(endpoint, "_conn", None)
        service = getattr(conn, "service", None)
    if service is None:
        raise RuntimeError(f"{endpoint!r} is not registered with an IOService")
    return service


def register_with(endpoint: Endpoint, other: Endpoint) -> Any:
    """Register ``other`` with the service ``endpoint`` belongs to (``endpoint.control.register``
    once the service offers it)."""
    control = getattr(endpoint, "control", None)
    if control is not None and hasattr(control, "register"):
        return control.register(other)
    return service_of(endpoint).register(other)


def loop_caller(endpoint: Endpoint) -> Caller:
    """A thread-safe ``call(fn)`` running ``fn()`` on the loop thread of ``endpoint``'s service."""
    service = service_of(endpoint)
    native = getattr(service, "call_soon_threadsafe", None)
    if native is not None:
        return lambda fn: native(fn)
    waker = _wakers.get(service)
    if waker is None:
        waker = _wakers[service] = WakerEndpoint()
        service.register(waker)
    return waker.wakeup.call_soon
