"""The send side of the WebSocket I/O driver: the protocol encodes, the stream writes.

Each frame leaves in one ``stream.write``; a write the transport cannot take now stays pending in
the stream and leaves on the next flush, so nothing is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .frame import Opcode

if TYPE_CHECKING:  # pragma: no cover
    from ..stream.base import Stream
    from .protocol import Protocol

__all__ = ["Sender"]

_TEXT, _BINARY, _PING, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG


class Sender:
    """Mixed into the driver (:class:`~boomnet.ws.driver.Driver`)."""

    _stream: Stream
    _proto: Protocol

    def send_text(self, data: str | bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a text frame (``fin=False`` starts or continues a fragmented message)."""
        self._stream.write(self._proto.encode_data(_TEXT, data.encode("utf-8") if isinstance(data, str) else data, fin))

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a binary frame (``fin=False`` starts or continues a fragmented message)."""
        self._stream.write(self._proto.encode_data(_BINARY, data, fin))

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ping (≤ 125 bytes)."""
        self._stream.write(self._proto.encode_control(_PING, data))

    def send_pong(self, data: bytes = b"") -> None:
        """Send a pong (≤ 125 bytes); unsolicited pongs are allowed by RFC 6455 §5.5.3."""
        self._stream.write(self._proto.encode_control(_PONG, data))
