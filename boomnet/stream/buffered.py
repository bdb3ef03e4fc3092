"""Write coalescing: gather many small writes and hand them to the inner stream in one go."""

from __future__ import annotations

from ..errors import LocalError, NetworkError
from .base import Bytes, Stream
from .wrapper import WrappingStream

__all__ = ["BufferedStream"]


class BufferedStream(WrappingStream):
    """``write`` appends to a buffer without sending; ``flush`` (or exceeding ``capacity``) sends it.

    Reads pass straight through. Useful to batch a burst of small messages (subscriptions, orders)
    into one TCP segment / TLS record.
    """

    __slots__ = ("_buf", "capacity")

    def __init__(self, inner: Stream, capacity: int = 64 * 1024):
        super().__init__(inner)
        if capacity <= 0:
            raise LocalError(f"capacity must be positive, not {capacity!r}")
        self.capacity = capacity
        self._buf = bytearray()

    def write(self, data: Bytes) -> None:
        buf = self._buf
        if len(buf) + len(data) <= self.capacity:
            buf += data
            return
        self._hand_over()
        if len(data) > self.capacity:
            self.inner.write(data)  # too big to be worth buffering: pass it on as is
        else:
            buf += data

    def _hand_over(self) -> None:
        buf = self._buf
        if buf:
            self.inner.write(buf)  # the inner stream copies whatever it cannot send now
            buf.clear()

    def flush(self) -> bool:
        """Hand the buffer to the inner stream and flush it; ``True`` once nothing is pending."""
        self._hand_over()
        return self.inner.flush()

    @property
    def pending(self) -> int:  # type: ignore[override]  # a class attribute in Stream
        return len(self._buf) + self.inner.pending

    def close(self) -> None:
        """Best-effort flush of buffered bytes, then close the inner stream."""
        try:
            if self._buf and not self.inner.closed:
                self.flush()
        except NetworkError:  # closing must not fail because the peer is gone
            pass
        self.inner.close()
