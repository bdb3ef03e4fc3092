"""Kernel TLS (kTLS): :class:`TlsStream` with the record layer offloaded to the kernel where the
kernel and OpenSSL provide it, and an honest fallback (or failure, with ``require=True``) where not.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from ..errors import KtlsUnavailable
from .base import Stream
from .options import TlsOptions
from .socket_stream import SocketStream
from .tls import TlsStream

__all__ = ["KtlsStream"]

log = logging.getLogger("boomnet.stream.tls")  # one logger for both TLS modules (tests filter on it)

_TCP_ULP = 31  # getsockopt(IPPROTO_TCP, TCP_ULP) names the upper-layer protocol, b"tls" for kTLS


class KtlsStream(TlsStream):
    """TLS with kernel offload (kTLS) when the kernel and OpenSSL provide it.

    OpenSSL is asked for kTLS (``SSL_OP_ENABLE_KTLS``); after the handshake the socket's upper-layer
    protocol tells whether the kernel took over. If not: ``require=False`` (default) logs the
    fallback once and behaves exactly as :class:`TlsStream`; ``require=True`` raises
    :class:`KtlsUnavailable`.
    """

    __slots__ = ("ktls_active", "require")

    _fallback_logged = False

    def __init__(
        self,
        inner: Stream,
        server_hostname: str | None = None,
        options: TlsOptions | None = None,
        *,
        require: bool = False,
        **overrides: Any,
    ):
        super().__init__(inner, server_hostname, options, **overrides)
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
        sock = self._direct_socket()
        if not self._direct or sock is None:
            return "the inner stream is not a socket"
        try:
            ulp = sock.getsockopt(socket.IPPROTO_TCP, _TCP_ULP, 16)
        except OSError as e:
            return f"TCP_ULP not readable ({e.strerror or e})"
        if ulp.rstrip(b"\0").startswith(b"tls"):
            return None
        return "the kernel did not accept the tls upper-layer protocol (is the 'tls' module loaded?)"
