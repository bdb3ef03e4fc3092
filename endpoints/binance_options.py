"""Where a :class:`~endpoints.binance.BinanceEndpoint` connects, and which options it takes.

Production is an explicit choice: ``base_url`` has no default, so ``BinanceEndpoint(streams,
bas_url=...)`` is a ``TypeError`` (both for the unknown keyword and for the missing
``base_url``) instead of a connection to the live venue. Pass :data:`LIVE_URL` (or
:data:`LIVE_DATA_URL`, Binance's market-data-only host) to trade against Binance, a local
exchange's URL in tests, :data:`REPLAY_URL` for an endpoint that is only ever replayed.

Every other keyword must be a known option of the WebSocket endpoint below or of the WebSocket
itself, checked at construction (:func:`check_options`): a misspelt option is a ``TypeError`` at
once, not a failure on every connect attempt.

Liveness (Binance's rules, /work/shared/binance-streams.md): the server pings every 20 s and
drops a connection whose pong does not come back within a minute, so the client sends no pings
of its own (``ping_interval=None``) and treats a minute without any inbound data — not even a
ping — as a dead link (``idle_timeout=60``). :func:`liveness_defaults` supplies these when the
caller passes them (or a whole ``ws=WsOptions(...)``, which then decides every field).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from boomnet.ws import WebsocketEndpoint, WsOptions

__all__ = ["LIVE_URL", "LIVE_DATA_URL", "REPLAY_URL", "BINANCE_PING_INTERVAL", "BINANCE_IDLE_TIMEOUT",
           "check_options", "liveness_defaults", "ws_option_names"]

#: Binance spot market streams (production)
LIVE_URL = "wss://stream.binance.com:9443"
#: Binance's market-data-only stream host (production)
LIVE_DATA_URL = "wss://data-stream.binance.vision"
#: for endpoints that are only replayed: ``.invalid`` never resolves (RFC 2606), so a replay-only
#: endpoint registered for real fails to connect instead of reaching a venue
REPLAY_URL = "wss://replay.invalid"

#: Binance pings every 20 s; a pong is due within a minute
BINANCE_PING_INTERVAL = 20.0
#: a minute with no inbound data (Binance would have pinged three times) means the link is dead
BINANCE_IDLE_TIMEOUT = 60.0


def _keywords(fn: Any) -> tuple[set[str], bool]:
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self"}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def ws_option_names() -> set[str]:
    """Option names the WebSocket layer accepts: the fields of ``WsOptions``."""
    return {f.name for f in dataclasses.fields(WsOptions)}


def check_options(options: dict[str, Any]) -> None:
    """``TypeError`` for any keyword neither the endpoint nor the WebSocket knows."""
    endpoint_names, forwards = _keywords(WebsocketEndpoint.__init__)
    known = endpoint_names - {"url"}
    if forwards:
        known |= ws_option_names()
    unknown = sorted(set(options) - known)
    if unknown:
        hint = "" if "bas_url" not in unknown else " (did you mean base_url?)"
        raise TypeError(f"BinanceEndpoint got unknown option(s) {', '.join(unknown)}{hint}; "
                        f"known: base_url, combined, streams_in_url, record, ..., {', '.join(sorted(known))}")


def liveness_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` plus Binance's liveness rules where the WebSocket layer supports them and
    the caller did not choose otherwise (see module docstring)."""
    names = ws_option_names()
    out = dict(options)
    if out.get("ws") is not None:
        return out  # a whole WsOptions was given: the caller chose every field
    if "ping_interval" in names:
        out.setdefault("ping_interval", None)
    if "idle_timeout" in names:
        out.setdefault("idle_timeout", BINANCE_IDLE_TIMEOUT)
    return out
