"""Typed, validated WebSocket options: :class:`WsLimits` (sizes) and :class:`WsOptions` (the rest).

Frozen dataclasses checked at construction, as ``boomnet.stream.options`` and ``HttpLimits``: a
misspelt keyword is a ``TypeError`` where it is written (dataclasses reject unknown keywords) and
a value out of range a :class:`~boomnet.errors.LocalError`. ``WebSocket(stream, url, options,
**overrides)`` builds ``WsOptions(**overrides)`` (or ``options.replace(**overrides)``), so the
loose keywords of earlier versions (``max_message_size=``, ``handshake_timeout=``) still work and
are checked the same way.

Liveness defaults (``ping_interval=20``, ``ping_timeout=10``, ``idle_timeout=60``) are on: a
feed whose peer dies without a word (half-open TCP, a hung server) is noticed within
``ping_interval + ping_timeout`` seconds; see the README section "Liveness" for the reasoning.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalError

__all__ = ["WsLimits", "WsOptions", "DEFAULT_LIMITS", "Headers", "build_options", "debug_views_from_env"]

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def debug_views_from_env() -> bool:
    """``BOOMNET_DEBUG_VIEWS=1`` (any value but ``""``/``0``) turns debug views on everywhere."""
    return os.environ.get("BOOMNET_DEBUG_VIEWS", "") not in ("", "0")


@dataclass(frozen=True, slots=True)
class WsLimits:
    """Bounds on what a peer may make a WebSocket buffer (RFC 6455 leaves them to us).

    Crossing ``max_frame_size`` or ``max_message_size`` fails the connection with 1009
    (:class:`~boomnet.errors.MessageTooBig`). The upgrade response head is bounded by the HTTP
    head parser's own limits (64 KiB, 100 header lines).
    """

    #: payload bytes of one frame (checked from the header, before the payload is buffered)
    max_frame_size: int = 16 * 1024 * 1024
    #: payload bytes of one message: fragments together, or a compressed message once inflated
    max_message_size: int = 16 * 1024 * 1024
    #: initial receive buffer (it grows for a frame larger than it, and shrinks back later)
    read_buffer_size: int = 256 * 1024

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise LocalError(f"WsLimits.{f.name} must be a positive int, not {value!r}")

    def replace(self, **changes: int) -> WsLimits:
        """A copy with ``changes`` (validated; unknown names are a ``TypeError``)."""
        return dataclasses.replace(self, **changes)


DEFAULT_LIMITS = WsLimits()


def _positive_or_none(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise LocalError(f"{name} must be a positive number of seconds or None, not {value!r}")


@dataclass(frozen=True, slots=True)
class WsOptions:
    """Everything a :class:`~boomnet.ws.WebSocket` can be told, validated at construction.

    Limits live in ``limits`` (:class:`WsLimits`); for convenience ``max_frame_size``,
    ``max_message_size`` and ``read_buffer_size`` may also be given here and are folded into it.

    * ``headers``, ``origin``, ``subprotocols``: what the upgrade request carries.
    * ``compression``: ``None`` or ``"deflate"`` (offer permessage-deflate, inflate what arrives).
    * ``handshake_timeout``: seconds for the whole opening handshake (stream connect included).
    * ``close_timeout``: seconds the peer has to answer a close we started.
    * ``ping_interval`` / ``ping_timeout``: send a ping every ``ping_interval`` s; no pong within
      ``ping_timeout`` s of it -> :class:`~boomnet.errors.PeerTimeout`. ``None`` disables.
    * ``idle_timeout``: no inbound byte for this many seconds -> ``PeerTimeout``. ``None`` disables.
    * ``auto_pong``: answer pings (RFC 6455 §5.5.2). ``validate_utf8``: check text and reasons.
    * ``assemble``: deliver fragmented messages whole. ``mask``: mask client frames (RFC: must).
    * ``debug_views``: release every payload view at the next ``read_batch()`` so a view held too
      long raises ``ValueError`` instead of showing other bytes (also ``BOOMNET_DEBUG_VIEWS=1``).
    * ``key``: a fixed ``Sec-WebSocket-Key`` (replays only; default a fresh random key).
    """

    headers: Headers | None = None
    origin: str | None = None
    subprotocols: tuple[str, ...] = ()
    compression: str | None = None
    handshake_timeout: float = 10.0
    close_timeout: float = 5.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 10.0
    idle_timeout: float | None = 60.0
    auto_pong: bool = True
    validate_utf8: bool = True
    assemble: bool = True
    mask: bool = True
    debug_views: bool = field(default_factory=debug_views_from_env)
    key: str | None = None
    limits: WsLimits = DEFAULT_LIMITS
    max_frame_size: int | None = None
    max_message_size: int | None = None
    read_buffer_size: int | None = None

    def __post_init__(self) -> None:
        if self.compression not in (None, "deflate"):
            raise LocalError(f"compression must be None or 'deflate', not {self.compression!r}")
        for name in ("handshake_timeout", "close_timeout"):
            value = getattr(self, name)
            if value is None:
                raise LocalError(f"{name} must be a positive number of seconds, not None")
            _positive_or_none(name, value)
        for name in ("ping_interval", "ping_timeout", "idle_timeout"):
            _positive_or_none(name, getattr(self, name))
        if self.ping_interval is not None and self.ping_timeout is None:
            raise LocalError("ping_interval needs a ping_timeout (a ping nobody checks detects nothing)")
        if not isinstance(self.limits, WsLimits):
            raise LocalError(f"limits must be a WsLimits, not {type(self.limits).__name__}")
        subprotocols: object = self.subprotocols  # callers may pass any sequence (or, wrongly, a str)
        if isinstance(subprotocols, str):
            raise LocalError("subprotocols must be a sequence of names, not one str")
        if not isinstance(subprotocols, tuple):
            object.__setattr__(self, "subprotocols", tuple(self.subprotocols))
        folded = {name: getattr(self, name) for name in ("max_frame_size", "max_message_size", "read_buffer_size")}
        folded = {k: v for k, v in folded.items() if v is not None}
        if folded:
            object.__setattr__(self, "limits", self.limits.replace(**folded))
            for name in folded:
                object.__setattr__(self, name, None)

    def replace(self, **changes: Any) -> WsOptions:
        """A copy with ``changes`` (validated the same way; unknown names are a ``TypeError``)."""
        return dataclasses.replace(self, **changes)


def build_options(options: WsOptions | None, overrides: Mapping[str, Any]) -> WsOptions:
    """``options`` with ``overrides`` applied, or ``WsOptions(**overrides)``: a misspelt name is a
    ``TypeError`` naming it."""
    if options is None:
        return WsOptions(**overrides)
    if not isinstance(options, WsOptions):
        raise TypeError(f"options must be a WsOptions, not {type(options).__name__}")
    return options.replace(**dict(overrides)) if overrides else options
