"""The inbound frame demultiplexer of :class:`~boomnet.http.h2.H2Connection`.

HTTP/2 frames are walked by their 9-byte headers as bytes arrive (any split). A DATA frame of a
stream the connection wants to read directly (its response headers are known) goes to
``sink.data(sid, chunk)`` — a download's bytes never pass through h2's per-frame machinery; an
empty END_STREAM DATA frame is then handed to h2 so its stream state still ends. Every other
frame (HEADERS, SETTINGS, WINDOW_UPDATE, RST_STREAM, padded DATA, ...) goes to h2 through
``sink.to_h2(bytes)``, in order, and right after each GOAWAY frame (so h2's GOAWAY handling runs
before it sees the frames that follow; see the connection's module doc). Frames for h2 that are
waiting are always handed over before a directly-read DATA frame, so nothing of one stream can
overtake another part of it.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["FrameDemux", "Sink"]

_DATA, _GOAWAY = 0x0, 0x7
_END_STREAM, _PADDED = 0x1, 0x8


class Sink(Protocol):
    def wants(self, sid: int) -> bool:
        """Read stream ``sid``'s DATA directly (called before each DATA frame)?"""

    def data(self, sid: int, chunk: memoryview) -> None:
        """Directly-read DATA bytes of ``sid`` (valid during the call)."""

    def to_h2(self, data: bytes) -> None:
        """Frames (whole or in parts, in order) for h2."""


class FrameDemux:
    __slots__ = ("_sink", "_left", "_type", "_head", "_fast", "_out")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._left = 0  # payload bytes of the current frame still to come
        self._type = 0
        self._head = bytearray()  # a partial frame header
        self._fast: tuple[int, int] | None = None  # (stream id, flags) of a directly-read DATA frame
        self._out: list[bytes] = []  # for h2, in order

    def feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        out = self._out
        sink = self._sink
        while pos < end:
            left = self._left
            if left:
                step = left if left < end - pos else end - pos
                fast = self._fast
                if fast is not None:
                    sink.data(fast[0], data[pos : pos + step])
                else:
                    out.append(bytes(data[pos : pos + step]))
                pos += step
                self._left = left = left - step
                if left == 0:
                    self._frame_done()
                continue
            head = self._head
            take = min(9 - len(head), end - pos)
            head += data[pos : pos + take]
            pos += take
            if len(head) < 9:
                break
            header = bytes(head)
            head.clear()
            length = int.from_bytes(header[:3], "big")
            ftype, flags = header[3], header[4]
            sid = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            direct = False
            if ftype == _DATA and sid and not flags & _PADDED and sink.wants(sid):
                if out:
                    self.flush()  # h2's frames first: the stream's earlier parts may be among them
                direct = sink.wants(sid)
            if direct:
                self._fast = (sid, flags)
            else:
                self._fast = None
                out.append(header)
            self._type = ftype
            self._left = length
            if length == 0:
                self._frame_done()
        self.flush()

    def _frame_done(self) -> None:
        fast = self._fast
        if fast is not None:
            self._fast = None
            sid, flags = fast
            if flags & _END_STREAM:
                # h2 must still see the stream end: an empty DATA frame with END_STREAM
                self._out.append(b"\x00\x00\x00\x00\x01" + sid.to_bytes(4, "big"))
        elif self._type == _GOAWAY:
            self.flush()

    def flush(self) -> None:
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self._sink.to_h2(data)
