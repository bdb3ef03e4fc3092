"""TLS over any stream (kernel TLS: :mod:`boomnet.stream.ktls`).

:class:`TlsStream` verifies by default (certifi bundle + system store, host name check, SNI).
Ciphertext moves through memory BIOs by default: one ``recv`` takes every record that arrived
(into 32 KiB, doubling up to 256 KiB while a transfer fills it), and no call is made that can
only say "nothing" (an empty BIO is not read; a recv that did not fill the buffer emptied the
socket). ``memory_bio=False`` gives the socket to the engine (two ``recv`` per record, one more
per read); kTLS always runs so. Memory mode measured better for latency, idle polls and bulk
alike (``perf/tls_modes.py``, ``perf/run.py``, ``perf/h2_bench.py``). The handshake advances in
non-blocking :meth:`TlsStream.establish` calls; contexts come from :func:`tls_context` (cached).

The end of a TLS stream is reported in three ways (all after every byte before it was read):

* the peer's ``close_notify``: :class:`~boomnet.errors.ConnectionClosed` (a clean close);
* the transport ended without ``close_notify``: :class:`~boomnet.errors.TruncatedStream` (a
  ``ConnectionClosed`` subclass), so a protocol can refuse data whose end is the EOF (an HTTP
  body without a length) when an attacker or a middlebox may have cut it;
* a reset: :class:`~boomnet.errors.ConnectionReset`.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from ..errors import ConnectionClosed, ConnectTimeout, LocalError, NetworkError, TlsError, TruncatedStream
from .base import Buffer, Bytes, Stream
from .options import TlsOptions
from .socket_stream import SocketStream
from .tls_contexts import require_pyopenssl, tls_context
from .tls_engines import Engine, make_engine
from .write_queue import WriteQueue

__all__ = ["TlsStream", "DEFAULT_BACKEND", "tls_context", "tls_options"]

log = logging.getLogger(__name__)

#: perf/tls_backends.py (loopback, 2 shared cores): bulk 256 KiB reads are a tie within noise
#: (stdlib/pyOpenSSL 0.9-1.15x), 1 KiB reads favour stdlib 1.2-1.5x (pyOpenSSL pays cffi per call).
DEFAULT_BACKEND = "stdlib"

#: memory mode's ciphertext buffer: it starts small (an idle or small-message connection holds
#: 32 KiB, two full records) and doubles, up to the maximum, each time a recv fills it (a bulk
#: transfer then reads up to 16 records per syscall)
_CIPHER_START, _CIPHER_MAX = 32 * 1024, 256 * 1024

_HANDSHAKE, _READY, _CLOSED = 0, 1, 2


def tls_options(options: TlsOptions | None, overrides: dict[str, Any]) -> TlsOptions:
    """``options`` with ``overrides`` applied (a misspelt keyword is a ``TypeError``)."""
    if options is None:
        return TlsOptions(**overrides)
    return options.replace(**overrides) if overrides else options


class TlsStream(Stream):
    """TLS client over ``inner``, configured by one :class:`~boomnet.stream.options.TlsOptions`
    (``options``, with keyword ``overrides`` of its fields).

    ``server_hostname`` (default: ``options.server_hostname``) is checked against the certificate
    and sent as SNI (IP literals are checked against IP SANs and not sent); verification needs
    one, so an empty or missing name is a :class:`~boomnet.errors.LocalError` here.
    ``ca_file``/``cadata`` add trust anchors; ``verify=False`` turns verification off (and logs a
    warning each time). ``alpn`` lists the protocols offered; :attr:`alpn_protocol` is the one
    chosen. ``backend`` is ``"stdlib"`` or ``"pyopenssl"`` (:class:`~boomnet.errors.MissingExtra`
    if pyOpenSSL is not installed).
    """

    __slots__ = (
        "_cipher_view",
        "_deadline",
        "_direct",
        "_engine",
        "_eof",
        "_ktls",
        "_more",
        "_out",
        "_state",
        "inner",
        "options",
        "server_hostname",
    )

    def __init__(
        self,
        inner: Stream,
        server_hostname: str | None = None,
        options: TlsOptions | None = None,
        **overrides: Any,
    ):
        opts = tls_options(options, overrides)
        host = server_hostname if server_hostname is not None else opts.server_hostname
        if opts.verify and not host:
            # Without a name, OpenSSL would accept any certificate from a trusted CA.
            raise LocalError("server_hostname is required when verifying certificates")
        if opts.backend == "pyopenssl":
            require_pyopenssl()  # MissingExtra now, not at the first connect
        if not opts.verify:
            log.warning(
                "TLS certificate verification is DISABLED for %r (verify=False): "
                "the connection is open to interception", host
            )
        self.inner = inner
        self.server_hostname = host or None  # "" means none (ssl refuses an empty SNI name)
        #: the options this stream runs with
        self.options = opts
        self._ktls = False
        self._engine: Engine | None = None
        self._state = _HANDSHAKE
        self._direct = False
        self._deadline = 0.0
        self._out = WriteQueue()  # plaintext the engine has not taken yet
        self._cipher_view = memoryview(b"")
        self._more = False  # recv_into stopped on a full buffer: there may be more without I/O
        self._eof: NetworkError | None = None  # how the stream ended; raised by every later call

    @property
    def backend(self) -> str:
        return self.options.backend

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
            raise self._eof or ConnectionClosed("TLS stream is closed")
        try:
            return self._advance_handshake()
        except NetworkError:
            self.close()
            raise

    def _advance_handshake(self) -> bool:
        engine = self._engine
        if engine is None:
            if not self.inner.establish() or not self.inner.flush():
                return False
            engine = self._start_engine()
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

    def _start_engine(self) -> Engine:
        # kTLS needs the TLS object on the socket (the kernel takes the record layer from it)
        sock = None if self.options.memory_bio and not self._ktls else self._direct_socket()
        self._direct = sock is not None
        engine = self._engine = self._new_engine(sock)
        if not self._direct:
            self._cipher_view = memoryview(bytearray(_CIPHER_START))
        self._deadline = time.monotonic() + self.options.handshake_timeout
        return engine

    def _new_engine(self, sock: socket.socket | None) -> Engine:
        """The TLS engine for this stream: on ``sock`` (direct mode) or, with ``None``, over memory
        BIOs. The one override point for a subclass with another engine (the server side:
        :mod:`boomnet.stream.tls_server`); everything else (handshake pumping, reads, pending
        writes, the end of the stream) stays here. Errors must be :class:`TlsError`."""
        opts = self.options
        ctx = tls_context(opts, ktls=self._ktls)  # cached: normally built off-thread by prepare()
        return make_engine(opts.backend, ctx, self.server_hostname, sock, opts.verify)

    def _direct_socket(self) -> socket.socket | None:
        inner = self.inner
        return inner.socket if isinstance(inner, SocketStream) else None

    def _handshake_done(self) -> None:
        self._state = _READY
        engine = self._engine
        # memory mode: the handshake's last recv may have brought the peer's first records too;
        # they wait in the BIO, and no readiness event will come for them: poll once more
        self._more = engine is not None and engine.held() > 0
        if engine is not None and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "TLS to %r ready: %s via %s (%s), alpn=%r", self.server_hostname, engine.version(),
                self.backend, "direct" if self._direct else "memory BIO", engine.alpn(),
            )
        if self._out.nbytes:
            self.flush()

    # --- I/O ----------------------------------------------------------------------------------

    def recv_into(self, buf: Buffer) -> int:
        """Decrypted bytes available now into ``buf`` (0 if none); reads record after record while
        any are available and ``buf`` has room. The end of the stream is raised (see the module
        docstring), only after every byte before it was returned."""
        engine = self._engine
        if self._state != _READY or engine is None:
            if not self.establish():  # raises how the stream ended, if it has
                return 0
            engine = self._engine
            assert engine is not None
        try:
            if not self._direct:
                return self._recv_memory(engine, buf)
            # SSL_read returns at most one record: read on (records already decrypted, then the
            # socket) until the buffer is full or nothing is left, so a protocol parses a whole
            # burst per call. It costs one empty SSL_read per call that did not fill the buffer.
            total, end = engine.fill(buf)
            if end is not None:
                self._ended(end)  # deliver the bytes read so far; raise on the next call
            self._more = total == len(buf)
            return total
        except NetworkError as e:
            self._ended(e)
            raise

    def _recv_memory(self, engine: Engine, buf: Buffer) -> int:
        # Ciphertext first, decryption after, and no call that can only say "nothing": the
        # engine is asked only when it holds something (see StdlibEngine.fill), and a recv that
        # did not fill the ciphertext buffer found the socket empty, so no second recv follows
        # (it would only return EAGAIN; what arrives meanwhile is the next call's). An idle
        # poll is one recv; a small message one recv and one SSL_read; a bulk read one recv
        # per 256 KiB of ciphertext.
        size = len(buf)
        view = memoryview(buf)
        total = 0
        chunk = len(self._cipher_view)
        emptied = False
        read = False  # whether the engine read records (only that can make it answer)
        try:
            while True:
                if engine.pending() or engine.held():
                    read = True
                    n, end = engine.fill(view[total:] if total else view)
                    total += n
                    if end is not None:
                        self._ended(end)  # deliver what we have; raise on the next call
                        return total
                    if total >= size:
                        break
                if emptied:
                    break
                fed = self._feed_from_inner()
                if not fed:
                    break
                emptied = fed < chunk
                if not emptied and chunk < _CIPHER_MAX:  # a bulk transfer: bigger recvs from now on
                    chunk *= 2
                    self._cipher_view = memoryview(bytearray(chunk))
        except NetworkError as e:
            if not total:
                raise
            self._ended(e)  # deliver what we have; raise on the next call
            return total
        self._more = total == size
        if read and engine.has_outgoing():
            self._send_outgoing(flush=True)  # post-handshake messages (key updates, ...)
        return total

    def _ended(self, e: NetworkError) -> None:
        self._eof = e
        self._state = _CLOSED

    def _feed_from_inner(self, during_handshake: bool = False) -> int:
        """Move one read of ciphertext from the inner stream into the engine."""
        view = self._cipher_view
        try:
            n = self.inner.recv_into(view)
        except ConnectionClosed as e:
            if during_handshake:
                raise TlsError(
                    f"peer closed the connection during the TLS handshake with {self.server_hostname!r}"
                ) from e
            if type(e) is ConnectionClosed:  # a clean transport EOF, but no close_notify came first
                raise TruncatedStream(
                    f"TLS peer {self.server_hostname!r} closed the connection without close_notify"
                ) from e
            raise
        if n:
            engine = self._engine
            assert engine is not None
            engine.feed(view[:n])
        return n

    def _send_outgoing(self, flush: bool = False) -> None:
        engine = self._engine
        data = engine.outgoing() if engine is not None else b""
        if data:
            self.inner.write(data)
            if flush:
                self.inner.flush()  # e.g. a BufferedStream inner must not sit on handshake bytes

    def write(self, data: Bytes) -> None:
        """Encrypt and send what the transport takes now; the rest stays pending, in order."""
        engine = self._engine
        if self._out.nbytes or self._state != _READY or engine is None:
            if self._state == _CLOSED:
                raise self._eof or ConnectionClosed("TLS stream is closed")
            self._out.append(data)
            if self._state == _READY:
                self.flush()
            return
        n = engine.write(data)
        if n < len(data):
            # The engine must be offered these very bytes again (OpenSSL's retry rule); a copy
            # is fine because OpenSSL is told the buffer may move.
            self._out.append(memoryview(data)[n:])
        if not self._direct:
            self._send_outgoing()

    def flush(self) -> bool:
        """Push pending plaintext through TLS and pending ciphertext out; ``True`` when all sent."""
        engine = self._engine
        if self._state != _READY or engine is None:
            if self._state == _CLOSED:
                raise self._eof or ConnectionClosed("TLS stream is closed")
            return False
        out = self._out
        write = engine.write
        while out.nbytes:
            n = write(out.head())
            if n == 0 or out.consume(n):
                break
        if self._direct:
            return not out.nbytes
        self._send_outgoing()
        return self.inner.flush() and not out.nbytes

    @property
    def pending(self) -> int:  # type: ignore[override]  # a class attribute in Stream
        return self._out.nbytes + (0 if self._direct else self.inner.pending)

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
        """The negotiated protocol version (``None`` before the handshake)."""
        return self._engine.version() if self._engine is not None and self._state == _READY else None

    @property
    def direct(self) -> bool:
        """``True`` when TLS runs straight on the socket (no memory BIOs)."""
        return self._direct

    def close(self) -> None:
        """Send close_notify (best effort, never blocking; also in answer to the peer's) or a
        pending alert, and close the inner stream."""
        engine = self._engine
        if engine is not None:
            if self._state == _READY or type(self._eof) is ConnectionClosed:
                engine.shutdown()
            if not self._direct:  # close_notify, or the alert of a failure (bad record, bad cert)
                try:
                    self._send_outgoing(flush=True)
                    self._discard_unread()
                except NetworkError:
                    pass
        self._state = _CLOSED
        self.inner.close()

    def _discard_unread(self) -> None:
        # A socket closed with unread input makes the kernel send RST and drop what it had not
        # yet sent -- our last writes and the close_notify. A TLS 1.3 server's session tickets
        # come after the handshake and a client that only sends never reads them. In direct mode
        # the engine's shutdown reads them off the socket; here they are read and dropped
        # (bounded, never blocking: this is close()).
        view = self._cipher_view  # set when memory mode started (close() calls this only then)
        for _ in range(16):
            if not self.inner.recv_into(view):
                return

    def __repr__(self) -> str:
        state = ("handshaking", "ready", "closed")[self._state]
        return f"<{type(self).__name__} {self.server_hostname!r} {self.backend} {state} over {self.inner!r}>"
