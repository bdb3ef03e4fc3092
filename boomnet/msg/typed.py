"""Typed messages: the user's own ``msgspec.Struct`` classes (or any type msgspec can decode),
as MessagePack or JSON, over a framing codec.

``Typed(Order)`` decodes frames straight into ``Order`` instances, validating types and required
fields (msgspec's compiled decoder: no dicts in between, no per-field Python code). A union of
tagged Structs (``Typed(Order | Cancel)`` with ``Struct, tag=True``) carries several message
kinds on one connection. Framing: MessagePack is length-prefixed (4 bytes, big-endian) by
default, JSON is newline-delimited (msgspec never writes a raw newline inside JSON).

A frame that does not decode, or decodes to the wrong shape, is a :class:`FramingError` (the
messages decoded before it are delivered first); a message that cannot be encoded is an
:class:`InvalidMessage`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from ..errors import FramingError, InvalidMessage, LocalError
from .codec import Buffer, Codec, LengthPrefixed, Lines

__all__ = ["Typed"]

_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}

T = TypeVar("T")


class Typed(Generic[T]):
    """Codec of ``type_`` values encoded as ``format`` (``"msgpack"`` or ``"json"``) inside
    ``framing`` frames (default: 4-byte length prefix for msgpack, lines for JSON)."""

    __slots__ = ("_dec", "_enc", "_frames", "_into", "format", "framing", "type")

    def __init__(self, type_: Any, *, format: str = "msgpack", framing: Codec[Buffer] | None = None) -> None:
        if format == "msgpack":
            self._dec: Any = msgspec.msgpack.Decoder(type_)
            self._enc: Any = msgspec.msgpack.Encoder()
            default: Codec[Buffer] = LengthPrefixed(4)
        elif format == "json":
            self._dec = msgspec.json.Decoder(type_)
            self._enc = msgspec.json.Encoder()
            default = Lines(b"\n", max_line=16 * 1024 * 1024)
        else:
            raise LocalError(f"format must be 'msgpack' or 'json', not {format!r}")
        self.type = type_
        self.format = format
        self.framing: Codec[Buffer] = framing if framing is not None else default
        self._frames: list[Buffer] = []
        # Encoding straight into the send buffer (msgspec's encode_into) when the framing is one
        # of ours: no intermediate bytes object per message.
        self._into: Any = None
        fr = self.framing
        if type(fr) is LengthPrefixed:
            self._into = self._lp_encoder(fr)
        elif type(fr) is Lines and format == "json" and fr.delimiter == b"\n" and not fr.strip_cr:
            self._into = self._lines_encoder(fr)

    def decode(self, data: memoryview, out: list[T]) -> int:
        frames = self._frames
        frames.clear()
        error: FramingError | None = None
        try:
            consumed = self.framing.decode(data, frames)
        except FramingError as e:
            error, consumed = e, 0
        decode = self._dec.decode
        append = out.append
        try:
            for frame in frames:  # one C call per message; an exception only on bad input
                append(decode(frame))
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            frames.clear()
            raise FramingError(f"undecodable {self.format} message: {e}") from e
        frames.clear()
        if error is not None:
            raise error
        return consumed

    def frame_size(self, data: memoryview) -> int:
        return self.framing.frame_size(data)

    def _lp_encoder(self, fr: LengthPrefixed) -> Any:
        width, adj, limit = fr.width, fr._adj, fr.max_size
        pack_into = struct.Struct((">" if fr.byteorder == "big" else "<") + _FORMATS[width]).pack_into
        encode_into, zeros, name = self._enc.encode_into, bytes(width), self.format

        def encode(msg: Any, out: bytearray) -> None:
            start = len(out)
            out += zeros  # the length, filled in below
            try:
                encode_into(msg, out, start + width)
            except (TypeError, ValueError, OverflowError) as e:
                del out[start:]
                raise InvalidMessage(f"cannot encode {type(msg).__name__} as {name}: {e}") from e
            size = len(out) - start - width
            if size > limit:
                del out[start:]
                raise InvalidMessage(f"encoded message of {size} bytes exceeds max_size={limit}")
            pack_into(out, start, size + adj)

        return encode

    def _lines_encoder(self, fr: Lines) -> Any:
        limit, encode_into, name = fr.max_line, self._enc.encode_into, self.format

        def encode(msg: Any, out: bytearray) -> None:
            start = len(out)
            try:
                encode_into(msg, out, -1)  # JSON never holds a raw newline: no delimiter check needed
            except (TypeError, ValueError, OverflowError) as e:
                del out[start:]
                raise InvalidMessage(f"cannot encode {type(msg).__name__} as {name}: {e}") from e
            if len(out) - start > limit:
                del out[start:]
                raise InvalidMessage(f"encoded line of {len(out) - start} bytes exceeds max_line={limit}")
            out += b"\n"

        return encode

    def encode(self, msg: T, out: bytearray) -> Sequence[Buffer] | None:
        into = self._into
        if into is not None:
            into(msg, out)
            return None
        try:
            payload = self._enc.encode(msg)
        except (TypeError, ValueError, OverflowError) as e:
            raise InvalidMessage(f"cannot encode {type(msg).__name__} as {self.format}: {e}") from e
        return self.framing.encode(payload, out)
