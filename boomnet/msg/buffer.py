"""The receive buffer under a message connection: one reusable bytearray, read into in place.

Work here happens once per read, never per message: make room (compact, or grow to fit the
partial frame whose size the codec announced), hand out the free space as a memoryview for
``recv_into``, record what arrived. Decoded messages are memoryviews into this buffer, valid
until the next :meth:`RecvBuffer.write_view` (the next read) — the same contract as WebSocket
frame payloads.

The buffer grows only to a size the codec has *validated* (``need``): a hostile length field is
rejected by the codec before any byte of its frame is buffered.
"""

from __future__ import annotations

__all__ = ["RecvBuffer", "DEFAULT_BUFFER_SIZE", "MIN_FREE"]

DEFAULT_BUFFER_SIZE = 256 * 1024
#: free space guaranteed before each read; at least one TLS record so TLS never holds bytes back
MIN_FREE = 64 * 1024


class RecvBuffer:
    """Bytes received and not yet decoded live in ``_buf[_head:_tail]``; ``need`` is the whole
    size of the partial frame at ``_head`` once the codec knows it (so the buffer can fit it)."""

    __slots__ = ("_buf", "_head", "_initial", "_mv", "_tail", "need")

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE) -> None:
        self._initial = max(size, 2 * MIN_FREE)
        self._buf = bytearray(self._initial)
        self._mv = memoryview(self._buf)
        self._head = 0
        self._tail = 0
        self.need = 0

    def write_view(self) -> memoryview:
        """Free space to read into. Invalidates the message views of the previous batch."""
        head, tail = self._head, self._tail
        if head == tail:
            head = tail = self._head = self._tail = 0
            if len(self._buf) > 4 * self._initial and not self.need:
                self._replace(self._initial, 0, 0)  # give back the memory a huge frame took
        cap = len(self._buf)
        if cap - tail < MIN_FREE or head + self.need > cap:
            used = tail - head
            required = max(self.need, used) + MIN_FREE
            if required > cap:
                self._replace(max(required, 2 * cap), head, tail)
            else:
                self._buf[0:used] = bytes(self._mv[head:tail])  # bytes(): source overlaps target
                self._head, self._tail = 0, used
        return self._mv[self._tail :]

    def _replace(self, size: int, head: int, tail: int) -> None:
        # A new bytearray, not a resize: message views handed out earlier may pin the old one.
        new = bytearray(size)
        used = tail - head
        if used:
            new[0:used] = self._mv[head:tail]
        self._buf, self._mv = new, memoryview(new)
        self._head, self._tail = 0, used

    def commit(self, nbytes: int) -> None:
        """Record that ``nbytes`` were written into the last :meth:`write_view`."""
        self._tail += nbytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` in (tests, replays that hold bytes already)."""
        src = memoryview(data)
        while src.nbytes:
            view = self.write_view()
            n = min(len(view), src.nbytes)
            view[:n] = src[:n]
            self.commit(n)
            src = src[n:]

    def peek(self) -> memoryview:
        """The undecoded bytes (not consumed)."""
        return self._mv[self._head : self._tail]

    def consume(self, nbytes: int) -> None:
        self._head += nbytes

    @property
    def undecoded(self) -> int:
        return self._tail - self._head
