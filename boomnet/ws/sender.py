"""The send side of :class:`~boomnet.ws.WebSocket`: frames out, masked, in one write each."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from ..errors import ConnectionClosed
from .encoder import MaskKeys, encode_frame
from .frame import OPEN, Opcode

if TYPE_CHECKING:  # pragma: no cover
    from ..stream.base import Stream

__all__ = ["Sender"]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION


class Sender:
    """Mixed into :class:`~boomnet.ws.WebSocket`. A write the transport cannot take now stays
    pending in the stream and leaves on the next flush; nothing is dropped."""

    _stream: "Stream"
    _state: int
    _mask_keys: MaskKeys | None
    _sending_fragments: bool
    _write_error: ConnectionClosed | None

    def _raise_not_open(self) -> NoReturn:  # pragma: no cover - provided by WebSocket
        raise NotImplementedError

    def _send(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool) -> None:
        keys = self._mask_keys
        self._stream.write(encode_frame(opcode, payload, fin, keys.next() if keys is not None else None))

    def _send_data(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool) -> None:
        if self._state != OPEN:
            self._raise_not_open()
        if self._sending_fragments:
            opcode = _CONT
        self._sending_fragments = not fin
        self._send(opcode, payload, fin)

    def send_text(self, data: str | bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a text frame (``fin=False`` starts or continues a fragmented message)."""
        self._send_data(_TEXT, data.encode("utf-8") if isinstance(data, str) else data, fin)

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a binary frame (``fin=False`` starts or continues a fragmented message)."""
        self._send_data(_BINARY, data, fin)

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ping (≤ 125 bytes)."""
        self._send_control(Opcode.PING, data)

    def send_pong(self, data: bytes = b"") -> None:
        """Send a pong (≤ 125 bytes); unsolicited pongs are allowed by RFC 6455 §5.5.3."""
        self._send_control(Opcode.PONG, data)

    def _send_control(self, opcode: Opcode, data: bytes) -> None:
        if len(data) > 125:
            raise ValueError("control frame payloads are limited to 125 bytes")
        if self._state != OPEN:
            self._raise_not_open()
        self._send(opcode, data, True)

    def _send_quietly(self, opcode: Opcode, payload: bytes) -> None:
        """A write of the client's own (pong, close echo) that must not cost the current batch."""
        try:
            self._send(opcode, payload, True)
        except ConnectionClosed as exc:
            self._write_error = exc
