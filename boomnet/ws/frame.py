"""WebSocket frame model: opcodes, the reusable ``Frame`` record, close-code rules (RFC 6455 §5, §7.4)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Opcode", "Frame", "is_valid_close_code", "CloseCode"]

# WebSocket connection states (the state machine of protocol.py; the two first are the driver's handshake)
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
    """Every close code RFC 6455 §7.4.1 and the IANA registry define in 1000-1015.

    ``NO_STATUS_RCVD`` (1005), ``ABNORMAL_CLOSURE`` (1006) and ``TLS_HANDSHAKE`` (1015) are
    never sent on the wire: they are what a local API reports (no code in the peer's close; the
    connection ended without a close; TLS failed). 3000-3999 are registered by libraries and
    frameworks, 4000-4999 private: valid on the wire, not listed here.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: codes that must never appear in a close frame (§7.4.1): API-only, or reserved (1004)
_NOT_ON_WIRE = frozenset((1004, CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE))


class Frame:
    """One received frame (or, with message assembly on, one whole message).

    **Zero-copy contract.** ``payload`` is a memoryview into the connection's receive buffer,
    valid only until the next ``read_batch()`` (or ``decode()``): after that the same memory
    holds other bytes, and a view kept too long silently shows them. Frame objects are pooled
    and reused the same way. Call :meth:`bytes` or :meth:`text` to keep the data. With
    ``WsOptions(debug_views=True)`` (or ``BOOMNET_DEBUG_VIEWS=1``) every payload is released at
    the next read, so a held ``frame.payload`` raises ``ValueError`` instead of lying (a slice
    taken from it is a view of its own and is not caught).
    """

    __slots__ = ("fin", "opcode", "payload")

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
    if CloseCode.NORMAL <= code <= CloseCode.BAD_GATEWAY:
        return code not in _NOT_ON_WIRE
    return 3000 <= code <= 4999
