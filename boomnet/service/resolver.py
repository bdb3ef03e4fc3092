"""What the service needs from a name resolver, and the pool that runs ``Endpoint.prepare()``.

The service resolves names off the loop thread through anything satisfying :class:`Resolver`
(default: :class:`boomnet.stream.dns.AsyncResolver`); it polls the :class:`Lookup` it gets back
once per housekeeping pass and never blocks on it. :class:`Preparer` runs endpoints' cold
``prepare()`` work (building TLS contexts, loading keys) on a small thread pool, beside DNS, so
it never stalls the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Runs ``prepare()`` callables on at most ``workers`` threads, started on first use.

    One slow ``prepare()`` takes one worker; the service submits at most one per endpoint at a
    time (a retry reuses the attempt still running), so the queue is bounded by the endpoints.
    """

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="boomnet-prepare")
            return self._pool.submit(fn)

    def close(self) -> None:
        """Stop the threads: queued work is cancelled, running work finishes on its own."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
