"""Sans-I/O message codecs: find frame boundaries in received bytes, and encode frames.

A codec never touches a socket. It is handed the undecoded bytes of a connection and appends
every *whole* message they hold to a list; it says how many bytes the partial frame at the front
will need (so the receive buffer can fit it); it encodes a message into a caller's bytearray, or
returns the frame as parts for a vectored write when the payload is large enough that copying it
would cost more than an extra iovec.

The contract of :class:`Codec`:

* ``decode(data, out) -> consumed``: append each whole message at the front of ``data`` to
  ``out`` and return the bytes they took. Messages may be memoryviews into ``data`` (zero copy:
  valid until the connection's next read, as WebSocket frame payloads are). A malformed or
  oversized frame raises :class:`~boomnet.errors.FramingError` /
  :class:`~boomnet.errors.FrameTooLarge` *after* the messages before it were appended, so the
  connection delivers them before it closes. A length field is checked against ``max_size``
  as soon as it is readable: a hostile size never makes the buffer grow.
* ``frame_size(data) -> int``: the whole size of the frame beginning at ``data[0]`` if its header
  is complete (validated), else a lower bound (> ``len(data)``). Called once per batch, only
  when a partial frame is left over.
* ``encode(msg, out) -> parts | None``: append the frame to ``out`` and return ``None``, or for a
  payload of at least ``vector_min`` bytes, append nothing and return the frame as parts
  (``bytes`` payloads are then sent without a copy; mutable ones are copied once, because the
  caller may reuse them as soon as ``send`` returns). A message that cannot be encoded raises
  :class:`~boomnet.errors.InvalidMessage` and nothing is appended.

Why our own framing rather than a library: these are a few lines of ``struct`` each, and no
library decodes straight out of a reusable receive buffer without copying.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from ..errors import FrameTooLarge, FramingError, InvalidMessage, LocalError

__all__ = ["Buffer", "Codec", "LengthPrefixed", "Lines", "DEFAULT_MAX_SIZE", "DEFAULT_VECTOR_MIN"]

_pack_lp: Callable[..., int] | None
_split_lp: Callable[..., tuple[int, int, int]] | None
try:  # the optional C fast path (see _speedups.c); BOOMNET_PURE_PYTHON=1 forces pure Python
    if os.environ.get("BOOMNET_PURE_PYTHON"):
        raise ImportError("disabled by BOOMNET_PURE_PYTHON")
    from ._speedups import pack_lp as _pack_lp
    from ._speedups import split_lp as _split_lp
except ImportError:  # pragma: no cover - depends on the build
    _pack_lp = _split_lp = None

#: whether the C fast path of :class:`LengthPrefixed` is in use
SPEEDUPS = _split_lp is not None

#: what a connection accepts as a payload to send: any contiguous bytes-like object
Buffer = bytes | bytearray | memoryview

M = TypeVar("M")

#: default frame limit of the built-in codecs (16 MiB), as the WebSocket limits
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: payloads this large are written vectored (header + payload) instead of copied into one buffer
DEFAULT_VECTOR_MIN = 64 * 1024


class Codec(Protocol[M]):
    """What a :class:`~boomnet.msg.Connection` needs from a codec (see the module docstring)."""

    def decode(self, data: memoryview, out: list[M]) -> int: ...

    def frame_size(self, data: memoryview) -> int: ...

    def encode(self, msg: M, out: bytearray) -> Sequence[Buffer] | None: ...


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: "the default limit": 16 MiB, or the length field's maximum if that is smaller
DEFAULT = _Default()

_LENGTH_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def owned(payload: Buffer) -> Buffer:
    """``payload`` if immutable, else a copy (queued payloads must not change under us)."""
    if type(payload) is bytes:
        return payload
    try:
        return memoryview(payload).tobytes()  # not bytes(): that would encode a str, or zero-fill for an int
    except TypeError:
        raise InvalidMessage(f"a payload must be bytes-like, not {type(payload).__name__}") from None


class LengthPrefixed:
    """``[length][payload]`` frames with a ``width``-byte unsigned length (1, 2, 4 or 8).

    ``byteorder``: ``"big"`` (network order, default) or ``"little"``. ``includes_header``: the
    length counts its own bytes too (some venues' framing); by default it counts the payload only.
    ``max_size``: the largest payload accepted or sent (default 16 MiB, or the field's maximum
    for 1- and 2-byte lengths; on by default, checked before buffering; ``None`` means the
    width's own maximum). Messages decode as memoryviews.
    """

    __slots__ = ("_adj", "_pack", "_unpack", "byteorder", "encode", "includes_header", "max_size", "vector_min", "width")

    #: ``encode(msg, out)`` (see :class:`Codec`): a closure over the limits, built in ``__init__``
    encode: Callable[[Buffer, bytearray], Sequence[Buffer] | None]

    def __init__(
        self,
        width: int = 4,
        *,
        byteorder: str = "big",
        includes_header: bool = False,
        max_size: int | None | _Default = DEFAULT,
        vector_min: int = DEFAULT_VECTOR_MIN,
    ) -> None:
        if width not in _LENGTH_FORMATS:
            raise LocalError(f"width must be 1, 2, 4 or 8, not {width!r}")
        if byteorder not in ("big", "little"):
            raise LocalError(f"byteorder must be 'big' or 'little', not {byteorder!r}")
        adj = width if includes_header else 0
        field_max = (1 << (8 * width)) - 1 - adj
        if max_size is None:
            max_size = field_max
        elif isinstance(max_size, _Default):
            max_size = min(DEFAULT_MAX_SIZE, field_max)
        if not 0 < max_size <= field_max:
            raise LocalError(f"max_size must be in 1..{field_max} for a {width}-byte length, not {max_size!r}")
        if vector_min < 1:
            raise LocalError("vector_min must be positive")
        fmt = (">" if byteorder == "big" else "<") + _LENGTH_FORMATS[width]
        self.width = width
        self.byteorder = byteorder
        self.includes_header = includes_header
        self.max_size = max_size
        self.vector_min = vector_min
        self._unpack = struct.Struct(fmt).unpack_from
        self._pack = struct.Struct(fmt).pack
        self._adj = adj
        self.encode = self._make_encoder()

    def decode(self, data: memoryview, out: list[Buffer]) -> int:
        if _split_lp is not None:
            pos, status, value = _split_lp(data if type(data) is memoryview else memoryview(data),
                                           self.width, self.byteorder == "big", self._adj, self.max_size, out)
            if status == 1:
                raise self._too_large(value)
            if status:
                raise self._too_small(value)
            return int(pos)
        return self._decode_py(data, out)

    def _decode_py(self, data: memoryview, out: list[Buffer]) -> int:
        # Hot path: locals, one unpack and one slice per message, no exception unless malformed.
        n = len(data)
        pos = 0
        hs = self.width
        adj = self._adj
        limit = self.max_size
        unpack = self._unpack
        append = out.append
        while n - pos >= hs:
            (size,) = unpack(data, pos)
            size -= adj
            if size > limit:
                raise self._too_large(size)
            if size < 0:
                raise self._too_small(size + adj)
            start = pos + hs
            end = start + size
            if end > n:
                break
            append(data[start:end])
            pos = end
        return pos

    def _too_large(self, size: int) -> FrameTooLarge:
        return FrameTooLarge(f"frame of {size} bytes exceeds max_size={self.max_size}")

    def _too_small(self, raw: int) -> FramingError:
        return FramingError(f"length field {raw} is smaller than the {self.width}-byte length itself")

    def frame_size(self, data: memoryview) -> int:
        hs = self.width
        if len(data) < hs:
            return hs
        (raw,) = self._unpack(data, 0)
        size = raw - self._adj
        if size > self.max_size:
            raise self._too_large(size)
        if size < 0:
            raise self._too_small(raw)
        return int(hs + size)

    def encode_many(self, msgs: Sequence[Buffer], start: int, out: bytearray) -> int:
        """Append frames for ``msgs[start:]`` while they are small ``bytes``/``bytearray``
        payloads (the C fast path); returns the index of the first one left for :meth:`encode`
        (``start`` when the fast path is unavailable)."""
        if _pack_lp is None or not isinstance(msgs, (list, tuple)):
            return start
        return int(_pack_lp(msgs, start, out, self.width, self.byteorder == "big", self._adj, self.max_size, self.vector_min))

    def _make_encoder(self) -> Callable[[Buffer, bytearray], Sequence[Buffer] | None]:
        # The send hot path: a closure over the limits (no attribute lookups per message).
        pack, adj, limit, vmin, width = self._pack, self._adj, self.max_size, self.vector_min, self.width
        view_type = memoryview

        def encode(msg: Buffer, out: bytearray) -> Sequence[Buffer] | None:
            if type(msg) is view_type:
                size = msg.nbytes  # len() of a wide or multi-dimensional view counts items, not bytes
            else:
                try:
                    size = len(msg)
                except TypeError:
                    raise InvalidMessage(f"a payload must be bytes-like, not {type(msg).__name__}") from None
            if size > limit:
                raise InvalidMessage(f"payload of {size} bytes exceeds max_size={limit}")
            if size >= vmin:
                return (pack(size + adj), owned(msg))
            out += pack(size + adj)
            try:
                out += msg
            except TypeError:  # no contiguous buffer (a str, a strided view): undo the header
                del out[-width:]
                raise InvalidMessage(f"a payload must be bytes-like, not {type(msg).__name__}") from None
            return None

        return encode


class Lines:
    """Delimiter-framed messages (``b"\\n"`` by default); a message is the bytes before the
    delimiter (the delimiter is stripped; ``strip_cr`` also drops one trailing ``\\r``).

    ``max_line``: the longest line accepted or sent (default 64 KiB, on by default): a partial
    line already longer fails with :class:`FrameTooLarge` without waiting for its end. Sending a
    payload that contains the delimiter raises :class:`InvalidMessage` (it would split in two).
    """

    __slots__ = ("_dlen", "_search", "delimiter", "max_line", "strip_cr")

    def __init__(self, delimiter: bytes = b"\n", *, max_line: int = 64 * 1024, strip_cr: bool = False) -> None:
        if not isinstance(delimiter, bytes) or not delimiter:
            raise LocalError("delimiter must be non-empty bytes")
        if max_line < 1:
            raise LocalError(f"max_line must be positive, not {max_line!r}")
        self.delimiter = delimiter
        self.max_line = max_line
        self.strip_cr = strip_cr
        # re searches any buffer in place: no copy of the received bytes to find delimiters
        self._search = re.compile(re.escape(delimiter)).search
        self._dlen = len(delimiter)

    def decode(self, data: memoryview, out: list[Buffer]) -> int:
        search = self._search
        dlen = self._dlen
        limit = self.max_line
        strip = self.strip_cr
        append = out.append
        pos = 0
        n = len(data)
        while True:
            m = search(data, pos, min(n, pos + limit + dlen + (1 if strip else 0)))
            if m is None:
                if n - pos > limit + (1 if strip else 0) + dlen - 1:
                    raise FrameTooLarge(f"line longer than max_line={limit} without a delimiter")
                return pos
            end = m.start()
            stop = end - 1 if strip and end > pos and data[end - 1] == 13 else end
            if stop - pos > limit:
                raise FrameTooLarge(f"line of {stop - pos} bytes exceeds max_line={limit}")
            append(data[pos:stop])
            pos = end + dlen

    def frame_size(self, data: memoryview) -> int:
        if len(data) > self.max_line + (1 if self.strip_cr else 0) + self._dlen - 1:
            raise FrameTooLarge(f"line longer than max_line={self.max_line} without a delimiter")
        return len(data) + 1

    def encode(self, msg: Buffer, out: bytearray) -> Sequence[Buffer] | None:
        if type(msg) is memoryview:
            if not msg.c_contiguous:
                raise InvalidMessage("a line must be a contiguous buffer")
            msg = msg.cast("B")  # one-byte items: len(), slices and msg[-1] then count bytes
        elif not isinstance(msg, (bytes, bytearray)):  # a str would fail in re below
            raise InvalidMessage(f"a line must be bytes-like, not {type(msg).__name__}")
        size = len(msg)
        if size > self.max_line:
            raise InvalidMessage(f"line of {size} bytes exceeds max_line={self.max_line}")
        if self._search(msg) is not None:
            raise InvalidMessage(f"a line must not contain the delimiter {self.delimiter!r}")
        dlen = self._dlen
        if dlen > 1:  # equivalent-mutant: Gt -> GtE, 1 -> 0: a 1-byte delimiter makes the edge the whole line, which holds no delimiter (refused just above)
            # e.g. b"a|" + b"||": the delimiter would be found one byte early
            edge = bytes(msg[-(dlen - 1) :]) + self.delimiter  # equivalent-mutant: Sub -> Add, 1 -> 0: a longer tail gives the same verdict: msg holds no delimiter (refused above), so an early match straddles the end of msg and uses at most its last dlen - 1 bytes
            if edge.find(self.delimiter) < len(edge) - dlen:
                raise InvalidMessage(f"a line must not end in a prefix of the delimiter {self.delimiter!r}")
        if self.strip_cr and size and msg[-1] == 13:
            raise InvalidMessage("a line must not end in \\r when strip_cr is on (it would be stripped)")
        out += msg
        out += self.delimiter
        return None
