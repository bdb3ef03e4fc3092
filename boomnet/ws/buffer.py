"""The receive buffer under the WebSocket decoder: one reusable bytearray, read into in place.

Work here happens once per read, never per frame: make room (compact, or grow for a frame larger
than the buffer), hand out the free space as a memoryview for ``recv_into``, record what arrived.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer", "DEFAULT_BUFFER_SIZE", "MIN_FREE"]

DEFAULT_BUFFER_SIZE = 256 * 1024
#: free space guaranteed before each read; ≥ one TLS record so TLS never holds decrypted bytes back
MIN_FREE = 64 * 1024


class ReceiveBuffer:
    """Bytes received and not yet decoded live in ``_buf[_head:_tail]``; ``_need`` is the total size
    of the partial frame at ``_head`` once its header is known (so the buffer can grow to fit it)."""

    def __init__(self, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        self._initial_size = max(buffer_size, 2 * MIN_FREE)
        self._buf = bytearray(self._initial_size)
        self._mv = memoryview(self._buf)
        self._head = 0  # first undecoded byte
        self._tail = 0  # end of received bytes
        self._need = 0
        self._stream_offset = 0  # stream position of _head (advances as bytes are consumed)

    def write_view(self) -> memoryview:
        """Free space to read into: compacts or grows the buffer so at least ``MIN_FREE`` is free
        and a known partial frame fits. Invalidates the payload views of the previous batch."""
        head, tail = self._head, self._tail
        if head == tail:
            head = tail = self._head = self._tail = 0
            if len(self._buf) > 4 * self._initial_size and not self._need:
                self._replace_buffer(self._initial_size, 0, 0)
        cap = len(self._buf)
        if cap - tail < MIN_FREE or head + self._need > cap:
            used = tail - head
            required = max(self._need, used) + MIN_FREE
            if required > cap:
                self._replace_buffer(max(required, 2 * cap), head, tail)
            else:
                # bytes() first: the source overlaps the destination
                self._buf[0:used] = bytes(self._mv[head:tail])
                self._head, self._tail = 0, used
        return self._mv[self._tail :]

    def _replace_buffer(self, size: int, head: int, tail: int) -> None:
        # A new bytearray rather than a resize: views handed out earlier may still pin the old one.
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
        """Copy ``data`` into the buffer (for tests and replays that hold bytes already)."""
        data = memoryview(data)
        while data:
            view = self.write_view()
            n = min(len(view), len(data))
            view[:n] = data[:n]
            self.commit(n)
            data = data[n:]

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
