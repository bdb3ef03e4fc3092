"""TLS engines: one small internal interface over stdlib ``ssl`` and pyOpenSSL.

:class:`~boomnet.stream.tls.TlsStream` holds all the stream logic; an engine only wraps one TLS
connection object and translates its errors into :mod:`boomnet.errors`. An engine runs in one of
two modes:

* **direct** — the TLS object owns the socket's descriptor (``SSL_set_fd``): one ``SSL_read``
  per record with no extra copy. Used when the inner stream is a socket stream; required by kTLS.
* **memory** — ciphertext moves through memory BIOs (``feed`` / ``outgoing``), so TLS runs over
  any inner stream (a Unix-socket wrapper, an in-memory replay, ...).

Want-read / want-write conditions are never raised out of an engine: reads return ``0`` and
writes return the number of bytes taken (``0`` = retry the *same* bytes later).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
from typing import Any

import certifi

from ..errors import CertificateError, ConnectionClosed, ConnectionReset, TlsError

__all__ = ["BACKENDS", "make_engine", "ENABLE_KTLS"]

log = logging.getLogger(__name__)

#: ``SSL_OP_ENABLE_KTLS`` (OpenSSL >= 3.0); ``ssl.OP_ENABLE_KTLS`` only exists on Python >= 3.12
ENABLE_KTLS = 0x8


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


# --- stdlib ssl ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _stdlib_context(verify: bool, ca_file: str | None, cadata: Any, alpn: tuple[str, ...], ktls: bool) -> ssl.SSLContext:
    # Contexts are immutable once built and cheap to share; loading the certifi bundle is not cheap.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        ctx.load_verify_locations(cafile=certifi.where())
        ctx.set_default_verify_paths()
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
        if cadata:
            ctx.load_verify_locations(cadata=cadata)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if ktls:
        ctx.options |= ENABLE_KTLS
    return ctx


class StdlibEngine:
    """Engine over the stdlib ``_ssl`` object (the C object under ``SSLSocket``/``SSLObject``)."""

    name = "stdlib"
    __slots__ = ("direct", "_obj", "_in", "_out", "read_into", "pending", "_handshaking", "_host")

    def __init__(self, ctx: ssl.SSLContext, server_hostname: str | None, sock: socket.socket | None):
        host = server_hostname.encode("idna").decode("ascii") if server_hostname and not _is_ip(server_hostname) else server_hostname
        self._host = server_hostname
        self._handshaking = True
        self.direct = sock is not None
        if sock is not None:
            # ``SSLContext.wrap_socket`` would detach the descriptor from the inner stream's socket
            # object; the underlying C wrapper uses the socket in place (hostname check and SNI are
            # configured in C exactly as for wrap_socket).
            self._obj = ctx._wrap_socket(sock, False, host)  # type: ignore[attr-defined]
            self._in = self._out = None
        else:
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._obj = ctx._wrap_bio(self._in, self._out, False, host)  # type: ignore[attr-defined]
        self.pending = self._obj.pending
        self.read_into = self._read_into

    # The hot path: one C call per record; want-read is the normal "nothing now" answer.
    def _read_into(self, buf: Any) -> int:
        try:
            return self._obj.read(len(buf), buf)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return 0
        except (ssl.SSLError, OSError) as e:
            raise self._translate(e) from e

    def handshake(self) -> bool:
        try:
            self._obj.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (ssl.SSLError, OSError) as e:
            raise self._translate(e) from e
        self._handshaking = False
        return True

    def write(self, data: Any) -> int:
        try:
            return self._obj.write(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return 0
        except (ssl.SSLError, OSError) as e:
            raise self._translate(e) from e

    def feed(self, data: Any) -> None:
        self._in.write(data)  # type: ignore[union-attr]

    def feed_eof(self) -> None:
        self._in.write_eof()  # type: ignore[union-attr]

    def has_outgoing(self) -> bool:
        out = self._out
        return out is not None and out.pending > 0

    def outgoing(self) -> bytes:
        out = self._out
        return out.read() if out is not None and out.pending else b""

    def alpn(self) -> str | None:
        return self._obj.selected_alpn_protocol()

    def version(self) -> str | None:
        return self._obj.version()

    def shutdown(self) -> None:
        try:
            self._obj.shutdown()
        except (ssl.SSLError, OSError, ValueError):
            pass

    def _translate(self, e: BaseException) -> Exception:
        if isinstance(e, ssl.SSLCertVerificationError):
            return CertificateError(f"certificate for {self._host!r} rejected: {e.verify_message or e.reason}")
        if isinstance(e, ssl.SSLZeroReturnError):
            return ConnectionClosed("TLS peer sent close_notify")
        if isinstance(e, (ssl.SSLEOFError, ssl.SSLSyscallError)) or (
            isinstance(e, ssl.SSLError) and e.reason == "UNEXPECTED_EOF_WHILE_READING"
        ):
            if self._handshaking:
                return TlsError(f"peer closed the connection during the TLS handshake with {self._host!r}")
            return ConnectionClosed("TLS peer closed the connection without close_notify")
        if isinstance(e, ssl.SSLError):
            return TlsError(f"TLS failure with {self._host!r}: {e.reason or e}")
        if isinstance(e, OSError):
            if self._handshaking:
                return TlsError(f"connection lost during the TLS handshake with {self._host!r}: {e}")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        return TlsError(str(e))


# --- pyOpenSSL -----------------------------------------------------------------------------------

_X509_ERRORS = {  # fallback names for the commonest verify errors, should the lookup be unavailable
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    62: "hostname mismatch",
    64: "IP address mismatch",
}


@functools.lru_cache(maxsize=32)
def _pyopenssl_context(verify: bool, ca_file: str | None, cadata: Any, alpn: tuple[str, ...], ktls: bool) -> Any:
    from OpenSSL import SSL, crypto

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    if verify:
        ctx.set_verify(SSL.VERIFY_PEER)
        ctx.load_verify_locations(certifi.where())
        ctx.set_default_verify_paths()
        if ca_file:
            ctx.load_verify_locations(ca_file)
        if cadata:
            from cryptography import x509

            data = cadata.encode() if isinstance(cadata, str) else bytes(cadata)
            certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
            store = ctx.get_cert_store()
            for cert in certs:
                store.add_cert(crypto.X509.from_cryptography(cert))  # type: ignore[union-attr]
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    if alpn:
        ctx.set_alpn_protos([p.encode() for p in alpn])
    if ktls:
        ctx.set_options(ENABLE_KTLS)
    return ctx


class PyOpenSslEngine:
    """Engine over a pyOpenSSL ``Connection``.

    pyOpenSSL's public ``recv_into`` allocates a temporary buffer and copies out of it on every
    call; when its cffi internals are reachable, reads go straight into the caller's buffer.
    """

    name = "pyopenssl"
    __slots__ = (
        "direct", "_conn", "_SSL", "read_into", "pending", "_handshaking", "_host", "_verify", "_fast",
        "_ffi", "_bio_pending", "_bio_write",
    )

    def __init__(self, ctx: Any, server_hostname: str | None, sock: socket.socket | None, verify: bool):
        from OpenSSL import SSL

        self._SSL = SSL
        self._host = server_hostname
        self._verify = verify
        self._handshaking = True
        self.direct = sock is not None
        conn = self._conn = SSL.Connection(ctx, sock)
        conn.set_connect_state()
        if server_hostname:
            is_ip = _is_ip(server_hostname)
            if not is_ip:
                conn.set_tlsext_host_name(server_hostname.encode("idna"))
            if verify:
                self._set_expected_peer(server_hostname, is_ip)
        self.pending = conn.pending
        try:  # cffi internals: zero-copy BIO feeding and a cheap "anything to send?" check
            from OpenSSL._util import ffi, lib

            self._ffi, self._bio_pending, self._bio_write = ffi, lib.BIO_ctrl_pending, lib.BIO_write
        except (ImportError, AttributeError):  # pragma: no cover - internals moved
            self._ffi = self._bio_pending = self._bio_write = None
        self._fast = self._fast_reader()
        self.read_into = self._fast or self._read_into

    def _set_expected_peer(self, host: str, is_ip: bool) -> None:
        # pyOpenSSL has no public hostname check; the verify param is OpenSSL's own (RFC 6125).
        from OpenSSL._util import lib

        param = lib.SSL_get0_param(self._conn._ssl)
        if is_ip:
            packed = ipaddress.ip_address(host.split("%", 1)[0]).packed
            ok = lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
        else:
            name = host.encode("idna")
            lib.X509_VERIFY_PARAM_set_hostflags(param, lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
            ok = lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
        if ok != 1:
            raise TlsError(f"cannot set the expected peer name {host!r}")

    def _fast_reader(self) -> Any:
        try:
            from OpenSSL._util import ffi, lib
        except ImportError:  # pragma: no cover - internals moved
            return None
        conn, ssl_ptr, SSL_read, from_buffer = self._conn, self._conn._ssl, lib.SSL_read, ffi.from_buffer
        raise_error = conn._raise_ssl_error
        WantRead, WantWrite = self._SSL.WantReadError, self._SSL.WantWriteError
        SslError = self._SSL.Error
        translate = self._translate

        def read_into(buf: Any) -> int:
            n = SSL_read(ssl_ptr, from_buffer(buf, require_writable=True), len(buf))
            if n > 0:
                return n
            try:
                raise_error(ssl_ptr, n)
            except (WantRead, WantWrite):
                return 0
            except (SslError, OSError) as e:
                raise translate(e) from e
            raise ConnectionClosed("TLS read returned no data")  # pragma: no cover

        return read_into

    def _read_into(self, buf: Any) -> int:
        try:
            return self._conn.recv_into(buf)
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return 0
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e

    def handshake(self) -> bool:
        try:
            self._conn.do_handshake()
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return False
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e
        self._handshaking = False
        return True

    def write(self, data: Any) -> int:
        try:
            return self._conn.send(data)
        except (self._SSL.WantReadError, self._SSL.WantWriteError):
            return 0
        except (self._SSL.Error, OSError) as e:
            raise self._translate(e) from e

    def feed_eof(self) -> None:
        self._conn.bio_shutdown()

    def has_outgoing(self) -> bool:
        if self.direct:
            return False
        bio_pending = self._bio_pending
        return bio_pending is None or bio_pending(self._conn._from_ssl) > 0

    def feed(self, data: Any) -> None:
        bio_write = self._bio_write
        if bio_write is None:
            self._conn.bio_write(bytes(data))
            return
        n = bio_write(self._conn._into_ssl, self._ffi.from_buffer(data), len(data))
        if n != len(data):  # a memory BIO grows; anything else is a bug worth hearing about
            raise TlsError(f"TLS memory BIO took {n} of {len(data)} bytes")

    def outgoing(self) -> bytes:
        chunks: list[bytes] = []
        while self.has_outgoing():
            try:
                chunks.append(self._conn.bio_read(65536))
            except self._SSL.WantReadError:
                break
        return b"".join(chunks)

    def alpn(self) -> str | None:
        proto = self._conn.get_alpn_proto_negotiated()
        return proto.decode() if proto else None

    def version(self) -> str | None:
        v = self._conn.get_protocol_version_name()
        return v if v and v != "Unknown" else None

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
            text = ffi.string(lib.X509_verify_cert_error_string(code)).decode()
            return text or _X509_ERRORS.get(code, f"verify error {code}")
        except Exception:  # internals unavailable: fall back to the error text
            return None

    def _translate(self, e: BaseException) -> Exception:
        SSL = self._SSL
        if isinstance(e, SSL.ZeroReturnError):
            return ConnectionClosed("TLS peer sent close_notify")
        if isinstance(e, SSL.SysCallError):
            eof = e.args and e.args[0] in (-1, 0)
            if self._handshaking:
                return TlsError(f"peer closed the connection during the TLS handshake with {self._host!r}: {e}")
            if eof:
                return ConnectionClosed("TLS peer closed the connection without close_notify")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        if isinstance(e, SSL.Error):
            text = str(e)
            if self._verify and (self._handshaking or "verify failed" in text):
                reason = self._verify_failure()
                if reason is not None or "certificate verify failed" in text:
                    return CertificateError(f"certificate for {self._host!r} rejected: {reason or text}")
            return TlsError(f"TLS failure with {self._host!r}: {text}")
        if isinstance(e, OSError):
            if self._handshaking:
                return TlsError(f"connection lost during the TLS handshake with {self._host!r}: {e}")
            return ConnectionReset(f"TLS connection to {self._host!r} lost: {e}")
        return TlsError(str(e))


BACKENDS = ("stdlib", "pyopenssl")


def make_engine(
    backend: str,
    server_hostname: str | None,
    sock: socket.socket | None,
    *,
    verify: bool,
    ca_file: str | None,
    cadata: Any,
    alpn: tuple[str, ...],
    ktls: bool,
) -> StdlibEngine | PyOpenSslEngine:
    """Build an engine (``sock=None`` selects memory mode). Context construction errors -> TlsError."""
    try:
        if backend == "stdlib":
            return StdlibEngine(_stdlib_context(verify, ca_file, cadata, alpn, ktls), server_hostname, sock)
        if backend == "pyopenssl":
            return PyOpenSslEngine(_pyopenssl_context(verify, ca_file, cadata, alpn, ktls), server_hostname, sock, verify)
    except (ssl.SSLError, OSError, ValueError) as e:
        raise TlsError(f"cannot set up TLS ({backend}): {e}") from e
    except TlsError:
        raise
    except Exception as e:  # pyOpenSSL's own errors (bad CA file, ...)
        raise TlsError(f"cannot set up TLS ({backend}): {e}") from e
    raise ValueError(f"unknown TLS backend {backend!r}; choose one of {BACKENDS}")
