"""The receive buffer under a framing decoder (WebSocket frames, message codecs): one reusable
bytearray, read into in place. Sans-I/O: it never reads a socket itself.

Work here happens once per read, never per frame: make room (compact, or grow to fit the partial
frame whose size the decoder announced in ``need``), hand out the free space as a memoryview for
``recv_into``, record what arrived. Decoded payloads are memoryviews into this buffer, valid until
the next :meth:`ReceiveBuffer.write_view` (the next read).

The buffer grows only to a size the decoder has *validated* (``need``): a hostile length field is
rejected by the decoder before any byte of its frame is buffered. After a huge frame, the first
read that finds the buffer empty gives the memory back (the initial size again).
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer", "DEFAULT_BUFFER_SIZE", "MIN_FREE"]

DEFAULT_BUFFER_SIZE = 256 * 1024
#: free space guaranteed before each read; at least one TLS record (and a memory-BIO read of
#: several), so TLS never holds decrypted bytes back for want of room
MIN_FREE = 64 * 1024


class ReceiveBuffer:
    """Bytes received and not yet decoded live in ``_buf[_head:_tail]``; ``need`` is the whole
    size of the partial frame at ``_head`` once the decoder knows it (so the buffer can fit it)."""

    __slots__ = ("_buf", "_head", "_initial", "_mv", "_stream_offset", "_tail", "need")

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE) -> None:
        self._initial = max(size, 2 * MIN_FREE)
        self._buf = bytearray(self._initial)
        self._mv = memoryview(self._buf)
        self._head = 0  # first undecoded byte
        self._tail = 0  # end of received bytes
        self.need = 0
        self._stream_offset = 0  # stream position of _head (advances as bytes are consumed)

    def write_view(self) -> memoryview:
        """Free space to read into: compacts or grows the buffer so at least ``MIN_FREE`` is free
        and a known partial frame fits. Invalidates the payload views of the previous batch."""
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
        # A new bytearray, not a resize: payload views handed out earlier may pin the old one.
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
        """Copy ``data`` in (tests, and replays that hold bytes already)."""
        src = memoryview(data).cast("B")
        while src.nbytes:
            view = self.write_view()
            n = min(len(view), src.nbytes)
            view[:n] = src[:n]
            self.commit(n)
            src = src[n:]

    @property
    def undecoded(self) -> int:
        """Bytes received but not yet decoded (a partial frame, or input after a violation)."""
        return self._tail - self._head

    @property
    def received(self) -> int:
        """Bytes received since the buffer was created (liveness compares it between checks, so
        the read path never needs the clock)."""
        return self._stream_offset + self._tail - self._head

    def consume(self, nbytes: int) -> None:
        """Drop ``nbytes`` from the front of the undecoded bytes (e.g. an HTTP response head)."""
        self._head += nbytes
        self._stream_offset += nbytes

    def peek(self) -> memoryview:
        """View of the undecoded bytes without consuming them."""
        return self._mv[self._head : self._tail]
