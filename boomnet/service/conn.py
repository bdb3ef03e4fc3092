"""Small pieces of the service's bookkeeping: handles, back-off, the per-endpoint record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .endpoint import Endpoint
    from .io_service import IOService

__all__ = ["Handle", "Backoff"]

# connection states of a registered endpoint
WAITING, RESOLVING, ESTABLISHING, CONNECTED, REMOVED = range(5)
STATE_NAMES = ("waiting", "resolving", "establishing", "connected", "removed")


class Handle:
    """Identifies one registration with an :class:`~boomnet.service.IOService`."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Handle({self.id})"


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial`` seconds after a failure, times ``factor`` per further failure,
    at most ``cap``. A successful connect resets it; recycling (``EXPIRED``) and requested
    disconnects reconnect at once. ``initial`` is also the throttle when ``create_target`` says
    *not now* (returns ``None``)."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.cap < self.initial:
            raise ValueError(f"invalid back-off {self!r}: need 0 <= initial <= cap and factor >= 1")

    def next(self, delay: float) -> float:
        """The delay after ``delay``."""
        return min(self.cap, max(delay * self.factor, self.initial))


def _noop_poll(target: Any, ctx: Any) -> None:
    """Stands in for ``endpoint.poll`` once a connection is dead but may still be in a ready list."""


class NullTarget:
    """What a record points at when it has no live target: harmless to a selector's checks."""

    pending = 0

    def fileno(self) -> int:
        return -1

    def buffered(self) -> int:
        return 0

    def read_hint(self) -> int:
        return 0

    def close(self) -> None:
        pass


NULL_TARGET = NullTarget()


class _Conn:
    """One registered endpoint: its state, current target and scheduling data.

    The selector is handed this object as its token; ``poll`` is the endpoint's bound ``poll`` while
    connected (so the hot loop makes one call per ready endpoint) and a no-op once dead.
    """

    __slots__ = (
        "service",
        "handle",
        "endpoint",
        "target",
        "poll",
        "state",
        "gen",
        "delay",
        "lookup",
        "deadline",
        "addrs",
        "attempt",
        "in_selector",
        "connected_at",
        "dying",
    )

    def __init__(self, service: "IOService", handle: Handle, endpoint: "Endpoint") -> None:
        self.service = service
        self.handle = handle
        self.endpoint = endpoint
        self.target: Any = NULL_TARGET
        self.poll: Any = _noop_poll
        self.state = WAITING
        self.gen = 0  # bumped on every disconnect: scheduled entries of older generations are stale
        self.delay = 0.0  # next reconnect delay
        self.lookup: Any = None
        self.deadline = 0.0
        self.addrs: list = []
        self.attempt = 0
        self.in_selector = False
        self.connected_at = 0.0
        self.dying = False  # killed; waiting for housekeeping to tear it down

    def __repr__(self) -> str:
        return f"{self.endpoint!r} [{self.handle.id}, {STATE_NAMES[self.state]}]"
