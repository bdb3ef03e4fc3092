"""The service's bookkeeping: handles, the per-endpoint :class:`Record`, the :class:`Registry`.

A :class:`Record` is what the selector is handed as its token (``record.target`` is the live
target, ``record.poll`` the endpoint's bound ``poll`` while connected and a no-op otherwise, so the
hot loop makes one call per ready endpoint). The registry maps handles to records and nothing
else; who may change a record's state is :mod:`boomnet.service.lifecycle`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .stats import EndpointSnapshot, EndpointStats, metrics_of
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .endpoint import Endpoint
    from .resolver import Address, Lookup

__all__ = ["Handle", "Record", "Registry", "NULL_TARGET", "close_quietly", "snapshot"]

log = logging.getLogger("boomnet.service")

T = TypeVar("T", bound=Target)

# connection states of a registered endpoint
WAITING, RESOLVING, ESTABLISHING, CONNECTED, REMOVED = range(5)
STATE_NAMES = ("waiting", "resolving", "establishing", "connected", "removed")


class Handle(Generic[T]):
    """Identifies one registration with an :class:`~boomnet.service.IOService`.

    Generic over the endpoint's target type, so ``io.target(handle)`` is typed: registering an
    ``Endpoint[WebSocket, Ctx]`` returns a ``Handle[WebSocket]``.
    """

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Handle({self.id})"


def noop_poll(target: Any, ctx: Any) -> None:
    """Stands in for ``endpoint.poll`` once a connection is dead but may still be in a ready list."""


class NullTarget:
    """What a record points at when it has no live target: harmless to a selector's checks."""

    def establish(self) -> bool:
        return False

    def fileno(self) -> int:
        return -1

    def read_hint(self) -> int:
        return 0

    def close(self) -> None:
        pass


NULL_TARGET: Target = NullTarget()


def close_quietly(target: Target, record: object) -> None:
    """Close ``target`` and release its transport now.

    A protocol client's ``close()`` may only *start* a closing handshake (an open WebSocket sends
    its close frame and waits for the echo); the service is done with the target, so the stream
    underneath is closed too — the close frame is flushed first when the socket takes it.
    """
    try:
        target.close()
    except Exception as exc:  # closing is best effort; the connection is gone either way
        log.debug("%r: close raised %r", record, exc)
    # Target has no notion of layers; protocol clients expose theirs as ``stream`` (WebSocket,
    # HttpConnection): closing it too is what makes the teardown immediate.
    stream = getattr(target, "stream", None)
    if stream is not None and stream is not target:
        try:
            stream.close()
        except Exception as exc:
            log.debug("%r: closing the stream raised %r", record, exc)


class Record:
    """One registered endpoint: its state, current target and scheduling data."""

    __slots__ = (
        "attempt",
        "connected_at",
        "deadline",
        "delay",
        "dying",
        "endpoint",
        "gen",
        "handle",
        "in_selector",
        "lookup",
        "poll",
        "prepare_deadline",
        "prepared",
        "resolved",
        "state",
        "stats",
        "target",
    )

    def __init__(self, handle: Handle[Any], endpoint: Endpoint[Any, Any]) -> None:
        self.handle = handle
        self.endpoint = endpoint
        self.target: Target = NULL_TARGET
        #: ``endpoint.poll`` while connected, else :func:`noop_poll`
        self.poll: Callable[[Any, Any], None] = noop_poll
        self.state = WAITING
        self.gen = 0  # bumped on every disconnect: scheduled entries of older generations are stale
        self.delay = 0.0  # next reconnect delay
        self.lookup: Lookup | None = None
        self.prepared: Future[None] | None = None  # the endpoint's prepare() of this attempt
        self.resolved: list[Address] | None = None  # addresses waiting for prepare() to finish
        self.deadline = 0.0
        self.prepare_deadline = 0.0
        self.attempt = 0
        self.in_selector = False
        self.connected_at: float | None = None  # set while connected
        self.dying = False  # killed; waiting for housekeeping to tear it down
        self.stats = EndpointStats()  # cold-path counters (+ hot-path ones when instrumented)

    def __repr__(self) -> str:
        return f"{self.endpoint!r} [{self.handle.id}, {STATE_NAMES[self.state]}]"


class Registry:
    """Handles to records. Knows nothing of connections."""

    def __init__(self) -> None:
        self._records: dict[Handle[Any], Record] = {}
        self._ids = itertools.count(1)

    def add(self, endpoint: Endpoint[Any, Any]) -> Record:
        record = Record(Handle(next(self._ids)), endpoint)
        self._records[record.handle] = record
        return record

    def pop(self, handle: Handle[Any]) -> Record:
        return self._records.pop(handle)

    def __getitem__(self, handle: Handle[Any]) -> Record:
        return self._records[handle]

    def __contains__(self, handle: object) -> bool:
        return handle in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records.values()))  # a snapshot: callers deregister while iterating


def snapshot(records: Iterable[Record], now: float, instrumented: bool) -> list[EndpointSnapshot]:
    """The counters of ``records`` at ``now`` (the service's clock), for ``IOService.stats()``."""
    perf = time.perf_counter()
    out = []
    for r in records:
        s = r.stats
        ep = r.endpoint
        try:
            name = ep.describe()
        except Exception:  # a broken describe() must not hide the counters
            name = repr(ep)
        out.append(EndpointSnapshot(
            handle=r.handle.id,
            endpoint=name,
            kind=type(ep).__name__,
            state=STATE_NAMES[r.state],
            connected=r.state == CONNECTED and not r.dying,
            connects=s.connects,
            disconnects=dict(s.disconnects),
            connected_for=None if r.connected_at is None else now - r.connected_at,
            since_disconnect=None if s.last_disconnected is None else now - s.last_disconnected,
            last_reason=s.last_reason,
            instrumented=instrumented,
            polls=s.polls,
            handler_time=s.handler_time,
            max_handler_time=s.max_handler_time,
            idle_for=None if s.last_active is None else perf - s.last_active,
            slow_polls=s.slow_polls,
            metrics=metrics_of(ep),
        ))
    return out
