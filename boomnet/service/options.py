"""The service's options: one frozen, validated dataclass per concern.

A misspelt keyword is a ``TypeError`` at construction (dataclasses reject unknown keywords) and a
value out of range is a :class:`~boomnet.errors.LocalError`, raised where it was written — never
on the first reconnect hours later.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import LocalError

__all__ = ["Backoff", "ServiceOptions", "ErrorPolicy", "ERROR_POLICIES"]

#: what an exception out of endpoint code that is not a boomnet error does (see ``IOService``)
ErrorPolicy = Literal["reconnect", "raise"]
ERROR_POLICIES: tuple[ErrorPolicy, ...] = ("reconnect", "raise")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial`` seconds after a failure, times ``factor`` per further failure,
    at most ``cap``. A *healthy* connection (see :attr:`ServiceOptions.healthy_after`) resets it;
    recycling (``EXPIRED``) and requested disconnects reconnect at once. ``initial`` is also the
    throttle when ``create_target`` says *not now* (returns ``None``)."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.initial, self.factor, self.cap))
        if not finite or self.initial < 0 or self.factor < 1 or self.cap < self.initial:
            raise LocalError(f"invalid back-off {self!r}: need 0 <= initial <= cap and factor >= 1")

    def next(self, delay: float) -> float:
        """The delay after ``delay``."""
        return min(self.cap, max(delay * self.factor, self.initial))


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """How an :class:`~boomnet.service.IOService` connects, retries and polls.

    * ``dns_timeout``: seconds a name may take to resolve (per attempt).
    * ``connect_timeout``: seconds for the whole connect + handshakes of one attempt, on top of
      the target's own deadlines; also bounds an endpoint's ``prepare()``.
    * ``backoff``: reconnect delays after failures (an endpoint's own ``backoff`` wins).
    * ``healthy_after``: a connection that stayed up this long is *healthy*: when it ends (the
      peer closed it, or an error on the open connection) the endpoint reconnects at once and its
      back-off starts afresh. One that ends sooner counts as a failure and backs off, so a server
      that accepts and closes at once gets a growing delay, not a reconnect storm. Even a server
      that always closes just after ``healthy_after`` sees at most one attempt per
      ``healthy_after`` seconds.
    * ``on_error``: ``"reconnect"`` (default) or ``"raise"`` for exceptions out of endpoint code
      that are not boomnet errors (see :mod:`boomnet.service.io_service`).
    * ``check_every``: polls between clock checks when nothing is in progress (1 = every poll).
    * ``busy_step``: the longest ``IOService.wait()`` sleeps while something is resolving,
      connecting or in a handshake (progress the selector cannot wake it for).
    * ``instrument``: time every endpoint poll (polls, total / max handler time, last active;
      see :mod:`boomnet.service.stats`). Off by default: the uninstrumented hot path is unchanged.
    * ``slow_handler``: seconds; a poll that blocks the loop longer is logged at WARNING with its
      endpoint (rate-limited), like asyncio's debug mode. Implies ``instrument``.
    """

    dns_timeout: float = 5.0
    connect_timeout: float = 30.0
    backoff: Backoff = Backoff()
    healthy_after: float = 3.0
    on_error: ErrorPolicy = "reconnect"
    check_every: int = 16
    busy_step: float = 0.002
    instrument: bool = False
    slow_handler: float | None = None

    def __post_init__(self) -> None:
        for name in ("dns_timeout", "connect_timeout", "busy_step"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise LocalError(f"{name} must be a positive number of seconds, not {value!r}")
        if not (isinstance(self.healthy_after, (int, float)) and 0 <= self.healthy_after < math.inf):
            raise LocalError(f"healthy_after must be >= 0 seconds, not {self.healthy_after!r}")
        if not isinstance(self.backoff, Backoff):
            raise LocalError(f"backoff must be a Backoff, not {self.backoff!r}")
        if self.on_error not in ERROR_POLICIES:
            raise LocalError(f"on_error must be one of {ERROR_POLICIES}, not {self.on_error!r}")
        if isinstance(self.check_every, bool) or not isinstance(self.check_every, int) or self.check_every < 1:
            raise LocalError(f"check_every must be an int >= 1, not {self.check_every!r}")
        if not isinstance(self.instrument, bool):
            raise LocalError(f"instrument must be True or False, not {self.instrument!r}")
        slow = self.slow_handler
        if slow is not None and (isinstance(slow, bool) or not isinstance(slow, (int, float))
                                 or not 0 < slow < math.inf):
            raise LocalError(f"slow_handler must be None or a positive number of seconds, not {slow!r}")

    @property
    def instrumented(self) -> bool:
        """Whether endpoint polls are timed (``instrument`` or ``slow_handler``)."""
        return self.instrument or self.slow_handler is not None

    def replace(self, **changes: Any) -> ServiceOptions:
        """A copy with ``changes`` (unknown names: ``TypeError``; bad values: ``LocalError``)."""
        return dataclasses.replace(self, **changes)
