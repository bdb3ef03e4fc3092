"""Every limit the FIX layer enforces, named in one place (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LocalError

__all__ = ["FixLimits", "DEFAULT_LIMITS"]


@dataclass(frozen=True, slots=True)
class FixLimits:
    """Bounds on what a peer may make boomnet buffer or remember."""

    #: BodyLength(9) of one message; a larger one is FixMessageTooLarge (checked before buffering)
    max_message_size: int = 1024 * 1024
    #: inbound messages held while a ResendRequest fills a gap; more disconnects the session
    max_queued: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_queued"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise LocalError(f"FixLimits.{name} must be a positive int, not {value!r}")


DEFAULT_LIMITS = FixLimits()
