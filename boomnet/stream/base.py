"""The stream interface every layer above uses.

A stream is a non-blocking byte pipe. The contract (every implementation honours it):

* ``recv_into(buf)`` reads what is available *now* into ``buf`` (a writable buffer, usually a
  memoryview slice of a protocol's reusable buffer) and returns the byte count. It returns ``0``
  when nothing is available now and never blocks. It raises :class:`~boomnet.errors.ConnectionClosed`
  (or a subclass) on EOF or reset, only after every byte before the EOF was returned. A *clean*
  end is a plain ``ConnectionClosed`` (TCP FIN; over TLS: the peer's ``close_notify``);
  :class:`~boomnet.errors.TruncatedStream` (TLS EOF without ``close_notify``) and
  :class:`~boomnet.errors.ConnectionReset` (RST) mean the data may be incomplete.
* ``write(data)`` hands bytes to the stream. It sends what the transport takes now and keeps the
  rest pending, in order; no byte is ever dropped. ``flush()`` retries the pending bytes and returns
  ``True`` once nothing is pending. ``pending`` is the number of bytes still waiting.
* ``establish()`` advances a non-blocking connect or handshake one step and returns ``True`` once
  the stream is ready for I/O (already-ready streams return ``True`` at once). It raises a
  :class:`~boomnet.errors.NetworkError` subclass if establishing failed or its deadline passed.
* ``buffered()`` is the number of inbound bytes already taken off the transport but not yet
  returned by ``recv_into`` (e.g. decrypted TLS bytes); a readiness selector must poll a stream with
  ``buffered() > 0`` even if its descriptor is not readable.
* ``read_hint()`` is non-zero when the stream must be polled again without new readiness
  (``buffered()``, ``pending``, or closed); it is the one method a selector asks.
* ``fileno()`` is the descriptor a selector waits on (``-1`` for streams without one).
* ``close()`` releases the transport; it is idempotent.

:class:`ByteStream` states this contract as a ``typing.Protocol``: layers above (WebSocket, HTTP,
msg) type their transport against it, so any object with these methods works, inheriting from
:class:`Stream` or not. :class:`Stream` is the convenience base class of boomnet's own streams.

Composition is by wrapping: each wrapper takes any ``Stream`` as its inner stream. The fluent
helpers below (``into_tls``, ``into_recorded``, ...) build the wrapper around ``self``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from .buffered import BufferedStream
    from .ktls import KtlsStream
    from .options import TlsOptions
    from .recorded import RecordedStream
    from .tls import TlsStream

__all__ = ["Stream", "ByteStream", "Buffer", "Bytes"]

#: a writable buffer ``recv_into`` fills (``collections.abc.Buffer`` is Python 3.12+)
Buffer = bytearray | memoryview
#: bytes handed to ``write`` (never kept by the stream past the call: pending bytes are copied)
Bytes = bytes | bytearray | memoryview


@runtime_checkable
class ByteStream(Protocol):
    """The byte-stream contract above (structural: any object with these members is one)."""

    def recv_into(self, buf: Buffer) -> int: ...

    def write(self, data: Bytes) -> None: ...

    def flush(self) -> bool: ...

    def establish(self) -> bool: ...

    def buffered(self) -> int: ...

    def read_hint(self) -> int: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...

    @property
    def pending(self) -> int: ...

    @property
    def closed(self) -> bool: ...


class Stream:
    """Base class of all streams. Subclasses override the I/O methods."""

    __slots__ = ()

    #: bytes accepted by ``write`` but not yet handed to the transport. A plain class attribute
    #: (not a property) so that simple streams may keep it as an instance attribute; boomnet's
    #: own streams override it with a read-only property.
    pending: int = 0

    # --- I/O ----------------------------------------------------------------------------------

    def recv_into(self, buf: Buffer) -> int:  # pragma: no cover - abstract
        """Read available bytes into ``buf``; ``0`` if none now. Raises ``ConnectionClosed`` on EOF."""
        raise NotImplementedError

    def write(self, data: Bytes) -> None:  # pragma: no cover - abstract
        """Send what the transport takes now and keep the rest pending (in order)."""
        raise NotImplementedError

    def flush(self) -> bool:  # pragma: no cover - abstract
        """Retry pending bytes; ``True`` once nothing is pending."""
        raise NotImplementedError

    def establish(self) -> bool:
        """Advance connect/handshake without blocking; ``True`` once ready for I/O."""
        return True

    def buffered(self) -> int:
        """Inbound bytes held inside the stream, not yet returned by ``recv_into``."""
        return 0

    def fileno(self) -> int:
        """Descriptor to wait on, or ``-1``."""
        return -1

    def read_hint(self) -> int:
        """``> 0`` when a selector must poll this stream again without new readiness: inbound
        bytes held inside it, outbound bytes pending, or a close it has yet to report (see
        :class:`boomnet.service.target.Target`)."""
        return self.buffered() or self.pending or (1 if self.closed else 0)

    def close(self) -> None:
        """Release the transport. Idempotent."""

    @property
    def closed(self) -> bool:  # pragma: no cover - overridden
        return False

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol the TLS layer under (or at) this stream negotiated; ``None`` for a
        stream without TLS (wrappers forward it, so a protocol sees it through a recorder)."""
        return None

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- composition --------------------------------------------------------------------------

    def into_tls(
        self, server_hostname: str | None = None, options: TlsOptions | None = None, **overrides: Any
    ) -> TlsStream:
        """Wrap this stream in TLS (verification on by default; see :class:`TlsStream`).

        ``overrides`` are :class:`~boomnet.stream.options.TlsOptions` fields (a misspelt one is a
        ``TypeError`` here)."""
        from .tls import TlsStream

        return TlsStream(self, server_hostname, options, **overrides)

    def into_ktls(
        self,
        server_hostname: str | None = None,
        options: TlsOptions | None = None,
        *,
        require: bool = False,
        **overrides: Any,
    ) -> KtlsStream:
        """Wrap this stream in TLS with kernel offload where possible (see :class:`KtlsStream`)."""
        from .ktls import KtlsStream

        return KtlsStream(self, server_hostname, options, require=require, **overrides)

    def into_recorded(self, name: str, **options: Any) -> RecordedStream:
        """Record this stream's traffic under ``name`` (see :class:`RecordedStream`; its
        constructor checks the keywords, so a misspelt one is a ``TypeError``)."""
        from .recorded import RecordedStream

        return RecordedStream(self, name, **options)

    def into_buffered(self, capacity: int = 64 * 1024) -> BufferedStream:
        """Coalesce writes until ``flush`` (see :class:`BufferedStream`)."""
        from .buffered import BufferedStream

        return BufferedStream(self, capacity)
