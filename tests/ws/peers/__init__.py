"""Independent WebSocket servers on loopback for interop tests (see :mod:`.base`)."""

from __future__ import annotations

from typing import Any

from .base import (
    BAD_ACCEPT_PATH,
    REJECT_PATH,
    SUBPROTOCOL,
    LoopThread,
    PeerServer,
    SessionRecord,
    command,
    pattern,
    wait_until,
)

LIBRARIES = ("websockets", "aiohttp", "picows")


def start_peer(library: str, loops: LoopThread, ssl_context: Any | None) -> PeerServer:
    """Start ``library``'s server on the shared loop (ws:// or, with ``ssl_context``, wss://)."""
    if library == "websockets":
        from .ws_websockets import WebsocketsPeer as cls
    elif library == "aiohttp":
        from .ws_aiohttp import AiohttpPeer as cls  # type: ignore[assignment]
    elif library == "picows":
        from .ws_picows import PicowsPeer as cls  # type: ignore[assignment]
    else:
        raise ValueError(library)
    server = cls(loops, ssl_context)
    loops.run(server.start())
    return server


__all__ = [
    "LIBRARIES", "start_peer", "LoopThread", "PeerServer", "SessionRecord", "command", "pattern",
    "wait_until", "REJECT_PATH", "BAD_ACCEPT_PATH", "SUBPROTOCOL",
]
