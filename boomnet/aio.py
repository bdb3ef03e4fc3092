"""boomnet beside asyncio: the IOService on its own thread, results delivered to the event loop.

    async with AsyncBridge(io, ctx) as bridge:                       # starts io.run_in_thread()
        quote = await bridge.complete(lambda done: rpc.call("quote", b"BTC", callback=done))
        async for trade in bridge.feed(feed_endpoint.add_listener):  # records as they arrive
            ...

The loop thread runs ``poll()`` + ``wait(idle)`` (1 ms by default): it spins while data flows and
sleeps in the kernel when idle, so it shares the machine with the asyncio server instead of
taking a core from it (measured: see the README's "Beside asyncio"). Pass ``idle=None`` and
``cpu=`` to busy-poll on a core of its own.

Everything crosses threads in one direction each way:

* asyncio -> loop: :meth:`AsyncBridge.call` runs a function on the loop thread (through
  ``IOService.call_soon_threadsafe``, which wakes a sleeping loop at once) and returns its
  result as an awaitable.
* loop -> asyncio: callbacks made by :meth:`complete` and queues made by :meth:`feed` are
  resolved with ``loop.call_soon_threadsafe``. A feed batches: items handed over during one
  poll go to asyncio in one call. A feed's queue is bounded (``maxsize``): when the asyncio side
  falls behind, the oldest items are dropped and counted (``feed.dropped``) — the loop thread
  never blocks on asyncio.

Why a thread and not ``loop.add_reader`` on the selector's fd: TLS streams and replays hold
data no descriptor announces, and the service's timers and reconnects need a clock that runs
even when no fd is ready; a thread with ``wait()`` covers all of them with no change to the
endpoints. The cost is one thread hop per hand-over, measured in the README.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from .errors import LocalError
from .service import IOService
from .service.runner import LoopThread

__all__ = ["AsyncBridge", "Feed"]

T = TypeVar("T")
C = TypeVar("C")


class Feed(Generic[T]):
    """Items pushed from the loop thread (``feed.push``), consumed with ``async for``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        if maxsize < 1:
            raise LocalError("a feed needs maxsize >= 1")
        self._loop = loop
        self._items: collections.deque[T] = collections.deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._scheduled = False
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def push(self, item: T) -> None:
        """Hand ``item`` to asyncio (called on the loop thread; never blocks)."""
        with self._lock:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            if self._scheduled:
                return  # one hand-over per batch: the callback already queued will see it
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._scheduled = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self._loop.call_soon_threadsafe(self._wake)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            with self._lock:
                batch = list(self._items)
                self._items.clear()
            for item in batch:
                self.delivered += 1
                yield item
            if not batch:
                if self.closed:
                    return
                self._waiter = self._loop.create_future()
                with self._lock:
                    ready = bool(self._items)
                if not ready:
                    await self._waiter
                self._waiter = None


class AsyncBridge(Generic[C]):
    """Runs ``io`` on a loop thread for the lifetime of the ``async with`` block."""

    def __init__(self, io: IOService[C], ctx: C | None = None, *, idle: float | None = 0.001,
                 cpu: int | None = None) -> None:
        self.io = io
        self.ctx = ctx
        self.idle = idle
        self.cpu = cpu
        self.loop_thread: LoopThread[C] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> AsyncBridge[C]:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.loop_thread = self.io.run_in_thread(self.ctx, cpu=self.cpu, idle=self.idle)

    async def stop(self) -> None:
        thread = self.loop_thread
        if thread is not None:
            thread.stop()
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
            self.loop_thread = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise LocalError("the bridge is not started (use 'async with AsyncBridge(...)')")
        return self._loop

    def call(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the loop thread; await its result (or its exception)."""
        loop = self.loop
        fut: asyncio.Future[T] = loop.create_future()

        def run() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:
                loop.call_soon_threadsafe(_set_exception, fut, exc)
            else:
                loop.call_soon_threadsafe(_set_result, fut, result)

        self.io.call_soon_threadsafe(run)
        return fut

    def complete(self, start: Callable[[Callable[[T], object]], object]) -> asyncio.Future[T]:
        """Start an operation on the loop thread that reports through a callback, and await
        what the callback receives: ``await bridge.complete(lambda done: ep.call("m", b"", callback=done))``.
        ``start`` runs on the loop thread; ``done`` may be called from it once."""
        loop = self.loop
        fut: asyncio.Future[T] = loop.create_future()

        def done(value: T) -> None:
            loop.call_soon_threadsafe(_set_result, fut, value)

        def run() -> None:
            try:
                start(done)
            except BaseException as exc:
                loop.call_soon_threadsafe(_set_exception, fut, exc)

        self.io.call_soon_threadsafe(run)
        return fut

    def feed(self, attach: Callable[[Callable[[Any], None]], object] | None = None, *, maxsize: int = 100_000) -> Feed[Any]:
        """A :class:`Feed` whose ``push`` the loop thread calls. ``attach(push)``, if given, runs on
        the loop thread to connect it (e.g. an endpoint's listener hook)."""
        feed: Feed[Any] = Feed(self.loop, maxsize)
        if attach is not None:
            self.io.call_soon_threadsafe(attach, feed.push)
        return feed


def _set_result(fut: asyncio.Future[T], value: T) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
