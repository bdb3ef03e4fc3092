"""connect-rs compatible datagrams: ``[u32 size][u16 version][u16 tag][payload]``, big-endian.

The layout, from connect-rs's documentation (each message "prefixed by 8 bytes, containing a
size-prefix (4 bytes), version tag (2 bytes), and recipient tag (2 bytes)"): ``size`` counts
the version, tag and payload — ``4 + len(payload)`` — but not itself; ``version`` is 1; the
payload is 1..100,000,000 bytes.

Two deliberate differences from connect-rs's reader: the size field is checked against
``max_payload`` the moment its 4 bytes are readable (connect-rs buffers first, so a hostile size
makes it allocate), and the version is checked (an unknown version is a :class:`FramingError`,
not a guess).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..errors import FrameTooLarge, FramingError, InvalidMessage, LocalError
from . import codec as _codec
from .codec import DEFAULT_VECTOR_MIN, Buffer, owned

_split_dg: Callable[..., tuple[int, int, int]] | None = None
if _codec.SPEEDUPS:  # the same build switch as LengthPrefixed's fast path
    from ._speedups import split_dg as _split_dg

__all__ = ["Datagram", "DatagramCodec", "VERSION", "MAX_PAYLOAD"]

VERSION = 1
#: connect-rs's payload limit
MAX_PAYLOAD = 100_000_000

_HEADER = struct.Struct(">IHH")
_SIZE = struct.Struct(">I")


class Datagram(NamedTuple):
    """One message: ``tag`` (0..65535, the recipient tag; the application's to interpret) and
    ``data`` (received: a memoryview into the receive buffer, valid until the next read)."""

    tag: int
    data: Buffer


class DatagramCodec:
    """Codec for :class:`Datagram` frames. ``max_payload`` defaults to connect-rs's 100,000,000
    bytes; lower it for untrusted peers (it is enforced before buffering either way)."""

    __slots__ = ("max_payload", "vector_min")

    def __init__(self, *, max_payload: int = MAX_PAYLOAD, vector_min: int = DEFAULT_VECTOR_MIN) -> None:
        if not 1 <= max_payload <= MAX_PAYLOAD:
            raise LocalError(f"max_payload must be in 1..{MAX_PAYLOAD}, not {max_payload!r}")
        if vector_min < 1:
            raise LocalError("vector_min must be positive")
        self.max_payload = max_payload
        self.vector_min = vector_min

    def decode(self, data: memoryview, out: list[Datagram]) -> int:
        if _split_dg is not None:
            pos, status, value = _split_dg(data if type(data) is memoryview else memoryview(data), self.max_payload, out, Datagram)
            if status == 1:
                raise _too_large(value, self.max_payload)
            if status == 2:
                raise _too_small(value)
            if status:
                raise _bad_version(value)
            return int(pos)
        return self._decode_py(data, out)

    def _decode_py(self, data: memoryview, out: list[Datagram]) -> int:
        n = len(data)
        pos = 0
        top = self.max_payload + 4
        unpack = _HEADER.unpack_from
        append = out.append
        while n - pos >= 8:
            size, version, tag = unpack(data, pos)
            if size > top:
                raise _too_large(size - 4, self.max_payload)
            if size < 5:
                raise _too_small(size)
            if version != VERSION:
                raise _bad_version(version)
            end = pos + 4 + size
            if end > n:
                break
            append(Datagram(tag, data[pos + 8 : end]))
            pos = end
        if n - pos >= 4:  # a size alone is enough to refuse a hostile frame before buffering it
            (size,) = _SIZE.unpack_from(data, pos)
            if size > top:
                raise _too_large(size - 4, self.max_payload)
            if size < 5:
                raise _too_small(size)
        return pos

    def frame_size(self, data: memoryview) -> int:
        n = len(data)
        if n < 4:
            return 8
        (size,) = _SIZE.unpack_from(data, 0)
        if size > self.max_payload + 4:
            raise _too_large(size - 4, self.max_payload)
        if size < 5:
            raise _too_small(size)
        if n >= 8:
            _, version, _ = _HEADER.unpack_from(data, 0)
            if version != VERSION:
                raise _bad_version(version)
        return int(4 + size)

    def encode(self, msg: Datagram, out: bytearray) -> Sequence[Buffer] | None:
        try:
            tag, payload = msg
            size = payload.nbytes if type(payload) is memoryview else len(payload)  # bytes, not items
        except (TypeError, ValueError):
            raise InvalidMessage(f"expected Datagram(tag, data), not {type(msg).__name__}") from None
        if type(tag) is not int or not 0 <= tag <= 0xFFFF:
            raise InvalidMessage(f"tag must be an int in 0..65535, not {tag!r}")
        if not 1 <= size <= self.max_payload:
            raise InvalidMessage(f"payload must be 1..{self.max_payload} bytes, not {size}")
        header = _HEADER.pack(size + 4, VERSION, tag)
        if size >= self.vector_min:
            return (header, owned(payload))
        out += header
        try:
            out += payload
        except TypeError:  # a str payload: undo the header
            del out[-8:]
            raise InvalidMessage(f"a payload must be bytes-like, not {type(payload).__name__}") from None
        return None


def _too_large(payload: int, max_payload: int) -> FrameTooLarge:
    return FrameTooLarge(f"datagram payload of {payload} bytes exceeds max_payload={max_payload}")


def _too_small(size: int) -> FramingError:
    return FramingError(f"datagram size {size} is below the minimum 5 (an empty payload)")


def _bad_version(version: int) -> FramingError:
    return FramingError(f"datagram version {version} is not {VERSION}")
