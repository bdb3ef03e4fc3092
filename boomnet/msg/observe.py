"""Observing traffic: callbacks that see every message a connection sends and receives.

A connection's ``observers`` is a chain (a list): each gets ``on_recv(conn, msgs)`` once per
batch (the batch's list, before the application sees it) and ``on_send(conn, msg)`` per message
queued, with the connection (``conn.name``, ``conn.id``) as identity. Received messages may be
memoryviews into the receive buffer: an observer that keeps them must copy (:func:`owned_copy`).

Built in: :class:`LogObserver` (stdlib logging, DEBUG by default), :class:`Counters` (messages
and bytes per connection and direction) and :class:`Store` (keeps copies, for tests to query).
Observers run on the loop thread; with an empty chain the hot path pays one truth test per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

__all__ = ["Observer", "LogObserver", "Counters", "Store", "owned_copy", "message_size"]

M = TypeVar("M")


class Observer(Protocol[M]):
    def on_recv(self, conn: Connection[Any], msgs: list[M]) -> None: ...

    def on_send(self, conn: Connection[Any], msg: M) -> None: ...


def owned_copy(msg: Any) -> Any:
    """``msg`` with any memoryview inside (a payload, a Datagram's data) copied to bytes."""
    if isinstance(msg, memoryview):
        return msg.tobytes()
    if isinstance(msg, tuple) and hasattr(msg, "_replace"):  # NamedTuple (Datagram)
        return type(msg)(*(owned_copy(v) for v in msg))
    if isinstance(msg, (bytearray,)):
        return bytes(msg)
    return msg


def message_size(msg: Any) -> int:
    """Payload bytes of ``msg`` when it is bytes-like (or a Datagram), else 0."""
    if isinstance(msg, (bytes, bytearray, memoryview)):
        return len(msg)
    data = getattr(msg, "data", None)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    return 0


class LogObserver:
    """Logs every message (``repr`` truncated to ``max_repr`` characters) at ``level``."""

    def __init__(self, logger: logging.Logger | str = "boomnet.msg.traffic", level: int = logging.DEBUG, max_repr: int = 200):
        self.log = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.max_repr = max_repr

    def _fmt(self, msg: Any) -> str:
        text = repr(owned_copy(msg))
        return text if len(text) <= self.max_repr else text[: self.max_repr] + "..."

    def on_recv(self, conn: Connection[Any], msgs: list[Any]) -> None:
        log = self.log
        if log.isEnabledFor(self.level):
            for msg in msgs:
                log.log(self.level, "%s <- %s", conn.name, self._fmt(msg))

    def on_send(self, conn: Connection[Any], msg: Any) -> None:
        if self.log.isEnabledFor(self.level):
            self.log.log(self.level, "%s -> %s", conn.name, self._fmt(msg))


class Counters:
    """Messages and payload bytes, per connection name and direction: ``counters.received[name]``,
    ``counters.sent[name]``, ``counters.bytes_received[name]``, ``counters.bytes_sent[name]``."""

    def __init__(self) -> None:
        self.received: defaultdict[str, int] = defaultdict(int)
        self.sent: defaultdict[str, int] = defaultdict(int)
        self.bytes_received: defaultdict[str, int] = defaultdict(int)
        self.bytes_sent: defaultdict[str, int] = defaultdict(int)

    def on_recv(self, conn: Connection[Any], msgs: list[Any]) -> None:
        name = conn.name
        self.received[name] += len(msgs)
        self.bytes_received[name] += sum(map(message_size, msgs))

    def on_send(self, conn: Connection[Any], msg: Any) -> None:
        name = conn.name
        self.sent[name] += 1
        self.bytes_sent[name] += message_size(msg)

    def total(self, direction: str = "received") -> int:
        table = {"received": self.received, "sent": self.sent}[direction]
        return sum(table.values())


class Record(Generic[M]):
    """One observed message: ``direction`` (``"in"``/``"out"``), connection ``name`` and ``id``,
    the message (memoryviews copied), and ``time`` (monotonic seconds)."""

    __slots__ = ("conn_id", "direction", "msg", "name", "time")

    def __init__(self, direction: str, name: str, conn_id: int, msg: M, t: float) -> None:
        self.direction, self.name, self.conn_id, self.msg, self.time = direction, name, conn_id, msg, t

    def __repr__(self) -> str:
        return f"Record({self.direction} {self.name}: {self.msg!r})"


class Store:
    """Keeps a copy of every message seen (up to ``limit`` records; the oldest are dropped and
    counted in ``dropped``). Thread-safe to query while the loop runs."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self.records: deque[Record[Any]] = deque(maxlen=limit)
        self.dropped = 0
        self._lock = threading.Lock()

    def _add(self, direction: str, conn: Connection[Any], msg: Any) -> None:
        rec: Record[Any] = Record(direction, conn.name, conn.id, owned_copy(msg), time.monotonic())
        with self._lock:
            if len(self.records) == self.limit:
                self.dropped += 1
            self.records.append(rec)

    def on_recv(self, conn: Connection[Any], msgs: list[Any]) -> None:
        for msg in msgs:
            self._add("in", conn, msg)

    def on_send(self, conn: Connection[Any], msg: Any) -> None:
        self._add("out", conn, msg)

    def query(self, direction: str | None = None, name: str | None = None, where: Callable[[Any], bool] | None = None) -> list[Any]:
        """Messages (copies) matching ``direction``, connection ``name`` and predicate ``where``."""
        with self._lock:
            recs = list(self.records)
        return [
            r.msg
            for r in recs
            if (direction is None or r.direction == direction)
            and (name is None or r.name == name)
            and (where is None or where(r.msg))
        ]

    def received(self, name: str | None = None) -> list[Any]:
        return self.query("in", name)

    def sent(self, name: str | None = None) -> list[Any]:
        return self.query("out", name)

    def wait_for(self, count: int, timeout: float, direction: str = "in", sleep: float = 0.001) -> list[Any]:
        """Wait (spinning with ``sleep``) until ``count`` messages of ``direction`` are stored;
        for tests whose loop runs on another thread. Returns them, or raises DeadlineExceeded."""
        from ..errors import DeadlineExceeded

        end = time.monotonic() + timeout
        while True:
            got = self.query(direction)
            if len(got) >= count:
                return got
            if time.monotonic() > end:
                raise DeadlineExceeded(f"{len(got)} of {count} messages observed within {timeout}s")
            time.sleep(sleep)
