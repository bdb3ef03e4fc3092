"""Server-side TLS: a certificate and key, optional SNI certificates, optional client certificates.

:class:`TlsServerStream` is :class:`~boomnet.stream.tls.TlsStream` with a server-mode engine
(its ``_new_engine`` hook):
the same non-blocking handshake across ``establish()`` calls, the same record-batching reads,
the same lossless pending writes; memory BIOs by default, or direct on a socket stream with
``memory_bio=False`` (the client's trade-off: :mod:`boomnet.stream.tls`).
Contexts are built once per distinct :class:`TlsServerOptions` and shared (thread-safe cache).

Client certificates: ``client_ca_file`` makes the server ask for one and verify it against that
CA; ``require_client_cert=True`` (the default when a CA is given) refuses clients without one —
the handshake fails with :class:`~boomnet.errors.CertificateError` on the server side.
:meth:`TlsServerStream.peer_certificate` returns the verified client certificate.

Why the server has one engine (stdlib ``ssl``) and no pyOpenSSL one, decided on purpose:
everything a server here needs is in the stdlib — certificate chain and (encrypted) key, SNI by
callback, client-certificate verification, ALPN, a minimum version — and the stdlib engine is the
faster one where they differ (perf/tls_backends.py: 1 KiB reads 1.2-1.5x faster than pyOpenSSL,
which pays a cffi call per operation; bulk reads a tie). The client side keeps pyOpenSSL as the
optional second engine it already was (``TlsOptions(backend="pyopenssl")``, client certificates
included); a server engine would double the server TLS code and its tests without giving a user
anything they cannot do now. What pyOpenSSL would add for a server (OCSP stapling callbacks, session-ticket key
control) is not offered here: say so in an issue if you need it, rather than get a half engine.
"""

from __future__ import annotations

import dataclasses
import functools
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import LocalError, TlsError
from .base import Stream
from .tls import TlsStream
from .options import TlsOptions
from .tls_engines import Engine, StdlibEngine

__all__ = ["TlsServerOptions", "TlsServerStream", "server_context"]


@dataclass(frozen=True, slots=True)
class TlsServerOptions:
    """How a server runs TLS.

    ``certfile`` (PEM chain) and ``keyfile`` (PEM key; ``None``: inside certfile), ``password``
    for an encrypted key. ``sni``: extra ``{server_name: (certfile, keyfile)}`` chosen by the
    client's SNI (others get the default pair). ``client_ca_file``: ask for and verify client
    certificates against it; ``require_client_cert``: refuse clients without one (default: on
    when ``client_ca_file`` is set). ``alpn``: protocols the server accepts, in preference order.
    ``handshake_timeout``: seconds. ``minimum_version``: TLS 1.2 by default. ``memory_bio``: as
    :class:`~boomnet.stream.options.TlsOptions` (default ``True``; ``False``: the engine owns the
    socket).
    """

    certfile: str
    keyfile: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    sni: tuple[tuple[str, tuple[str, str | None]], ...] | Mapping[str, tuple[str, str | None]] | None = None
    client_ca_file: str | None = None
    require_client_cert: bool | None = None
    alpn: tuple[str, ...] | None = None
    handshake_timeout: float = 10.0
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    memory_bio: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.certfile, str) or not self.certfile:
            raise LocalError("certfile (a PEM file path) is required for a TLS server")
        if not self.handshake_timeout > 0:
            raise LocalError(f"handshake_timeout must be positive, not {self.handshake_timeout!r}")
        if self.require_client_cert and not self.client_ca_file:
            raise LocalError("require_client_cert needs client_ca_file (the CA that signs client certificates)")
        sni: object = self.sni
        if isinstance(sni, Mapping):  # frozen and hashable: the context cache keys on it
            object.__setattr__(self, "sni", tuple(sorted((k, tuple(v)) for k, v in sni.items())))
        alpn: object = self.alpn
        if alpn is not None and not isinstance(alpn, tuple):
            object.__setattr__(self, "alpn", tuple(alpn))  # type: ignore[arg-type]

    def replace(self, **changes: object) -> TlsServerOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_lock = threading.Lock()


def server_context(options: TlsServerOptions) -> ssl.SSLContext:
    """The (cached) server ``SSLContext`` for ``options``. Bad files -> :class:`TlsError`."""
    with _lock:
        return _build(options)


@functools.lru_cache(maxsize=32)
def _build(options: TlsServerOptions) -> ssl.SSLContext:
    try:
        ctx = _base_context(options, options.certfile, options.keyfile)
        if options.sni:
            pairs: tuple[tuple[str, tuple[str, str | None]], ...] = options.sni  # type: ignore[assignment]
            by_name = {name: _base_context(options, cert, key) for name, (cert, key) in pairs}

            def choose(obj: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
                chosen = by_name.get(name) if name else None
                if chosen is not None:
                    obj.context = chosen
                return None

            ctx.sni_callback = choose
    except (ssl.SSLError, OSError, ValueError) as e:
        raise TlsError(f"cannot set up the TLS server context: {e}") from e
    return ctx


def _base_context(options: TlsServerOptions, certfile: str, keyfile: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = options.minimum_version
    ctx.load_cert_chain(certfile, keyfile, options.password)
    if options.client_ca_file:
        ctx.load_verify_locations(cafile=options.client_ca_file)
        required = options.require_client_cert is not False
        ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    if options.alpn:
        ctx.set_alpn_protocols(list(options.alpn))
    return ctx


class _Owner:
    """What the SNI callback is handed: switching ``context`` switches the TLS object's."""

    __slots__ = ("obj", "__weakref__")

    def __init__(self) -> None:
        self.obj: Any = None

    @property
    def context(self) -> ssl.SSLContext:
        return self.obj.context  # type: ignore[no-any-return]

    @context.setter
    def context(self, ctx: ssl.SSLContext) -> None:
        self.obj.context = ctx


class _ServerEngine(StdlibEngine):
    """The stdlib engine in server mode (the client engine hard-wires ``server_side=False``)."""

    __slots__ = ("_owner",)

    def __init__(self, ctx: ssl.SSLContext, sock: socket.socket | None, description: str) -> None:
        self._host = description
        self._handshaking = True
        self.direct = sock is not None
        # The SNI callback gets the "owner" (the SSLSocket, in the stdlib's own wrappers); ours
        # only forwards a context switch to the C object.
        self._owner = owner = _Owner()
        if sock is not None:
            self._obj = ctx._wrap_socket(sock, True, None, owner=owner)  # type: ignore[attr-defined]
            self._in = self._out = None
        else:
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._obj = ctx._wrap_bio(self._in, self._out, True, None, owner=owner)  # type: ignore[attr-defined]
        owner.obj = self._obj
        self.pending = self._obj.pending

    def peer_certificate(self) -> dict[str, Any] | None:
        cert = self._obj.getpeercert()
        return cert or None

    def server_name(self) -> str | None:
        return None


class TlsServerStream(TlsStream):
    """The server end of TLS over an accepted ``inner`` stream (see the module docstring)."""

    __slots__ = ("_context", "server_options")

    def __init__(self, inner: Stream, options: TlsServerOptions | None = None, **overrides: Any) -> None:
        if options is None:
            options = TlsServerOptions(**overrides)
        elif overrides:
            options = options.replace(**overrides)
        peer = getattr(inner, "description", "") or "client"
        # verify=True with a name: the client-side checks are not used by a server engine, and the
        # "verification disabled" warning must not fire for a server.
        tls = TlsOptions(handshake_timeout=options.handshake_timeout, memory_bio=options.memory_bio)
        super().__init__(inner, f"client {peer}", tls)
        self.server_options = options
        self._context = server_context(options)

    def _new_engine(self, sock: socket.socket | None) -> Engine:
        # The one override point TlsStream offers: a server-mode engine over the same socket
        # (``sock=None``: memory BIOs over a non-socket inner stream).
        return _ServerEngine(self._context, sock, str(self.server_hostname))

    def peer_certificate(self) -> dict[str, Any] | None:
        """The client's verified certificate (decoded), or ``None`` if it sent none."""
        engine = self._engine
        return engine.peer_certificate() if isinstance(engine, _ServerEngine) else None
