"""TLS client contexts, built once per configuration and shared (thread-safe cache).

Building a context is cold work that must stay off the busy-poll loop: loading the certifi bundle
and the system store costs tens of milliseconds (measured in perf/tls_backends.py
``--context``). :func:`tls_context` builds one context per distinct *context-relevant* part of a
:class:`~boomnet.stream.options.TlsOptions` (backend, verify, ca_file, cadata, alpn, kTLS, and
the client certificate: certfile, keyfile, password) and caches it; options differing only in
``server_hostname`` or ``handshake_timeout`` share one.
``StreamEndpoint.prepare()`` calls it on a worker thread before each connect, so the loop thread
only ever finds a built context.

Concurrency: one global lock guards the table of entries; each entry has its own lock held while
it is built, so two threads asking for the same configuration build it once, and a thread asking
for a cached configuration never waits behind the build of another. A context is immutable once
built (nothing here changes it afterwards), so sharing one across connections and threads is
safe. The cache holds at most :data:`MAX_CONTEXTS` configurations (oldest dropped first).

A ``ca_file`` (and a client ``certfile``/``keyfile``) is read when its context is built: a
changed file on disk is seen by a new process (or after :func:`clear_cache`), not by a running
one.

pyOpenSSL is the optional extra ``boomnet[pyopenssl]``: it is imported only when a pyOpenSSL
context is built, and its absence is a :class:`~boomnet.errors.MissingExtra` naming the extra.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from types import ModuleType
from typing import TYPE_CHECKING, Optional, Union

import certifi

from ..errors import MissingExtra, TlsError
from .options import TlsOptions

if TYPE_CHECKING:  # pragma: no cover
    from OpenSSL import SSL

__all__ = ["tls_context", "clear_cache", "require_pyopenssl", "MAX_CONTEXTS", "ENABLE_KTLS", "TlsContext"]

#: ``SSL_OP_ENABLE_KTLS`` (OpenSSL >= 3.0); ``ssl.OP_ENABLE_KTLS`` only exists on Python >= 3.12
ENABLE_KTLS = 0x8
#: distinct TLS configurations kept (a process has a handful; more means options churn)
MAX_CONTEXTS = 64

TlsContext = Union[ssl.SSLContext, "SSL.Context"]
#: the client certificate part of a key: (certfile, keyfile, password), or None
_Cert = Optional[tuple[str, Optional[str], Union[str, bytes, None]]]
_Key = tuple[str, bool, "str | None", "str | bytes | None", "tuple[str, ...] | None", bool, _Cert]


class _Entry:
    __slots__ = ("context", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.context: TlsContext | None = None


_entries: OrderedDict[_Key, _Entry] = OrderedDict()
_table_lock = threading.Lock()


def tls_context(options: TlsOptions, *, ktls: bool = False) -> TlsContext:
    """The client context for ``options`` (an ``ssl.SSLContext``, or a pyOpenSSL ``Context`` for
    ``backend="pyopenssl"``), built on first use and cached. Thread-safe.

    Raises :class:`TlsError` if it cannot be built (unreadable CA file, bad ``cadata``) and
    :class:`MissingExtra` for ``backend="pyopenssl"`` without pyOpenSSL installed.
    """
    cert: _Cert = None if options.certfile is None else (options.certfile, options.keyfile, options.password)
    key: _Key = (options.backend, options.verify, options.ca_file, options.cadata, options.alpn, ktls, cert)
    with _table_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry()
            while len(_entries) > MAX_CONTEXTS:
                _entries.popitem(last=False)
        else:
            _entries.move_to_end(key)
    context = entry.context
    if context is not None:  # the common case: no lock taken beyond the table's
        return context
    with entry.lock:
        if entry.context is None:
            entry.context = _build(key)  # a failure leaves the entry empty: the next call retries
        return entry.context


def clear_cache() -> None:
    """Forget every cached context (e.g. after replacing a CA file)."""
    with _table_lock:
        _entries.clear()


def require_pyopenssl() -> ModuleType:
    """``OpenSSL.SSL``, or :class:`MissingExtra` naming the extra to install."""
    try:
        from OpenSSL import SSL
    except ImportError as e:
        raise MissingExtra(
            "the TLS backend 'pyopenssl' needs pyOpenSSL: pip install boomnet[pyopenssl] "
            "(or use the default backend='stdlib')"
        ) from e
    return SSL


def _build(key: _Key) -> TlsContext:
    backend, verify, ca_file, cadata, alpn, ktls, cert = key
    try:
        if backend == "pyopenssl":
            octx = _pyopenssl_context(verify, ca_file, cadata, alpn, ktls)
            if cert is not None:
                _pyopenssl_client_cert(octx, *cert)
            return octx
        std = _stdlib_context(verify, ca_file, cadata, alpn, ktls)
        if cert is not None:
            certfile, keyfile, password = cert
            std.load_cert_chain(certfile, keyfile, password)
        return std
    except (MissingExtra, TlsError):
        raise
    except Exception as e:  # ssl.SSLError, OSError (missing file), pyOpenSSL's own errors, bad PEM
        # (the message names files and OpenSSL's reason, never the key password)
        raise TlsError(f"cannot set up TLS ({backend}): {e}") from e


def _stdlib_context(
    verify: bool, ca_file: str | None, cadata: str | bytes | None, alpn: tuple[str, ...] | None, ktls: bool
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        ctx.load_verify_locations(cafile=certifi.where())
        ctx.set_default_verify_paths()
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
        if cadata:
            # ssl takes PEM as str and DER as bytes; accept PEM bytes too (as the pyOpenSSL path does)
            if isinstance(cadata, bytes) and b"-----BEGIN" in cadata:
                cadata = cadata.decode("ascii")
            ctx.load_verify_locations(cadata=cadata)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if ktls:
        ctx.options |= ENABLE_KTLS
    return ctx


def _pyopenssl_context(
    verify: bool, ca_file: str | None, cadata: str | bytes | None, alpn: tuple[str, ...] | None, ktls: bool
) -> SSL.Context:
    openssl = require_pyopenssl()
    ctx: SSL.Context = openssl.Context(openssl.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(openssl.TLS1_2_VERSION)
    if verify:
        ctx.set_verify(openssl.VERIFY_PEER)
        ctx.load_verify_locations(certifi.where())
        ctx.set_default_verify_paths()
        if ca_file:
            ctx.load_verify_locations(ca_file)
        if cadata:
            _add_cadata(ctx, cadata)
    else:
        ctx.set_verify(openssl.VERIFY_NONE)
    if alpn:
        ctx.set_alpn_protos([p.encode() for p in alpn])
    if ktls:
        ctx.set_options(ENABLE_KTLS)
    return ctx


def _pyopenssl_client_cert(ctx: SSL.Context, certfile: str, keyfile: str | None, password: str | bytes | None) -> None:
    ctx.use_certificate_chain_file(certfile)
    if password is None:
        ctx.use_privatekey_file(keyfile or certfile)
    else:  # pyOpenSSL's password callback is deprecated: decrypt with cryptography, load the key
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        secret = password.encode() if isinstance(password, str) else bytes(password)
        with open(keyfile or certfile, "rb") as f:
            key = load_pem_private_key(f.read(), secret)
        try:
            ctx.use_privatekey(key)  # type: ignore[arg-type]  # a cryptography key: pyOpenSSL >= 24.3
        except TypeError:  # an older pyOpenSSL wants its own PKey
            from OpenSSL import crypto

            ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))  # type: ignore[arg-type]
    # (OpenSSL refuses a key that does not match the certificate loaded first: no separate check)


def _add_cadata(ctx: SSL.Context, cadata: str | bytes) -> None:
    from cryptography import x509
    from OpenSSL import crypto

    data = cadata.encode() if isinstance(cadata, str) else bytes(cadata)
    if b"-----BEGIN" in data:
        certs = x509.load_pem_x509_certificates(data)
    else:
        certs = [x509.load_der_x509_certificate(data)]
    store = ctx.get_cert_store()
    assert store is not None  # a fresh context always has one
    for cert in certs:
        store.add_cert(crypto.X509.from_cryptography(cert))
