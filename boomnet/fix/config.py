"""``SessionConfig`` (one FIX session's identity and timers) and ``SessionSchedule`` (daily reset).

Both are frozen and validated: a misspelt keyword is a TypeError and a value out of range a
:class:`~boomnet.errors.LocalError`, at construction. The password is never in ``repr``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import LocalError
from .limits import DEFAULT_LIMITS, FixLimits

__all__ = ["SessionConfig", "SessionSchedule"]


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    """Reset the session (both sequence numbers to 1, stored messages dropped) once a day at
    ``reset_time`` in ``timezone`` (an IANA name, e.g. ``"America/New_York"``; DST is honoured).

    A session whose store was created before the most recent reset time is reset at its next
    logon; a session logged on across the reset time logs out (Text "session reset") and the
    reconnect logs on with fresh sequence numbers.
    """

    reset_time: _dt.time = _dt.time(0, 0)
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.reset_time, _dt.time) or self.reset_time.tzinfo is not None:
            raise LocalError("reset_time must be a naive datetime.time (the timezone is separate)")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise LocalError(f"unknown timezone {self.timezone!r}") from e
        object.__setattr__(self, "_zone", zone)

    def last_reset(self, now: float) -> float:
        """The most recent reset instant at or before ``now`` (epoch seconds)."""
        local = _dt.datetime.fromtimestamp(now, self._zone)
        candidate = _dt.datetime.combine(local.date(), self.reset_time, self._zone)
        if candidate.timestamp() > now:
            candidate = _dt.datetime.combine(local.date() - _dt.timedelta(days=1), self.reset_time, self._zone)
        return candidate.timestamp()

    def needs_reset(self, creation_time: float, now: float) -> bool:
        """Was the store created before the last reset instant?"""
        return creation_time < self.last_reset(now)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One FIX session. ``sender_comp_id``/``target_comp_id``: our and the peer's CompID.

    ``heartbeat_interval`` (HeartBtInt, seconds; 0 disables heartbeats): the initiator's value
    is the session's. A peer silent for ``interval * (1 + grace)`` gets a TestRequest; still
    silent ``interval * (1 + grace)`` later, the session fails with PeerTimeout.
    ``reset_on_logon`` sends ResetSeqNumFlag(141)=Y and starts at sequence 1.
    ``username``/``password`` go in Logon as 553/554 (the password is redacted in recordings).
    ``role="acceptor"`` waits for the peer's Logon; ``authenticate(username, password)`` may
    refuse it. ``logon_timeout``/``logout_timeout``: how long to wait for the answer.
    """

    sender_comp_id: str
    target_comp_id: str
    begin_string: str = "FIX.4.4"
    heartbeat_interval: int = 30
    grace: float = 0.2
    reset_on_logon: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    role: str = "initiator"
    authenticate: Callable[[str | None, str | None], bool] | None = field(default=None, repr=False)
    logon_timeout: float = 10.0
    logout_timeout: float = 2.0
    schedule: SessionSchedule | None = None
    limits: FixLimits = DEFAULT_LIMITS
    #: extra fields for our Logon (e.g. a venue's custom tags), after the standard ones
    logon_fields: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("sender_comp_id", "target_comp_id", "begin_string"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or any(c in value for c in "\x01=|"):
                raise LocalError(f"SessionConfig.{name} must be a non-empty string without SOH/'=', not {value!r}")
        if not isinstance(self.heartbeat_interval, int) or self.heartbeat_interval < 0:
            raise LocalError(f"heartbeat_interval must be an int >= 0, not {self.heartbeat_interval!r}")
        if not 0 <= self.grace <= 10:
            raise LocalError(f"grace must be within [0, 10], not {self.grace!r}")
        if self.role not in ("initiator", "acceptor"):
            raise LocalError(f"role must be 'initiator' or 'acceptor', not {self.role!r}")
        for name in ("logon_timeout", "logout_timeout"):
            if not getattr(self, name) > 0:
                raise LocalError(f"{name} must be positive")
        if not isinstance(self.limits, FixLimits):
            raise TypeError("limits must be a FixLimits")

    @property
    def session_id(self) -> str:
        """``BeginString-Sender-Target``: the default FileStore name."""
        return f"{self.begin_string}-{self.sender_comp_id}-{self.target_comp_id}"
