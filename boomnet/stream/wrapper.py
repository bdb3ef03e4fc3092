"""Base of streams that wrap another stream and pass everything through by default."""

from __future__ import annotations

from .base import Buffer, Bytes, Stream

__all__ = ["WrappingStream"]


class WrappingStream(Stream):
    """Delegates every operation to ``inner``; subclasses override what they change."""

    __slots__ = ("inner",)

    def __init__(self, inner: Stream):
        self.inner = inner

    def recv_into(self, buf: Buffer) -> int:
        return self.inner.recv_into(buf)

    def write(self, data: Bytes) -> None:
        self.inner.write(data)

    def flush(self) -> bool:
        return self.inner.flush()

    @property
    def pending(self) -> int:  # type: ignore[override]  # a class attribute in Stream
        return self.inner.pending

    def establish(self) -> bool:
        return self.inner.establish()

    def buffered(self) -> int:
        return self.inner.buffered()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def alpn_protocol(self) -> str | None:
        return self.inner.alpn_protocol

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.inner!r}>"
