"""permessage-deflate (RFC 7692), receive side: the offer, the response check, and inflation.

boomnet offers the extension only when asked (``WebSocket(..., compression="deflate")``): market
data is small and latency-bound, and compression costs CPU on both ends. When it is negotiated,
compressed messages from the server are inflated; boomnet's own messages go out uncompressed,
which RFC 7692 §6 allows (RSV1 is per message), so no compressor state is ever kept.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ..errors import HandshakeError, MessageTooBig, WebSocketProtocolError

__all__ = ["DeflateParams", "OFFER", "parse_response_extensions", "Inflater"]

#: what the client offers; client_max_window_bits lets the server name a window (we never compress)
OFFER = "permessage-deflate; client_max_window_bits"
_TRAILER = b"\x00\x00\xff\xff"  # removed by the sender from each message (RFC 7692 §7.2.1)


@dataclass(frozen=True)
class DeflateParams:
    """What the server accepted."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or not 8 <= int(value) <= 15 or value != str(int(value)):
        raise HandshakeError(f"permessage-deflate: bad {name} value {value!r}")
    return int(value)


def parse_response_extensions(header: str | None, offered: bool) -> DeflateParams | None:
    """Validate the server's ``Sec-WebSocket-Extensions``: ``None`` (no extension) or the accepted
    permessage-deflate parameters. Anything the client did not offer fails the handshake."""
    if header is None or not header.strip():
        return None
    extensions = [e.strip() for e in header.split(",")]
    if not offered or len(extensions) != 1:
        raise HandshakeError(f"server chose extensions the client did not offer: {header!r}")
    name, *raw_params = [p.strip() for p in extensions[0].split(";")]
    if name.lower() != "permessage-deflate":
        raise HandshakeError(f"server chose an extension the client did not offer: {name!r}")
    seen: dict[str, str | None] = {}
    for raw in raw_params:
        key, eq, value = raw.partition("=")
        key = key.strip().lower()
        val: str | None = value.strip().strip('"') if eq else None
        if key in seen:
            raise HandshakeError(f"permessage-deflate: duplicate parameter {key!r}")
        seen[key] = val
    flags: dict[str, bool] = {}
    bits: dict[str, int] = {}
    for key, val in seen.items():
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if val is not None:
                raise HandshakeError(f"permessage-deflate: {key} takes no value")
            flags[key] = True
        elif key in ("server_max_window_bits", "client_max_window_bits"):
            bits[key] = _window_bits(key, val)
        else:
            raise HandshakeError(f"permessage-deflate: unknown parameter {key!r}")
    return DeflateParams(
        server_no_context_takeover=flags.get("server_no_context_takeover", False),
        client_no_context_takeover=flags.get("client_no_context_takeover", False),
        server_max_window_bits=bits.get("server_max_window_bits", 15),
        client_max_window_bits=bits.get("client_max_window_bits", 15),
    )


class Inflater:
    """Inflates the compressed messages of one connection, within a size budget per message.

    A 15-bit window inflates streams made with any smaller window, so the negotiated
    ``server_max_window_bits`` needs no special handling here.
    """

    __slots__ = ("_produced", "_reset_each_message", "_zlib")

    def __init__(self, params: DeflateParams) -> None:
        self._reset_each_message = params.server_no_context_takeover
        self._zlib = zlib.decompressobj(-15)
        self._produced = 0

    def inflate(self, data: bytes | bytearray | memoryview, fin: bool, budget: int) -> bytes:
        """Inflate the next piece of a message. ``budget`` is the most the *whole* message may
        inflate to (``max_message_size``): beyond it, :class:`MessageTooBig` (a deflate bomb is
        stopped after ``budget + 1`` bytes, not after exhausting memory)."""
        room = budget - self._produced  # >= 0: the previous piece stayed within the budget
        inflate = self._zlib.decompress
        try:
            # max_length = room + 1 (never 0, which zlib reads as "unlimited"): one byte over is proof enough
            out = inflate(data, room + 1)
            if len(out) <= room and fin:
                out += inflate(_TRAILER, room + 1 - len(out))
        except zlib.error as exc:
            raise WebSocketProtocolError(f"permessage-deflate: corrupt compressed data ({exc})") from exc
        if len(out) > room or self._zlib.unconsumed_tail:
            raise MessageTooBig(f"compressed message inflates beyond max_message_size={budget}")
        self._produced += len(out)
        if fin:
            self._produced = 0
            if self._reset_each_message:
                self._zlib = zlib.decompressobj(-15)
        return out
