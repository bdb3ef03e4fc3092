"""What the service needs from a name resolver, and the pool that runs ``Endpoint.prepare()``.

The service resolves names off the loop thread through anything satisfying :class:`Resolver`
(default: :class:`boomnet.stream.dns.AsyncResolver`); it polls the :class:`Lookup` it gets back
once per housekeeping pass and never blocks on it. :class:`Preparer` runs endpoints' cold
``prepare()`` work (building TLS contexts, loading keys) on a small thread pool, beside DNS, so
it never stalls the loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

__all__ = ["Address", "Lookup", "Resolver", "Preparer"]

log = logging.getLogger("boomnet.service")

#: a resolved address: ``(family, sockaddr)``, as ``socket.socket(family).connect(sockaddr)``
#: takes it. ``sockaddr`` is ``(host, port)``, ``(host, port, flowinfo, scope_id)`` or a path:
#: its shape depends on the family, hence ``Any`` (the one the socket module itself uses).
Address = tuple[int, Any]


class Lookup(Protocol):
    """One name resolution in progress."""

    def done(self) -> bool:
        """``True`` once :meth:`result` returns or raises without waiting."""
        ...

    def result(self) -> list[Address]:
        """The addresses, best first; raises :class:`~boomnet.errors.DnsError` on failure."""
        ...


class Resolver(Protocol):
    """Starts lookups without blocking."""

    def start(self, host: str, port: int, *, timeout: float = ...) -> Lookup: ...


class Preparer:
    """Runs ``prepare()`` callables on at most ``workers`` daemon threads, started on first use.

    One slow ``prepare()`` takes one worker; the service submits at most one per endpoint at a
    time (a retry reuses the attempt still running), so the queue is bounded by the endpoints.
    Daemon threads (not ``concurrent.futures``' pool): a ``prepare()`` stuck in a network call
    must not keep the process from exiting.
    """

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._queue: queue.SimpleQueue[tuple[Future[None], Callable[[], None]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            self._queue.put((future, fn))
            if len(self._threads) < self._workers:  # at most ``workers``, then they stay
                thread = threading.Thread(target=self._run, name="boomnet-prepare", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if future.set_running_or_notify_cancel():
                try:
                    fn()
                except BaseException as exc:  # handed to the loop thread, which reports it
                    future.set_exception(exc)
                else:
                    future.set_result(None)

    def close(self) -> None:
        """Stop the threads: queued work is cancelled, running work finishes on its own."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads, self._threads = self._threads, []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in threads:
            self._queue.put(None)
