"""One generic connection pool for any connection kind: HTTP/1.1, HTTP/2, message connections.

    pool = Pool(connect=lambda key: make_connection(key), max_idle_per_key=4, idle_timeout=30)
    conn = pool.acquire(key)          # a healthy idle one, a shared one with room, or a new one
    ...                               # use it
    pool.release(key, conn, clean=True)

What a pooled connection tells the pool (:class:`Poolable`):

* ``reusable()``: healthy and in a state to carry another request (open, not draining after a
  GOAWAY, no half-read response, no unread bytes);
* ``capacity()``: how many *more* concurrent uses it takes now — 1 for an idle HTTP/1.1 or
  message connection, ``MAX_CONCURRENT_STREAMS - in flight`` for HTTP/2 — so one HTTP/2
  connection is shared until its stream limit and only then does the pool open another;
* ``close()``.

Rules:

* ``release(clean=False)`` (a request was cancelled, timed out or failed mid-way) closes the
  connection: a dirty connection is never handed out again.
* Idle connections expire after ``idle_timeout`` s (servers drop them; handing out one the
  server is closing costs a failed request); at most ``max_idle_per_key`` are kept per key.
* Order: **LIFO** by default — the most recently used connection first: it is the one least
  likely to have been closed by the server's idle timer, its TCP window is open and the others
  age out, so the pool shrinks to what the load needs. ``order="fifo"`` spreads use over all idle
  connections (useful to keep several warm, e.g. behind a load balancer).
* ``max_per_key`` bounds connections per key (idle + in use); beyond it ``acquire`` raises
  :class:`~boomnet.errors.LimitExceeded` rather than queueing invisibly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from ..errors import LimitExceeded, LocalError

__all__ = ["Pool", "Poolable", "PoolStats"]


class Poolable(Protocol):
    def reusable(self) -> bool: ...

    def capacity(self) -> int: ...

    def close(self) -> None: ...


K = TypeVar("K", bound=Hashable)
C = TypeVar("C", bound=Poolable)


@dataclass
class PoolStats:
    created: int = 0
    reused: int = 0
    shared: int = 0
    expired: int = 0
    discarded: int = 0  # released dirty or found unhealthy


@dataclass
class _Slot(Generic[C]):
    idle: deque[tuple[C, float]] = field(default_factory=deque)  # (connection, idle since)
    busy: dict[int, tuple[C, int]] = field(default_factory=dict)  # id(conn) -> (conn, users)


class Pool(Generic[K, C]):
    """A pool of connections per key (see the module doc)."""

    def __init__(self, connect: Callable[[K], C], *, max_idle_per_key: int = 8, idle_timeout: float = 30.0,
                 max_per_key: int | None = None, order: Literal["lifo", "fifo"] = "lifo",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_idle_per_key < 0 or idle_timeout <= 0 or (max_per_key is not None and max_per_key < 1):
            raise LocalError("pool limits: max_idle_per_key >= 0, idle_timeout > 0, max_per_key >= 1")
        if order not in ("lifo", "fifo"):
            raise LocalError(f"order must be 'lifo' or 'fifo', not {order!r}")
        self._connect = connect
        self.max_idle_per_key = max_idle_per_key
        self.idle_timeout = idle_timeout
        self.max_per_key = max_per_key
        self.order = order
        self._clock = clock
        self._slots: dict[K, _Slot[C]] = {}
        self.stats = PoolStats()

    def acquire(self, key: K) -> C:
        slot = self._slots.get(key)
        if slot is None:  # not setdefault: that would build a _Slot on every call
            slot = self._slots[key] = _Slot()
        # a shared connection (HTTP/2) with room first: one connection carries the concurrency
        if slot.busy:
            for cid, (conn, users) in list(slot.busy.items()):
                if conn.reusable() and conn.capacity() > 0:
                    slot.busy[cid] = (conn, users + 1)
                    self.stats.shared += 1
                    return conn
        now = self._clock()
        while slot.idle:
            conn, since = slot.idle.pop() if self.order == "lifo" else slot.idle.popleft()
            if now - since > self.idle_timeout:
                self.stats.expired += 1
                conn.close()
                continue
            if not conn.reusable() or conn.capacity() <= 0:
                self.stats.discarded += 1
                conn.close()
                continue
            slot.busy[id(conn)] = (conn, 1)
            self.stats.reused += 1
            return conn
        if self.max_per_key is not None and len(slot.busy) + len(slot.idle) >= self.max_per_key:
            raise LimitExceeded(f"{self.max_per_key} connections to {key!r} already open")
        conn = self._connect(key)
        slot.busy[id(conn)] = (conn, 1)
        self.stats.created += 1
        return conn

    def release(self, key: K, conn: C, *, clean: bool = True) -> None:
        """Give ``conn`` back after one use; ``clean=False`` closes it (never reused)."""
        slot = self._slots.get(key)
        entry = slot.busy.get(id(conn)) if slot is not None else None
        if slot is None or entry is None:
            raise LocalError(f"{conn!r} was not acquired from this pool for {key!r}")
        users = entry[1] - 1
        if not clean:
            del slot.busy[id(conn)]
            self.stats.discarded += 1
            conn.close()
            return
        if users > 0:
            slot.busy[id(conn)] = (conn, users)
            return
        del slot.busy[id(conn)]
        if not conn.reusable() or len(slot.idle) >= self.max_idle_per_key:
            self.stats.discarded += 1
            conn.close()
            return
        slot.idle.append((conn, self._clock()))

    def expire(self) -> int:
        """Close idle connections older than ``idle_timeout``; returns how many."""
        now = self._clock()
        n = 0
        for slot in self._slots.values():
            keep = deque((c, t) for c, t in slot.idle if now - t <= self.idle_timeout)
            for c, t in slot.idle:
                if now - t > self.idle_timeout:
                    c.close()
                    n += 1
            slot.idle = keep
        self.stats.expired += n
        return n

    def idle(self, key: K | None = None) -> int:
        """Idle connections for ``key`` (every key: ``None``)."""
        if key is None:
            return sum(len(slot.idle) for slot in self._slots.values())
        slot = self._slots.get(key)
        return len(slot.idle) if slot is not None else 0

    def in_use(self, key: K | None = None) -> int:
        """Connections acquired and not yet released for ``key`` (every key: ``None``)."""
        if key is None:
            return sum(len(slot.busy) for slot in self._slots.values())
        slot = self._slots.get(key)
        return len(slot.busy) if slot is not None else 0

    def idle_connections(self, key: K) -> list[C]:
        """The idle connections for ``key``, the next one :meth:`acquire` takes (LIFO) last."""
        slot = self._slots.get(key)
        return [conn for conn, _ in slot.idle] if slot is not None else []

    def close(self) -> None:
        for slot in self._slots.values():
            for conn, _ in slot.idle:
                conn.close()
            for conn, _ in slot.busy.values():
                conn.close()
        self._slots.clear()
