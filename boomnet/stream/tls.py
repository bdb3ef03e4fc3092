"""TLS over any stream, and kernel TLS where the kernel offers it.

:class:`TlsStream` verifies by default (certifi bundle + system store, host name check, SNI).
Over a socket stream the TLS engine owns the descriptor (direct path, no extra copies); over any
other stream ciphertext is pumped through memory BIOs. The handshake advances inside
non-blocking :meth:`TlsStream.establish` calls, after the inner stream's own ``establish``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from typing import Any, Iterable

from ..errors import ConnectionClosed, ConnectTimeout, KtlsUnavailable, NetworkError, TlsError
from .base import Buffer, Stream
from .socket_stream import SocketStream
from .tls_engines import BACKENDS, make_engine

__all__ = ["TlsStream", "KtlsStream", "DEFAULT_BACKEND"]

log = logging.getLogger(__name__)

#: perf/tls_backends.py (loopback, 2 shared cores): bulk 256 KiB reads are a tie within noise
#: (stdlib/pyOpenSSL 0.9-1.15x), 1 KiB reads favour stdlib 1.2-1.5x (pyOpenSSL pays cffi per call).
DEFAULT_BACKEND = "stdlib"

_CIPHER_CHUNK = 256 * 1024  # ciphertext read size in memory mode: a few records per syscall
_TCP_ULP = 31  # getsockopt(IPPROTO_TCP, TCP_ULP) names the upper-layer protocol, b"tls" for kTLS

_HANDSHAKE, _READY, _CLOSED = 0, 1, 2


class TlsStream(Stream):
    """TLS client over ``inner``.

    ``server_hostname`` is checked against the certificate and sent as SNI (IP literals are checked
    against IP SANs and not sent). ``ca_file``/``cadata`` add trust anchors; ``verify=False`` turns
    verification off (and logs a warning each time). ``alpn`` is a list of protocol names offered;
    :attr:`alpn_protocol` is the one chosen. ``backend`` is ``"stdlib"`` or ``"pyopenssl"``.
    """

    __slots__ = (
        "inner",
        "server_hostname",
        "backend",
        "_options",
        "_ktls",
        "_engine",
        "_state",
        "_direct",
        "_deadline",
        "_handshake_timeout",
        "_out",
        "_out_bytes",
        "_cipher",
        "_cipher_view",
        "_more",
        "_eof",
    )

    def __init__(
        self,
        inner: Stream,
        server_hostname: str | None,
        *,
        ca_file: str | None = None,
        cadata: str | bytes | None = None,
        verify: bool = True,
        alpn: Iterable[str] | None = None,
        backend: str | None = None,
        handshake_timeout: float = 10.0,
    ):
        backend = backend or DEFAULT_BACKEND
        if backend not in BACKENDS:
            raise ValueError(f"unknown TLS backend {backend!r}; choose one of {BACKENDS}")
        if verify and not server_hostname:
            raise TlsError("server_hostname is required when verifying certificates")
        if not verify:
            log.warning(
                "TLS certificate verification is DISABLED for %r (verify=False): "
                "the connection is open to interception", server_hostname
            )
        self.inner = inner
        self.server_hostname = server_hostname
        self.backend = backend
        self._options = dict(
            verify=verify,
            ca_file=ca_file,
            cadata=cadata,
            alpn=tuple(alpn or ()),
        )
        self._ktls = False
        self._engine: Any = None
        self._state = _HANDSHAKE
        self._direct = False
        self._deadline = 0.0
        self._handshake_timeout = handshake_timeout
        self._out: deque[memoryview] = deque()  # plaintext the engine has not taken yet
        self._out_bytes = 0
        self._cipher: bytearray | None = None
        self._cipher_view: memoryview | None = None
        self._more = False  # recv_into stopped on a full buffer: there may be more without I/O
        self._eof: NetworkError | None = None  # EOF seen after bytes were delivered; raised next

    # --- establishing -------------------------------------------------------------------------

    def establish(self) -> bool:
        """Advance the inner stream's establish, then the TLS handshake; ``True`` once ready.

        Raises :class:`CertificateError` (rejected certificate), :class:`TlsError` (other TLS
        failures) or :class:`ConnectTimeout` (``handshake_timeout`` passed).
        """
        state = self._state
        if state == _READY:
            return True
        if state == _CLOSED:
            raise ConnectionClosed("TLS stream is closed")
        try:
            return self._advance_handshake()
        except NetworkError:
            self.close()
            raise

    def _advance_handshake(self) -> bool:
        if self._engine is None:
            if not self.inner.establish() or not self.inner.flush():
                return False
            self._start_engine()
        engine = self._engine
        for _ in range(8):  # a few pump rounds per call; never a loop without bound
            done = engine.handshake()
            if not self._direct:
                self._send_outgoing(flush=True)
                if not done and self._feed_from_inner(during_handshake=True):
                    continue
            if done:
                self._handshake_done()
                return True
            break
        if time.monotonic() >= self._deadline:
            raise ConnectTimeout(f"TLS handshake with {self.server_hostname!r} timed out")
        return False

    def _start_engine(self) -> None:
        sock = self._direct_socket()
        self._direct = sock is not None
        self._engine = make_engine(self.backend, self.server_hostname, sock, ktls=self._ktls, **self._options)
        if not self._direct:
            self._cipher = bytearray(_CIPHER_CHUNK)
            self._cipher_view = memoryview(self._cipher)
        self._deadline = time.monotonic() + self._handshake_timeout

    def _direct_socket(self) -> socket.socket | None:
        inner = self.inner
        return inner.socket if isinstance(inner, SocketStream) else None

    def _handshake_done(self) -> None:
        self._state = _READY
        log.debug(
            "TLS to %r ready: %s via %s (%s), alpn=%r", self.server_hostname, self._engine.version(),
            self.backend, "direct" if self._direct else "memory BIO", self._engine.alpn(),
        )
        if self._out:
            self.flush()

    # --- I/O ----------------------------------------------------------------------------------

    def recv_into(self, buf: Buffer) -> int:
        """Decrypted bytes available now into ``buf`` (0 if none); reads record after record while
        any are available and ``buf`` has room."""
        if self._state != _READY:
            if self._eof is not None:
                raise self._eof
            if self._state == _CLOSED:
                raise ConnectionClosed("TLS stream is closed")
            if not self.establish():
                return 0
        try:
            if not self._direct:
                return self._recv_memory(buf)
            read = self._engine.read_into
            total = read(buf)  # SSL_read returns at most one record
            size = len(buf)
            if total == 0 or total == size:
                self._more = total == size
                return total
            # Venues send one small message per TLS record: read on (records already decrypted,
            # then the socket) until the buffer is full or nothing is left, so a protocol parses a
            # whole burst per call. It costs one empty SSL_read per call that found data.
            view = memoryview(buf)
            while total < size:
                try:
                    n = read(view[total:])
                except NetworkError as e:
                    self._eof = e  # deliver the bytes read so far; raise on the next call
                    self._state = _CLOSED
                    return total
                if not n:
                    break
                total += n
            self._more = total == size
            return total
        except NetworkError:
            self._state = _CLOSED
            raise

    def _recv_memory(self, buf: Buffer) -> int:
        engine = self._engine
        read = engine.read_into
        size = len(buf)
        view = memoryview(buf)
        total = 0
        try:
            while total < size:
                n = read(view[total:])
                if n:
                    total += n
                elif not self._feed_from_inner():
                    break
        except NetworkError as e:
            if not total:
                raise
            self._eof = e  # deliver what we have; raise on the next call
            self._state = _CLOSED
            return total
        self._more = total == size
        if engine.has_outgoing():
            self._send_outgoing(flush=True)  # post-handshake messages (key updates, ...)
        return total

    def _feed_from_inner(self, during_handshake: bool = False) -> int:
        """Move one read of ciphertext from the inner stream into the engine."""
        try:
            n = self.inner.recv_into(self._cipher_view)
        except ConnectionClosed as e:
            if during_handshake:
                raise TlsError(f"peer closed the connection during the TLS handshake with {self.server_hostname!r}") from e
            raise
        if n:
            self._engine.feed(self._cipher_view[:n])
        return n

    def _send_outgoing(self, flush: bool = False) -> None:
        data = self._engine.outgoing()
        if data:
            self.inner.write(data)
            if flush:
                self.inner.flush()  # e.g. a BufferedStream inner must not sit on handshake bytes

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send what the transport takes now; the rest stays pending, in order."""
        if self._out or self._state != _READY:
            if self._state == _CLOSED:
                raise self._eof or ConnectionClosed("TLS stream is closed")
            chunk = memoryview(bytes(data))
            self._out.append(chunk)
            self._out_bytes += chunk.nbytes
            if self._state == _READY:
                self.flush()
            return
        n = self._engine.write(data)
        if n < len(data):
            # The engine must be offered these very bytes again (OpenSSL's retry rule); a copy
            # is fine because OpenSSL is told the buffer may move.
            chunk = memoryview(bytes(memoryview(data)[n:]))
            self._out.append(chunk)
            self._out_bytes += chunk.nbytes
        if not self._direct:
            self._send_outgoing()

    def flush(self) -> bool:
        """Push pending plaintext through TLS and pending ciphertext out; ``True`` when all sent."""
        if self._state != _READY:
            if self._state == _CLOSED:
                raise self._eof or ConnectionClosed("TLS stream is closed")
            return False
        out = self._out
        write = self._engine.write
        while out:
            head = out[0]
            n = write(head)
            if n == 0:
                break
            self._out_bytes -= n
            if n < head.nbytes:
                out[0] = head[n:]
                break
            out.popleft()
        if self._direct:
            return not out
        self._send_outgoing()
        return self.inner.flush() and not out

    @property
    def pending(self) -> int:  # type: ignore[override]
        return self._out_bytes + (0 if self._direct else self.inner.pending)

    def buffered(self) -> int:
        """Decrypted bytes held by the TLS object (at least 1 if a full read may have left more)."""
        engine = self._engine
        if engine is None:
            return 0
        n = engine.pending()
        return n if n or not self._more else 1

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def closed(self) -> bool:
        return self._state == _CLOSED

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol the server selected (``None`` before the handshake or if none)."""
        return self._engine.alpn() if self._engine is not None and self._state == _READY else None

    @property
    def tls_version(self) -> str | None:
        return self._engine.version() if self._engine is not None else None

    @property
    def direct(self) -> bool:
        """``True`` when TLS runs straight on the socket (no memory BIOs)."""
        return self._direct

    def close(self) -> None:
        """Send close_notify (best effort, never blocking) and close the inner stream."""
        if self._state == _READY and self._engine is not None:
            self._engine.shutdown()
            if not self._direct:
                try:
                    self._send_outgoing()
                except NetworkError:
                    pass
        self._state = _CLOSED
        self.inner.close()

    def __repr__(self) -> str:
        state = ("handshaking", "ready", "closed")[self._state]
        return f"<{type(self).__name__} {self.server_hostname!r} {self.backend} {state} over {self.inner!r}>"


class KtlsStream(TlsStream):
    """TLS with kernel offload (kTLS) when the kernel and OpenSSL provide it.

    OpenSSL is asked for kTLS (``SSL_OP_ENABLE_KTLS``); after the handshake the socket's upper-layer
    protocol tells whether the kernel took over. If not: ``require=False`` (default) logs the
    fallback once and behaves exactly as :class:`TlsStream`; ``require=True`` raises
    :class:`KtlsUnavailable`.
    """

    __slots__ = ("require", "ktls_active")

    _fallback_logged = False

    def __init__(self, inner: Stream, server_hostname: str | None, *, require: bool = False, **options: Any):
        super().__init__(inner, server_hostname, **options)
        if require and not isinstance(inner, SocketStream):
            raise KtlsUnavailable("kernel TLS needs a socket stream directly underneath")
        self._ktls = True
        self.require = require
        #: whether the kernel does the record layer (known after the handshake)
        self.ktls_active = False

    def _handshake_done(self) -> None:
        reason = self._ktls_missing()
        self.ktls_active = reason is None
        if reason is not None:
            if self.require:
                raise KtlsUnavailable(f"kernel TLS unavailable for {self.server_hostname!r}: {reason}")
            if not KtlsStream._fallback_logged:
                KtlsStream._fallback_logged = True
                log.warning("kernel TLS unavailable (%s); falling back to user-space TLS", reason)
            else:
                log.debug("kernel TLS unavailable (%s); user-space TLS", reason)
        super()._handshake_done()

    def _ktls_missing(self) -> str | None:
        """Why the kernel did not take the TLS record layer, or ``None`` if it did."""
        if not self._direct:
            return "the inner stream is not a socket"
        sock = self.inner.socket  # type: ignore[attr-defined]
        try:
            ulp = sock.getsockopt(socket.IPPROTO_TCP, _TCP_ULP, 16)
        except OSError as e:
            return f"TCP_ULP not readable ({e.strerror or e})"
        if ulp.rstrip(b"\0").startswith(b"tls"):
            return None
        return "the kernel did not accept the tls upper-layer protocol (is the 'tls' module loaded?)"
