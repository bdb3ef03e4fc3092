"""The outbound byte queue shared by the socket and TLS streams.

A write the transport does not take at once is copied **once** into the queue (the caller may
reuse its buffer as soon as ``write`` returns) and sent later, in order. The queue holds
memoryviews, so consuming a partial send is a slice, never a re-copy of what is left (no
quadratic behaviour under a slow reader). ``nbytes`` is a plain attribute because the hot path
reads it on every write.
"""

from __future__ import annotations

from collections import deque

from .base import Bytes

__all__ = ["WriteQueue"]


class WriteQueue:
    """Pending outbound bytes, in order."""

    __slots__ = ("_chunks", "nbytes")

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        #: bytes queued and not yet consumed
        self.nbytes = 0

    def append(self, data: Bytes) -> None:
        """Queue a copy of ``data`` (an empty write is ignored)."""
        chunk = memoryview(bytes(data))
        if chunk.nbytes:
            self._chunks.append(chunk)
            self.nbytes += chunk.nbytes

    def head(self) -> memoryview:
        """The oldest chunk (the queue must not be empty)."""
        return self._chunks[0]

    def views(self, limit: int) -> list[memoryview]:
        """Up to ``limit`` chunks from the head, for one vectored send."""
        chunks = self._chunks
        if len(chunks) <= limit:
            return list(chunks)
        return [chunks[i] for i in range(limit)]

    def consume(self, n: int) -> bool:
        """Drop the first ``n`` bytes (they were sent); ``True`` if that ended inside a chunk
        (the transport took less than it was offered)."""
        self.nbytes -= n
        chunks = self._chunks
        while n:
            head = chunks[0]
            size = head.nbytes
            if n >= size:
                n -= size
                chunks.popleft()
            else:
                chunks[0] = head[n:]
                return True
        return False

    def clear(self) -> None:
        self._chunks.clear()
        self.nbytes = 0
