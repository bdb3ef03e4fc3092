"""TLS engines: one small internal interface over stdlib ``ssl`` and pyOpenSSL.

:class:`~boomnet.stream.tls.TlsStream` holds all the stream logic; an engine only wraps one TLS
connection object and translates its errors into :mod:`boomnet.errors`. An engine runs in one of
two modes:

* **direct** — the TLS object owns the socket's descriptor (``SSL_set_fd``): one ``SSL_read``
  per record with no extra copy. Used when the inner stream is a socket stream; required by kTLS.
* **memory** — ciphertext moves through memory BIOs (``feed`` / ``outgoing``), so TLS runs over
  any inner stream (a Unix-socket wrapper, an in-memory replay, ...).

Want-read / want-write conditions are never raised out of an engine: reads return ``0`` and
writes return the number of bytes taken (``0`` = retry the *same* bytes later). The end of the
stream is always raised, never returned: the peer's ``close_notify`` is a plain
:class:`~boomnet.errors.ConnectionClosed`; a transport EOF without it (direct mode) is a
:class:`~boomnet.errors.TruncatedStream`; a reset is a :class:`~boomnet.errors.ConnectionReset`.
(In memory mode the engine never sees the transport's EOF: the inner stream raises it, and
:class:`~boomnet.stream.tls.TlsStream` turns an EOF before ``close_notify`` into a truncation.)
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CertificateError, ConnectionClosed, ConnectionReset, NetworkError, TlsError, TruncatedStream
from .base import Buffer, Bytes
from .tls_contexts import TlsContext, require_pyopenssl

if TYPE_CHECKING:  # pragma: no cover
    from OpenSSL import SSL

__all__ = ["BACKENDS", "Engine", "fill_by_records", "make_engine", "is_ip"]

BACKENDS = ("stdlib", "pyopenssl")


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IP literal (checked against IP SANs, never sent as SNI)."""
    try:
        ipaddress.ip_address(host)  # IPv6 scope ids ("fe80::1%eth0") are understood
        return True
    except ValueError:
        return False


class Engine(Protocol):
    """What :class:`~boomnet.stream.tls.TlsStream` needs from one TLS connection object."""

    name: str
    #: ``True`` on a socket (direct mode), ``False`` over memory BIOs
    direct: bool
    #: decrypted bytes held inside the TLS object
    pending: Callable[[], int]

    def fill(self, buf: Buffer) -> tuple[int, NetworkError | None]:
        """Read record after record into ``buf`` until it is full or nothing is available now.
        Returns the byte count and, when the stream ended right after those bytes, how (to be
        raised once they are delivered); an end found before any byte is raised at once."""
        ...

    def handshake(self) -> bool: ...

    def write(self, data: Bytes) -> int: ...

    def feed(self, data: memoryview) -> None: ...

    def held(self) -> int:
        """Memory mode: ciphertext fed but not yet taken by the TLS object (``1`` when the engine
        cannot tell: then a read is always tried); ``0`` in direct mode."""
        ...

    def has_outgoing(self) -> bool:
        """Memory mode: whether ciphertext waits to be sent (not asked in direct mode)."""
        ...

    def outgoing(self) -> bytes: ...

    def alpn(self) -> str | None: ...

    def version(self) -> str | None: ...

    def shutdown(self) -> None: ...


# --- stdlib ssl ----------------------------------------------------------------------------------


class StdlibEngine:
    """Engine over the stdlib ``_ssl`` object (the C object under ``SSLSocket``/``SSLObject``)."""

    name = "stdlib"
    __slots__ = ("_handshaking", "_host", "_in", "_obj", "_out", "direct", "pending")

    def __init__(self, ctx: ssl.SSLContext, server_hostname: str | None, sock: socket.socket | None):
        host = server_hostname
        if server_hostname and not is_ip(server_hostname):
            host = server_hostname.encode("idna").decode("ascii")  # the C layer takes ASCII only
        self._host = server_hostname
        self._handshaking = True
        self.direct = sock is not None
        self._in: ssl.MemoryBIO | None
        self._out: ssl.MemoryBIO | None
        # ``SSLContext.wrap_socket`` would detach the descriptor from the inner stream's socket
        # object, and ``wrap_bio`` adds a Python-level SSLObject per call; the C wrappers under
        # both are used directly (hostname check and SNI are configured in C exactly as there).
        obj: Any
        if sock is not None:
            obj = ctx._wrap_socket(sock, False, host)  # type: ignore[attr-defined]
            self._in = self._out = None
        else:
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx._wrap_bio(self._in, self._out, False, host)  # type: ignore[attr-defined]
        self._obj = obj
        self.pending: Callable[[], int] = obj.pending

    def fill(self, buf: Buffer) -> tuple[int, NetworkError | None]:
        # The bulk read path: one C call per record and no Python frame per record (at ~1 GB/s a
        # 16 KiB record is ~16 us, decryption included); want-read ends the loop (the normal
        # "nothing now", one exception per call, not per record).
        read = self._obj.read
        view = memoryview(buf)
        size = len(view)
        total = 0
        # Memory mode: read only while the BIO holds ciphertext or the object decrypted bytes --
        # a read of an empty BIO can only raise want-read, and that exception is the dearest
        # part of a small read (~1 us). Direct mode cannot know: it reads until want-read.
        bio, pending = self._in, self.pending
        try:
            while total < size and (bio is None or bio.pending or pending()):
                n: int = read(size - total, view[total:])  # equivalent-mutant: Sub -> Add: CPython's SSLObject.read(n, buffer) reads at most len(buffer) (a larger n is cut to it)
                # CPython's _ssl returns 0 bytes (no exception) for SSL_ERROR_ZERO_RETURN, the
                # peer's close_notify; want-read raises, so 0 here is the clean end of the stream
                if not n:
                    end: NetworkError = ConnectionClosed(f"TLS peer {self._host!r} sent close_notify")
                    if not total:
                        raise end
                    return total, end
                total += n
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (ssl.SSLError, OSError) as e:
            end = self._translate(e)
            if not total:
                raise end from e
            end.__cause__ = e
            return total, end
        return total, None

    def handshake(self) -> bool:
        try:
            self._obj.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (ssl.SSLError, OSError) as e:
            raise self._translate(e) from e
        self._handshaking = False
        return True

    def write(self, data: Bytes) -> int:
        try:
            n: int = self._obj.write(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return 0
        except (ssl.SSLError, OSError) as e:
            raise self._translate(e) from e
        return n

    def feed(self, data: memoryview) -> None:
        if self._in is not None:
            self._in.write(data)

    def held(self) -> int:
        bio = self._in
        return bio.pending if bio is not None else 0

    def has_outgoing(self) -> bool:
        out = self._out
        return out is not None and out.pending > 0  # a cheap check: the read path asks per call

    def outgoing(self) -> bytes:
        out = self._out
        return out.read() if out is not None else b""

    def alpn(self) -> str | None:
        proto: str | None = self._obj.selected_alpn_protocol()
        return proto

    def version(self) -> str | None:
        v: str | None = self._obj.version()
        return v

    def shutdown(self) -> None:
        try:
            self._obj.shutdown()
        except (ssl.SSLError, OSError, ValueError):
            pass

    def _translate(self, e: BaseException) -> NetworkError:
        # ``reason`` is set by the C layer; an SSLError built in Python has none (no AttributeError here)
        reason = getattr(e, "reason", None)
        if isinstance(e, ssl.SSLCertVerificationError):
            return CertificateError(f"certificate for {self._host!r} rejected: {e.verify_message or reason}")
        if isinstance(e, ssl.SSLZeroReturnError):
            return ConnectionClosed(f"TLS peer {self._host!r} sent close_notify")
        if isinstance(e, (ssl.SSLEOFError, ssl.SSLSyscallError)) or (
            isinstance(e, ssl.SSLError) and reason == "UNEXPECTED_EOF_WHILE_READING"
        ):
            if self._handshaking:
                return TlsError(f"peer closed the connection during the TLS handshake with {self._host!r}")
            return TruncatedStream(f"TLS peer {self._host!r} closed the connection without close_notify")
        if isinstance(e, ssl.SSLError):
            return TlsError(f"TLS failure with {self._host!r}: {reason or e}")
        if isinstance(e, OSError):
            if self._handshaking:
                return TlsError(f"connection lost during the TLS handshake with {self._host!r}: {e}")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        return TlsError(str(e))  # pragma: no cover - only SSLError/OSError are passed in


# --- pyOpenSSL -----------------------------------------------------------------------------------

class PyOpenSslEngine:
    """Engine over a pyOpenSSL ``Connection`` (the extra ``boomnet[pyopenssl]``).

    pyOpenSSL's public ``recv_into`` allocates a temporary buffer and copies out of it on every
    call; when its cffi internals are reachable, reads go straight into the caller's buffer.
    """

    name = "pyopenssl"
    __slots__ = (
        "_SSL",
        "_bio_pending",
        "_bio_write",
        "_conn",
        "_ffi",
        "_handshaking",
        "_host",
        "_verify",
        "direct",
        "pending",
        "read_into",
    )

    def __init__(self, ctx: SSL.Context, server_hostname: str | None, sock: socket.socket | None, verify: bool):
        openssl = self._SSL = require_pyopenssl()
        self._host = server_hostname
        self._verify = verify
        self._handshaking = True
        self.direct = sock is not None
        conn: SSL.Connection = openssl.Connection(ctx, sock)
        self._conn = conn
        conn.set_connect_state()
        if server_hostname:
            ip = is_ip(server_hostname)
            if verify:  # first: OpenSSL's own check of the name (a NUL byte, ...) speaks first
                self._set_expected_peer(server_hostname, ip)
            if not ip:
                conn.set_tlsext_host_name(server_hostname.encode("idna"))
        self.pending: Callable[[], int] = conn.pending
        self._ffi: Any = None
        self._bio_pending: Any = None
        self._bio_write: Any = None
        try:  # cffi internals: zero-copy BIO feeding and a cheap "anything to send?" check
            from OpenSSL._util import ffi, lib

            self._ffi = ffi
            self._bio_write = getattr(lib, "BIO_write", None)
            self._bio_pending = _bio_pending_function(lib, ffi)
        except ImportError:  # pragma: no cover - internals moved: the public API below
            pass
        self.read_into: Callable[[Buffer], int] = self._fast_reader() or self._read_into

    def _set_expected_peer(self, host: str, ip: bool) -> None:
        # pyOpenSSL has no public hostname check; the verify param is OpenSSL's own (RFC 6125).
        # For an IP literal only the IP SANs are checked (X509_VERIFY_PARAM_set1_ip).
        from OpenSSL._util import lib

        param = lib.SSL_get0_param(self._conn._ssl)
        if ip:
            packed = ipaddress.ip_address(host).packed  # the scope id is not part of a SAN
            ok = lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
        else:
            name = host.encode("idna")
            lib.X509_VERIFY_PARAM_set_hostflags(param, lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
            ok = lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
        if ok != 1:
            raise TlsError(f"cannot set the expected peer name {host!r}")

    def _fast_reader(self) -> Callable[[Buffer], int] | None:
        try:
            from OpenSSL._util import ffi, lib
        except ImportError:  # pragma: no cover - internals moved
            return None
        conn = self._conn
        ssl_ptr = conn._ssl
        SSL_read, from_buffer = lib.SSL_read, ffi.from_buffer
        raise_error = conn._raise_ssl_error
        WantRead, WantWrite = self._SSL.WantReadError, self._SSL.WantWriteError
        SslError = self._SSL.Error
        translate = self._translate

        def read_into(buf: Buffer) -> int:
            n: int = SSL_read(ssl_ptr, from_buffer(buf, require_writable=True), len(buf))
            if n > 0:
                return n
            try:
                raise_error(ssl_ptr, n)  # ZeroReturnError for close_notify
            except (WantRead, WantWrite):
                return 0
            except (SslError, OSError) as e:
                raise translate(e) from e
            raise ConnectionClosed("TLS read returned no data")  # pragma: no cover

        return read_into

    def _read_into(self, buf: Buffer) -> int:  # the public API, used when the internals moved
        try:
            n: int = self._conn.recv_into(buf)
            return n
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return 0
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e

    def fill(self, buf: Buffer) -> tuple[int, NetworkError | None]:
        return fill_by_records(self.read_into, buf)

    def handshake(self) -> bool:
        try:
            self._conn.do_handshake()
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return False
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e
        self._handshaking = False
        return True

    def write(self, data: Bytes) -> int:
        try:
            n: int = self._conn.send(data)
            return n
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return 0
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e

    def has_outgoing(self) -> bool:
        bio_pending = self._bio_pending
        return bio_pending is None or bio_pending(self._conn._from_ssl) > 0

    def held(self) -> int:
        if self.direct:
            return 0
        bio_pending = self._bio_pending
        return 1 if bio_pending is None else int(bio_pending(self._conn._into_ssl))

    def feed(self, data: memoryview) -> None:
        bio_write = self._bio_write
        if bio_write is None:  # internals moved: the public API (one copy)
            self._conn.bio_write(bytes(data))
            return
        n = bio_write(self._conn._into_ssl, self._ffi.from_buffer(data), len(data))
        if n != len(data):  # a memory BIO grows; anything else is a bug worth hearing about
            raise TlsError(f"TLS memory BIO took {n} of {len(data)} bytes")

    def outgoing(self) -> bytes:
        chunks: list[bytes] = []
        while self.has_outgoing():
            try:
                chunks.append(self._conn.bio_read(65536))  # equivalent-mutant: 65536 -> 65537, 65536 -> 65535: the size only splits the drain; the loop reads until has_outgoing() is false (or WantReadError), so any positive size returns the same bytes
            except self._SSL.WantReadError:
                break
        return b"".join(chunks)

    def alpn(self) -> str | None:
        proto = self._conn.get_alpn_proto_negotiated()
        return proto.decode() if proto else None

    def version(self) -> str | None:
        v: str = self._conn.get_protocol_version_name()  # asked only once the handshake is done
        return v

    def shutdown(self) -> None:
        try:
            self._conn.shutdown()
        except Exception:  # best effort: the peer may already be gone
            pass

    def _verify_failure(self) -> str | None:
        try:
            from OpenSSL._util import ffi, lib

            code = lib.SSL_get_verify_result(self._conn._ssl)
            if code == 0:
                return None
            text: str = ffi.string(lib.X509_verify_cert_error_string(code)).decode()
            return text
        except Exception:  # pragma: no cover - internals unavailable: fall back to the error text
            return None

    def _translate(self, e: BaseException) -> NetworkError:
        SSL = self._SSL
        if isinstance(e, SSL.ZeroReturnError):
            return ConnectionClosed(f"TLS peer {self._host!r} sent close_notify")
        if isinstance(e, SSL.SysCallError):
            eof = e.args and e.args[0] in (-1, 0)
            if self._handshaking:
                return TlsError(f"peer closed the connection during the TLS handshake with {self._host!r}: {e}")
            if eof:
                return TruncatedStream(f"TLS peer {self._host!r} closed the connection without close_notify")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        if isinstance(e, SSL.Error):
            text = str(e)
            if not self._handshaking and "unexpected eof" in text:  # OpenSSL 3's name for it
                return TruncatedStream(f"TLS peer {self._host!r} closed the connection without close_notify")
            if self._verify and self._handshaking:  # the server certificate is checked only here
                reason = self._verify_failure()
                if reason is not None or "certificate verify failed" in text:
                    return CertificateError(f"certificate for {self._host!r} rejected: {reason or text}")
            return TlsError(f"TLS failure with {self._host!r}: {text}")
        if isinstance(e, OSError):
            if self._handshaking:
                return TlsError(f"connection lost during the TLS handshake with {self._host!r}: {e}")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        return TlsError(str(e))  # pragma: no cover - only SSL.Error/OSError are passed in


def _bio_pending_function(lib: Any, ffi: Any) -> Callable[[Any], int] | None:
    """``BIO_ctrl_pending`` where the binding has it; else the memory BIO's own length query
    (``BIO_get_mem_data(bio, NULL)``: recent ``cryptography`` bindings dropped BIO_ctrl_pending)."""
    pending: Callable[[Any], int] | None = getattr(lib, "BIO_ctrl_pending", None)
    if pending is not None:
        return pending
    get_mem_data = getattr(lib, "BIO_get_mem_data", None)
    if get_mem_data is None:
        return None
    null = ffi.NULL
    return lambda bio: int(get_mem_data(bio, null))


def fill_by_records(read_into: Callable[[Buffer], int], buf: Buffer) -> tuple[int, NetworkError | None]:
    """:meth:`Engine.fill` over an engine's ``read_into`` (one call per record)."""
    view = memoryview(buf)
    size = len(view)
    total = 0
    while total < size:
        try:
            n = read_into(view[total:])
        except NetworkError as e:
            if not total:
                raise
            return total, e
        if not n:
            break
        total += n
    return total, None


def make_engine(
    backend: str, ctx: TlsContext, server_hostname: str | None, sock: socket.socket | None, verify: bool
) -> Engine:
    """An engine over ``ctx`` (from :func:`~boomnet.stream.tls.tls_context`); ``sock=None``
    selects memory mode. Setup errors are :class:`TlsError`."""
    if isinstance(ctx, ssl.SSLContext) is not (backend == "stdlib"):
        raise TypeError(f"a {backend} engine cannot use a {type(ctx).__name__}")
    try:
        if isinstance(ctx, ssl.SSLContext):
            return StdlibEngine(ctx, server_hostname, sock)
        return PyOpenSslEngine(ctx, server_hostname, sock, verify)
    except TlsError:
        raise
    except Exception as e:  # ssl.SSLError, OSError, pyOpenSSL's own errors
        raise TlsError(f"cannot set up TLS ({backend}): {e}") from e
