"""WebSocket frame model: opcodes, the reusable ``Frame`` record, close-code rules (RFC 6455 §5, §7.4)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Opcode", "Frame", "is_valid_close_code", "CloseCode"]

# WebSocket connection states (the client's state machine, client.py)
CONNECTING, HANDSHAKE, OPEN, CLOSING, CLOSED = range(5)
STATE_NAMES = ("CONNECTING", "HANDSHAKE", "OPEN", "CLOSING", "CLOSED")


class Opcode(IntEnum):
    """RFC 6455 opcodes (§5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    """Close codes boomnet itself sends (§7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


class Frame:
    """One received frame (or, with message assembly on, one whole message).

    ``payload`` is a memoryview into the connection's receive buffer: zero-copy, and valid only
    until the next ``read_batch()``. Call :meth:`bytes` or :meth:`text` to keep the data.
    Frame objects are pooled and reused by the decoder; do not keep references across reads.
    """

    __slots__ = ("opcode", "fin", "payload")

    def __init__(self, opcode: Opcode = Opcode.TEXT, fin: bool = True, payload: memoryview | None = None):
        self.opcode = opcode
        self.fin = fin
        self.payload = payload if payload is not None else memoryview(b"")

    def bytes(self) -> bytes:
        """A copy of the payload that outlives the next read."""
        return bytes(self.payload)

    def text(self) -> str:
        """The payload decoded as UTF-8 (a copy)."""
        return str(self.payload, "utf-8")

    def __repr__(self) -> str:
        n = len(self.payload)
        preview = bytes(self.payload[:32])
        return f"Frame({self.opcode.name}, fin={self.fin}, {n} bytes, {preview!r}{'...' if n > 32 else ''})"


def is_valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (§7.4.1, §7.4.2, IANA registry)."""
    if 1000 <= code <= 1014:
        # 1004 is reserved; 1005 and 1006 must never appear on the wire.
        return code not in (1004, 1005, 1006)
    return 3000 <= code <= 4999
