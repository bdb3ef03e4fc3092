"""Opening the stream an HTTP connection runs over, from typed TCP/TLS option objects.

The HTTP layer takes :class:`~boomnet.stream.options.TcpOptions` and
:class:`~boomnet.stream.options.TlsOptions` (board contract 1) and passes them down here, the
one place that knows how the stream layer is called. While the stream and service layers move
to ``options=`` arguments, this module accepts either calling convention (decided once, at
import, from the signatures) so main stays green whichever branch lands first.
TRANSITIONAL: once both have landed, only the ``options=`` branch remains.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..stream import TcpStream
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions

__all__ = ["connect", "connect_addr", "wrap_tls", "stream_endpoint_options", "DEFAULT_TCP", "DEFAULT_TLS", "HTTP11_ALPN"]

DEFAULT_TCP = TcpOptions()
DEFAULT_TLS = TlsOptions()
#: ALPN offered by the HTTP/1.1 client
HTTP11_ALPN = ("http/1.1",)



def _takes(fn: Any, name: str) -> bool:
    """Does ``fn`` have a named (not ``**``) parameter ``name``?"""
    param = inspect.signature(fn).parameters.get(name)
    return param is not None and param.kind is not inspect.Parameter.VAR_KEYWORD


_TCP_OPTIONS_API = _takes(TcpStream.connect, "options")
_TLS_OPTIONS_API = _takes(Stream.into_tls, "options")


def _tcp_kwargs(tcp: TcpOptions) -> dict[str, Any]:
    if _TCP_OPTIONS_API:
        return {"options": tcp}
    return {"timeout": tcp.connect_timeout, "bind": tcp.bind, "interface": tcp.interface}


def connect(host: str, port: int, tcp: TcpOptions | None) -> Stream:
    """Resolve ``host`` and start a non-blocking TCP connect (not yet established)."""
    return TcpStream.connect(host, port, **_tcp_kwargs(tcp or DEFAULT_TCP))


def connect_addr(family: int, sockaddr: Any, tcp: TcpOptions | None) -> Stream:
    """Start a non-blocking TCP connect to a resolved address."""
    return TcpStream.connect_addr(family, sockaddr, **_tcp_kwargs(tcp or DEFAULT_TCP))


def wrap_tls(stream: Stream, host: str, tls: TlsOptions | None) -> Stream:
    """TLS over ``stream`` for ``host`` (SNI and the name checked: ``tls.server_hostname`` or
    ``host``); ALPN offers ``http/1.1`` unless the options say otherwise."""
    tls = tls or DEFAULT_TLS
    if tls.alpn is None:
        tls = tls.replace(alpn=HTTP11_ALPN)
    name = tls.server_hostname or host
    if _TLS_OPTIONS_API:
        return stream.into_tls(name, options=tls)
    return stream.into_tls(
        name,
        ca_file=tls.ca_file,
        cadata=tls.cadata,
        verify=tls.verify,
        alpn=list(tls.alpn or ()),
        backend=tls.backend,
        handshake_timeout=tls.handshake_timeout,
    )


def stream_endpoint_options(tcp: TcpOptions | None, tls: TlsOptions | None) -> dict[str, Any]:
    """Keyword arguments for ``service.StreamEndpoint`` carrying ``tcp`` and ``tls``."""
    from ..service.endpoint import StreamEndpoint  # the service only for endpoints, never at import

    tcp = tcp or DEFAULT_TCP
    tls = tls or DEFAULT_TLS
    if _takes(StreamEndpoint.__init__, "tls"):
        return {"tcp": tcp, "tls": tls}
    return {
        "ca_file": tls.ca_file,
        "verify": tls.verify,
        "server_hostname": tls.server_hostname,
        "connect_timeout": tcp.connect_timeout,
        "bind": tcp.bind,
        "interface": tcp.interface,
    }
