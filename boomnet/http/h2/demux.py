"""The inbound frame demultiplexer of :class:`~boomnet.http.h2.H2Connection`.

HTTP/2 frames are walked by their 9-byte headers as bytes arrive (any split). The DATA frames of
a stream whose body the connection reads directly (its response headers are known; the sink's
``body_for`` gives its :class:`~boomnet.http.body.Body`, with capacity for what this read can
hold, and how many more bytes the body limit allows) are copied straight into that body -- a
download's bytes never pass through h2's per-frame machinery; an empty END_STREAM DATA frame is
then handed to h2 so its stream state still ends. Every other frame (HEADERS, SETTINGS,
WINDOW_UPDATE, RST_STREAM, padded DATA, ...) goes to h2 through ``sink.to_h2(bytes)``, in order,
and right after each GOAWAY frame (so h2's GOAWAY handling runs before it sees the frames that
follow; see the connection's module doc). Frames for h2 that are waiting are always handed over
before a directly-read DATA frame (and the stream's body is then asked for again: h2 may have
ended the stream), so nothing of one stream can overtake another part of it.

Why it looks like this: at ~1 GB/s one 8 KiB DATA frame (nginx's default ``http2_chunk_size``)
is a budget of ~8 µs, TLS included, so the common frame costs one ``struct`` unpack, one
comparison and one slice copy in a local loop (the C run loop does the same, one call per
read): the stream's body is bound once per read (not per frame), the body limit is checked per
frame *before* its bytes are copied, and flow-control credit is reported once per read and
stream (``sink.consumed``), never per frame. A binding lives for one :meth:`FrameDemux.feed`
call only, so the connection may end a stream between reads without telling the demultiplexer.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Protocol

from ..body import Body

__all__ = ["FrameDemux", "Sink"]

_DATA, _GOAWAY = 0x0, 0x7
_END_STREAM, _PADDED = 0x1, 0x8
#: one frame header in one call: (length << 8 | type, flags, R bit + stream id)
_HEAD = struct.Struct(">IBI")
_TO_H2, _DIRECT, _DROP = 0, 1, 2  # where the payload of the frame being read goes

_data_run: Callable[[memoryview, int, int, int, bytearray, int, int, int], tuple[int, int]] | None
try:  # the optional C run loop (see _speedups.c); BOOMNET_PURE_PYTHON=1 forces pure Python
    if os.environ.get("BOOMNET_PURE_PYTHON"):
        raise ImportError("disabled by BOOMNET_PURE_PYTHON")
    from ._speedups import data_run as _data_run
except ImportError:  # pragma: no cover - depends on the build
    _data_run = None

#: whether the C run loop of :class:`FrameDemux` is in use
SPEEDUPS = _data_run is not None


class Sink(Protocol):
    def body_for(self, sid: int, most: int) -> tuple[Body, int] | None:
        """Read stream ``sid``'s DATA directly? Its body, with capacity for ``most`` more bytes
        (or all it may still take), and the bytes it may still take (the body limit), or ``None``
        (its frames go to h2). Valid until :meth:`to_h2` is called or the feed ends."""

    def over_limit(self, sid: int) -> None:
        """A DATA frame of ``sid`` would take its body past the limit (nothing of it was appended)."""

    def consumed(self, sid: int, n: int) -> None:
        """``n`` DATA payload bytes of ``sid`` were taken without h2 (flow-control credit is due)."""

    def to_h2(self, data: bytes) -> None:
        """Frames (whole or in parts, in order) for h2."""


class FrameDemux:
    __slots__ = ("_sink", "_max_frame", "_left", "_mode", "_type", "_flags", "_sid", "_head", "_out")

    def __init__(self, sink: Sink, max_frame: int = 16_384) -> None:
        self._sink = sink
        # our SETTINGS_MAX_FRAME_SIZE: a larger DATA frame goes to h2, which fails the connection
        # with FRAME_SIZE_ERROR (RFC 9113 4.2) as it does for every frame it reads
        self._max_frame = max_frame
        # the frame whose payload is being read (split across reads)
        self._left = 0  # payload bytes still to come
        self._mode = _TO_H2
        self._type = 0
        self._flags = 0
        self._sid = 0
        self._head = bytearray()  # a partial frame header
        self._out: list[bytes] = []  # for h2, in order

    def feed(self, data: memoryview) -> None:
        """Walk ``data`` (any cut of the inbound byte stream)."""
        sink = self._sink
        out = self._out
        end = len(data)
        pos = 0
        # bsid/body/room: the stream bound for direct reading, its body and the bytes it may still
        # take; credit: DATA payload bytes of stream csid taken without h2, not yet reported
        bsid, body, room = 0, None, 0
        csid, credit = 0, 0
        left = self._left
        if left:  # the payload of a frame cut by the previous read
            sid, mode = self._sid, self._mode
            step = min(left, end)
            if mode == _TO_H2:
                out.append(bytes(data[:step]))
            else:
                if mode == _DIRECT:
                    # asked again: the connection may have ended the stream between reads. The
                    # limit was checked for the whole frame at its header, and nothing else can
                    # add to this body before the frame's last byte.
                    got = sink.body_for(sid, end)
                    if got is None:
                        mode = _DROP
                    else:
                        bsid, (body, room) = sid, got
                        filled = body.filled
                        body.buf[filled : filled + step] = data[:step]
                        body.filled = filled + step
                        room -= step
                csid, credit = sid, step
            pos = step
            self._left = left = left - step
            self._mode = mode
            if not left:
                self._frame_done(mode)
        unpack = _HEAD.unpack_from
        max_frame = self._max_frame
        while pos < end:  # equivalent-mutant: Lt -> LtE: at the end the header path below finds no byte and stops
            if body is not None and not out:
                # a run of whole DATA frames of the bound stream (a download's bulk): the tightest
                # loop. Any other frame (a cut one, END_STREAM, padding, over the limit or the
                # capacity) leaves it for the general path below, which judges it exactly.
                buf = body.buf
                start = filled = body.filled
                run = _data_run
                if run is not None:  # the same loop in C: one call per read, not ~10 bytecodes a frame
                    pos, filled = run(data, pos, end, bsid, buf, filled, room, max_frame)
                else:
                    fits = min(room, len(buf) - filled)  # equivalent-mutant: Sub -> Add: body_for gave capacity for every byte of this read, so the capacity never binds here (past it, the slice assignment would grow the body with the same bytes)
                    while end - pos >= 9:  # equivalent-mutant: GtE -> Gt, 9 -> 10: a lone 9-byte header is read below alike
                        lt, flags, sid = unpack(data, pos)
                        length = lt >> 8
                        stop = pos + 9 + length
                        if lt & 0xFF or flags & 0x9 or sid != bsid or stop > end or length > fits or length > max_frame:  # equivalent-mutant: Gt -> GtE, 255 -> 256: leaving the loop early only hands the frame to the general path, which applies the exact checks
                            break
                        buf[filled : filled + length] = data[pos + 9 : stop]
                        filled += length
                        fits -= length
                        pos = stop
                body.filled = filled
                room -= filled - start
                credit += filled - start
            head = self._head
            if head or end - pos < 9:  # a header cut by a read: collect its 9 bytes  # equivalent-mutant: Lt -> LtE, 9 -> 10: a whole 9-byte header collected this way is the same header
                take = 9 - len(head)
                head += data[pos : pos + take]
                pos += take  # past the end when the read ends inside the header again: then it stops here
                if len(head) < 9:
                    break
                lt, flags, sid = unpack(head)
                raw: bytes | None = bytes(head)
                head.clear()
            else:
                lt, flags, sid = unpack(data, pos)
                raw = None
                pos += 9
            length = lt >> 8
            sid &= 0x7FFFFFFF
            mode = _TO_H2
            if lt & 0xFF == _DATA and sid and not flags & _PADDED and length <= max_frame:
                if sid != bsid or out:
                    if out:
                        self.flush()  # h2's frames first: the stream's earlier parts may be among them
                    got = sink.body_for(sid, end - pos)  # equivalent-mutant: Sub -> Add: asking capacity for more than this read holds changes only how fast it grows, never past the body's most
                    if got is None:
                        bsid, body = 0, None
                    else:
                        bsid, (body, room) = sid, got
                if body is not None:
                    if sid != csid:
                        if credit:
                            sink.consumed(csid, credit)
                        csid, credit = sid, 0
                    if length > room:
                        sink.over_limit(sid)  # checked before a byte of the frame is appended
                        bsid, body = 0, None
                        mode = _DROP
                    else:
                        mode = _DIRECT
            # the general path: one frame, whole or cut by the end of this read
            step = min(length, end - pos)
            if mode == _TO_H2:
                out.append(raw if raw is not None else bytes(data[pos - 9 : pos]))
                if step:
                    out.append(bytes(data[pos : pos + step]))
            else:
                if mode == _DIRECT:
                    assert body is not None
                    filled = body.filled
                    body.buf[filled : filled + step] = data[pos : pos + step]  # within the capacity body_for gave
                    body.filled = filled + step
                    room -= step
                credit += step
            pos += step
            self._type, self._flags, self._sid, self._mode = lt & 0xFF, flags, sid, mode
            if step < length:
                self._left = length - step
                break
            self._frame_done(mode)
        if credit:
            sink.consumed(csid, credit)
        self.flush()

    def _frame_done(self, mode: int) -> None:
        """A frame ended. (After a directly-read END_STREAM, ``out`` is not empty: the next DATA
        frame hands it to h2 and asks for its stream's body again, so nothing stays bound to an
        ended stream.)"""
        if mode != _TO_H2:
            if self._flags & _END_STREAM:
                self._out.append(b"\x00\x00\x00\x00\x01" + self._sid.to_bytes(4, "big"))
        elif self._type == _GOAWAY:
            self.flush()

    def flush(self) -> None:
        out = self._out
        if out:
            data = b"".join(out)  # one item: that very bytes object, no copy
            out.clear()
            self._sink.to_h2(data)
