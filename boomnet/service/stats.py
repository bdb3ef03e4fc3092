"""What each endpoint has been doing: always-on cold-path counters, opt-in hot-path timing.

Always on (touched only by :mod:`boomnet.service.lifecycle`, at connect and disconnect — never
per poll): :class:`EndpointStats` counts connects and disconnects by
:class:`~boomnet.service.DisconnectKind` and keeps the last connect / disconnect time (the
service's clock) and the last disconnect's reason.

Opt-in (``ServiceOptions(instrument=True)``, or ``slow_handler=0.05`` which implies it): at
connect time the endpoint's bound ``poll`` is wrapped by :func:`instrument` in a closure that
times every call with ``time.perf_counter`` and keeps polls, total and max handler time and the
last time it ran; with ``slow_handler`` set, a poll that blocks the loop longer than that many
seconds is counted and logged at WARNING with the endpoint's identity and the duration, like
asyncio's debug mode ("Executing ... took 0.123 seconds"), at most once per
``SLOW_LOG_INTERVAL`` seconds per endpoint (the suppressed ones are counted in the next line).

Why a wrapper chosen at connect time, not a flag tested in ``IOService.poll``: the service's hot
loop calls ``record.poll(record.target, ctx)``; without instrumentation ``record.poll`` is the
endpoint's own bound method, so the uninstrumented loop does exactly the work it did before this
module existed (no branch, no attribute) — measured with ``python -m perf.bench_poll``.

:class:`EndpointSnapshot` is what ``IOService.stats()`` returns per endpoint: these counters, the
connection state, and ``endpoint.metrics()`` (protocol counts: messages, bytes, ...) when the
endpoint defines one. Read it on the loop thread (``IOService.stats()`` is not thread-safe; the
Prometheus exporter in :mod:`boomnet.metrics` asks the loop thread through
``call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .endpoint import Disconnect, DisconnectKind

__all__ = ["EndpointStats", "EndpointSnapshot", "instrument", "SLOW_LOG_INTERVAL", "metrics_of"]

log = logging.getLogger("boomnet.service.slow")

#: the shortest interval (seconds) between two slow-handler warnings of one endpoint
SLOW_LOG_INTERVAL = 1.0

Poll = Callable[[Any, Any], None]


def _kinds() -> dict[str, int]:
    return {kind.value: 0 for kind in DisconnectKind}


@dataclass(slots=True)
class EndpointStats:
    """One registration's counters (held by the service's record; mutate only on the loop thread).

    Times ``last_connected`` / ``last_disconnected`` are the service's clock (``IOService.now()``);
    ``last_active`` is ``time.perf_counter()`` at the start of the last instrumented poll.
    """

    connects: int = 0
    #: disconnects (and failed connect attempts: ``connect_failed``) by ``DisconnectKind`` value
    disconnects: dict[str, int] = field(default_factory=_kinds)
    last_connected: float | None = None
    last_disconnected: float | None = None
    last_reason: str | None = None
    # --- instrumented only (0 / None otherwise) ---
    polls: int = 0
    handler_time: float = 0.0
    max_handler_time: float = 0.0
    last_active: float | None = None
    slow_polls: int = 0
    _slow_logged_at: float = field(default=-1e18, repr=False)
    _slow_suppressed: int = field(default=0, repr=False)

    def on_connected(self, now: float) -> None:
        self.connects += 1
        self.last_connected = now

    def on_disconnected(self, reason: Disconnect, now: float) -> None:
        self.disconnects[reason.kind.value] += 1
        self.last_disconnected = now
        self.last_reason = str(reason)

    @property
    def reconnects(self) -> int:
        """Connects after the first one."""
        return max(0, self.connects - 1)


def instrument(poll: Poll, stats: EndpointStats, who: object, slow_handler: float | None) -> Poll:
    """``poll`` wrapped to time every call into ``stats`` (and warn about slow ones).

    ``who`` names the endpoint in the warning (the service's record: endpoint, handle, state).
    An exception out of ``poll`` is timed too and propagates unchanged to the service.
    """
    clock = time.perf_counter
    limit = float("inf") if slow_handler is None else slow_handler

    def timed(target: Any, ctx: Any) -> None:
        start = clock()
        try:
            poll(target, ctx)
        finally:
            took = clock() - start
            s = stats
            s.polls += 1
            s.handler_time += took
            s.last_active = start
            if took > s.max_handler_time:
                s.max_handler_time = took
            if took > limit:
                _slow(s, who, took, limit, start)

    timed.__wrapped__ = poll  # type: ignore[attr-defined]  # for introspection: the real handler
    return timed


def _slow(stats: EndpointStats, who: object, took: float, limit: float, now: float) -> None:
    stats.slow_polls += 1
    if now - stats._slow_logged_at < SLOW_LOG_INTERVAL:
        stats._slow_suppressed += 1
        return
    more = stats._slow_suppressed
    stats._slow_logged_at = now
    stats._slow_suppressed = 0
    log.warning("%r: poll blocked the loop for %.3f s (slow_handler=%.3f s)%s", who, took, limit,
                f"; {more} more slow poll(s) since the last warning" if more else "")


def metrics_of(endpoint: object) -> dict[str, float]:
    """``endpoint.metrics()`` as ``{name: number}`` when the endpoint defines it, else ``{}``.

    A failing ``metrics()`` is logged and reported as no metrics: reading counters must never
    take the loop down."""
    fn = getattr(endpoint, "metrics", None)
    if not callable(fn):
        return {}
    try:
        raw = fn()
    except Exception as exc:
        log.warning("%r: metrics() raised %r", endpoint, exc)
        return {}
    if not isinstance(raw, Mapping):
        log.warning("%r: metrics() returned %s, not a mapping", endpoint, type(raw).__name__)
        return {}
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(key)] = float(value)
        elif isinstance(value, bool):
            out[str(key)] = 1.0 if value else 0.0
    return out


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """One endpoint's counters at one instant (what ``IOService.stats()`` returns).

    Ages are seconds before the snapshot (``None``: never happened / not instrumented)."""

    handle: int
    endpoint: str  # endpoint.describe()
    kind: str  # the endpoint's class name
    state: str  # waiting, resolving, establishing, connected
    connected: bool
    connects: int
    disconnects: dict[str, int]
    connected_for: float | None  # seconds in the current connection
    since_disconnect: float | None
    last_reason: str | None
    instrumented: bool
    polls: int
    handler_time: float
    max_handler_time: float
    idle_for: float | None  # seconds since the last instrumented poll
    slow_polls: int
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
