"""Opening the stream a bare HTTP/1.1 connection runs over (:func:`~boomnet.http.open_connection`),
from typed TCP/TLS option objects, and the defaults the client and endpoint start from.

:class:`~boomnet.http.HttpClient` builds its connections through a connector stack
(:mod:`boomnet.connect`) and :class:`~boomnet.http.HttpEndpoint` through
``StreamEndpoint.create_stream`` (TLS context built off the loop thread); both offer the ALPN
protocols :mod:`boomnet.http.negotiate` decides. ``http_tls`` / ``wrap_tls`` here offer
``http/1.1`` only: what they open is an HTTP/1.1 connection.
"""

from __future__ import annotations

from ..stream import Stream, TcpStream
from ..stream.options import TcpOptions, TlsOptions

__all__ = ["connect", "wrap_tls", "http_tls", "DEFAULT_TCP", "DEFAULT_TLS", "HTTP11_ALPN"]

DEFAULT_TCP = TcpOptions()
DEFAULT_TLS = TlsOptions()
#: ALPN offered by the HTTP/1.1 client
HTTP11_ALPN = ("http/1.1",)


def http_tls(tls: TlsOptions | None) -> TlsOptions:
    """``tls`` (default: verifying) offering ALPN ``http/1.1`` unless it names protocols itself."""
    tls = tls or DEFAULT_TLS
    return tls.replace(alpn=HTTP11_ALPN) if tls.alpn is None else tls


def connect(host: str, port: int, tcp: TcpOptions | None) -> Stream:
    """Resolve ``host`` and start a non-blocking TCP connect (not yet established)."""
    return TcpStream.connect(host, port, tcp or DEFAULT_TCP)


def wrap_tls(stream: Stream, host: str, tls: TlsOptions | None) -> Stream:
    """TLS over ``stream`` for ``host`` (the name checked and sent as SNI: ``tls.server_hostname``
    or ``host``); ALPN offers ``http/1.1`` unless the options say otherwise."""
    tls = http_tls(tls)
    return stream.into_tls(tls.server_hostname or host, tls)
