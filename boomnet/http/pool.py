"""Keep-alive connection pool keyed by (scheme, host, port, TLS settings).

Idle connections are reused most-recently-used first (the warmest socket; the oldest ones are
left to expire). Before one is handed out it must pass ``is_alive()`` -- a non-blocking read
that catches a server's close (EOF/RST) or unsolicited bytes -- and must not have idled longer
than ``idle_timeout``. ``max_per_key`` caps the connections open per key, idle and in use.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Hashable

from .connection import HttpConnection

__all__ = ["ConnectionPool"]

log = logging.getLogger(__name__)


class ConnectionPool:
    """Idle keep-alive connections per key. Not thread-safe (one owner, like the IOService)."""

    def __init__(
        self,
        max_per_key: int = 10,
        idle_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_per_key < 1:
            raise ValueError("max_per_key must be at least 1")
        self.max_per_key = max_per_key
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._idle: dict[Hashable, list[HttpConnection]] = {}
        self._open: dict[Hashable, int] = {}
        #: counters for tests and tuning
        self.reused = 0
        self.discarded_dead = 0
        self.discarded_expired = 0

    def acquire(self, key: Hashable) -> HttpConnection | None:
        """A live idle connection for ``key`` (now in use), or ``None``."""
        idle = self._idle.get(key)
        if not idle:
            return None
        now = self._clock()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since > self.idle_timeout:
                self.discarded_expired += 1
                self.discard(conn)
            elif not conn.is_alive():
                log.debug("pooled connection %r was closed by the server; discarding", conn)
                self.discarded_dead += 1
                self.discard(conn)
            else:
                self.reused += 1
                return conn
        return None

    def can_open(self, key: Hashable) -> bool:
        """``True`` if a new connection for ``key`` stays within ``max_per_key``."""
        return self._open.get(key, 0) < self.max_per_key

    def opened(self, conn: HttpConnection) -> None:
        """Count a freshly opened connection (in use) against its key."""
        self._open[conn.key] = self._open.get(conn.key, 0) + 1

    def release(self, conn: HttpConnection) -> None:
        """Give a connection back after its response: kept if idle and reusable, else closed."""
        if not conn.idle:
            self.discard(conn)
            return
        conn.idle_since = self._clock()
        self._idle.setdefault(conn.key, []).append(conn)

    def discard(self, conn: HttpConnection) -> None:
        """Close a connection (in use or idle) and stop counting it."""
        conn.close()
        key = conn.key
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)
        idle = self._idle.get(key)
        if idle and conn in idle:
            idle.remove(conn)

    def prune(self) -> int:
        """Close idle connections past ``idle_timeout``; return how many."""
        now = self._clock()
        closed = 0
        for key in list(self._idle):
            for conn in [c for c in self._idle[key] if now - c.idle_since > self.idle_timeout]:
                self.discarded_expired += 1
                self.discard(conn)
                closed += 1
            if not self._idle.get(key):
                self._idle.pop(key, None)
        return closed

    def idle_count(self, key: Hashable | None = None) -> int:
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(v) for v in self._idle.values())

    def open_count(self, key: Hashable) -> int:
        return self._open.get(key, 0)

    def close(self) -> None:
        """Close every idle connection (in-use ones are closed when discarded by their user)."""
        for key in list(self._idle):
            for conn in list(self._idle.get(key, ())):
                self.discard(conn)
        self._idle.clear()
