"""Running the loop: ``IOService.run`` in this thread, ``IOService.run_in_thread`` beside other code.

    io.run(ctx, idle=0.001, until=lambda: ctx.done)          # this thread
    loop = io.run_in_thread(ctx, cpu=3, idle=None)           # busy-poll pinned to core 3
    loop.call_soon(endpoint.subscribe, "ethusdt@trade")      # hand work to the loop thread
    loop.stop(); loop.join()

``idle``: ``None`` busy-polls (the lowest latency, one core at 100%: pin it with ``cpu=``);
a number sleeps up to that many seconds in :meth:`IOService.wait` whenever nothing can be done —
the right choice next to other work (an asyncio server, a GUI) or on a shared machine. The
default of :meth:`run_in_thread` is ``idle=0.001``: measured next to an aiohttp server, a busy
thread raised the server's p99 several-fold while ``poll()+wait(1 ms)`` left it unchanged (see the
README's "Beside asyncio" table).

``until`` is checked every ``check_every`` polls (a cheap callable; default 256 polls), and
``stop()`` from any thread ends the loop after its current poll (the waker interrupts a sleep).
``cpu`` pins the loop thread with ``os.sched_setaffinity`` (Linux); a refused pin is a clear
:class:`~boomnet.errors.LocalError` at start, never a silent unpinned loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import LocalError

if TYPE_CHECKING:  # pragma: no cover
    from .io_service import IOService

__all__ = ["LoopThread", "run", "run_in_thread"]

log = logging.getLogger("boomnet.service")

C = TypeVar("C")


def _pin(cpu: int) -> None:
    try:
        os.sched_setaffinity(threading.get_native_id(), {cpu})
    except (OSError, AttributeError) as exc:
        raise LocalError(f"cannot pin the loop thread to cpu {cpu}: {exc}") from exc


def run(io: IOService[C], ctx: C | None = None, *, idle: float | None = None,
        until: Callable[[], bool] | None = None, duration: float | None = None,
        stop: threading.Event | None = None, check_every: int = 256) -> int:
    """Poll until ``until()`` is true, ``duration`` s passed or ``stop`` is set; returns polls."""
    if idle is not None and idle <= 0:
        raise LocalError("idle must be positive (seconds to sleep when nothing is ready) or None")
    if check_every < 1:
        raise LocalError("check_every must be >= 1")
    end = None if duration is None else time.monotonic() + duration
    poll, wait = io.poll, io.wait
    polls = 0
    while True:
        for _ in range(check_every):
            poll(ctx)
            if idle is not None:
                wait(idle)
        polls += check_every
        if (until is not None and until()) or (stop is not None and stop.is_set()) or \
                (end is not None and time.monotonic() >= end):
            return polls


class LoopThread(Generic[C]):
    """The thread :func:`run_in_thread` started. ``error`` holds what ended it, if anything."""

    def __init__(self, io: IOService[C], ctx: C | None, *, cpu: int | None, idle: float | None, name: str) -> None:
        self.io = io
        self.ctx = ctx
        self.cpu = cpu
        self.idle = idle
        self._stop = threading.Event()
        self._started = threading.Event()
        self.error: BaseException | None = None
        self.polls = 0
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        try:
            if self.cpu is not None:
                _pin(self.cpu)
        except BaseException as exc:
            self.error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self.polls = run(self.io, self.ctx, idle=self.idle, stop=self._stop, check_every=64)
        except BaseException as exc:  # the loop died: keep why, for join() to raise
            self.error = exc
            log.error("IOService loop thread %s stopped by %s", self.thread.name, type(exc).__name__, exc_info=exc)

    def start(self) -> LoopThread[C]:
        self.thread.start()
        self._started.wait(10)
        if self.error is not None:
            self.thread.join(5)
            raise self.error
        return self

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread at its next poll (thread-safe; wakes a sleep)."""
        self.io.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        """Ask the loop to end after its current poll (returns at once; see :meth:`join`)."""
        self._stop.set()
        self.io.call_soon_threadsafe(lambda: None)  # interrupt a wait()

    def join(self, timeout: float | None = 10.0) -> None:
        """Wait for the thread; re-raise what stopped it, if it died."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"loop thread {self.thread.name} did not stop within {timeout}s")
        if self.error is not None:
            raise self.error

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def __enter__(self) -> LoopThread[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()


def run_in_thread(io: IOService[C], ctx: C | None = None, *, cpu: int | None = None, idle: float | None = 0.001,
                  name: str = "boomnet-io") -> LoopThread[C]:
    """Start the loop on a thread of its own (see the module doc); returns it started."""
    if idle is not None and idle <= 0:
        raise LocalError("idle must be positive or None (busy-poll)")
    return LoopThread(io, ctx, cpu=cpu, idle=idle, name=name).start()
