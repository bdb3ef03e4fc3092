"""``StreamEndpoint``: an endpoint that connects over TCP, with TLS when ``secure``.

The connection options the protocol endpoints share (``boomnet.ws.WebsocketEndpoint``,
``boomnet.http.HttpEndpoint``, ...) as two typed objects, :class:`~boomnet.stream.TcpOptions` and
:class:`~boomnet.stream.TlsOptions`. The TLS context is built in :meth:`StreamEndpoint.prepare`,
off the loop thread, so a new TLS configuration never stalls the other endpoints' polls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..stream import Stream, TcpStream, tls_context
from ..stream.options import TcpOptions, TlsOptions
from .endpoint import C, Endpoint, T
from .options import Backoff
from .resolver import Address

__all__ = ["StreamEndpoint"]

_TCP_FIELDS = frozenset(TcpOptions.__dataclass_fields__)
_TLS_FIELDS = frozenset(TlsOptions.__dataclass_fields__)


class StreamEndpoint(Endpoint[T, C]):
    """TCP to ``host:port``, wrapped in TLS when ``secure`` (verification on unless
    ``tls=TlsOptions(verify=False)``).

    ``tcp`` / ``tls``: the options objects. Keywords naming one of their fields
    (``connect_timeout=``, ``bind=``, ``interface=``, ``ca_file=``, ``verify=``,
    ``server_hostname=``, ...) override that field — the old loose keywords keep working, and a
    misspelt one is a ``TypeError`` here. Override :meth:`create_stream` to build another stack.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        secure: bool,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Backoff | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(host, port, auto_disconnect=auto_disconnect, backoff=backoff)
        unknown = set(overrides) - _TCP_FIELDS - _TLS_FIELDS
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        tcp_changes = {k: v for k, v in overrides.items() if k in _TCP_FIELDS}
        tls_changes = {k: v for k, v in overrides.items() if k in _TLS_FIELDS}
        # Compat: a subclass that set ``self.tcp`` / ``self.tls`` before calling us with the old
        # loose keywords keeps its other fields (keepalive, alpn, backend, ...).
        own = self.__dict__
        base_tcp: TcpOptions = tcp or own.get("tcp") or TcpOptions()
        base_tls: TlsOptions = tls or own.get("tls") or TlsOptions()
        self.secure = secure
        self.tcp: TcpOptions = base_tcp.replace(**tcp_changes) if tcp_changes else base_tcp
        self.tls: TlsOptions = base_tls.replace(**tls_changes) if tls_changes else base_tls

    # read-only views of the options, for code written against the old keyword attributes
    @property
    def connect_timeout(self) -> float:
        return self.tcp.connect_timeout

    @property
    def bind(self) -> tuple[str, int] | None:
        return self.tcp.bind

    @property
    def interface(self) -> str | None:
        return self.tcp.interface

    @property
    def ca_file(self) -> str | None:
        return self.tls.ca_file

    @property
    def verify(self) -> bool:
        return self.tls.verify

    @property
    def server_hostname(self) -> str | None:
        return self.tls.server_hostname

    def tls_options(self, alpn: Sequence[str] | None = None) -> TlsOptions:
        """The TLS options of a connection (``alpn`` given by the protocol overrides the field)."""
        tls = self.tls
        if alpn is not None and tuple(alpn) != tls.alpn:
            tls = tls.replace(alpn=tuple(alpn))
        if tls.server_hostname is None and self.host is not None:
            tls = tls.replace(server_hostname=self.host)
        return tls

    def prepare(self) -> None:
        """Build (and cache) the TLS context off the loop thread, when ``secure``: the connect
        then finds it in :func:`boomnet.stream.tls.tls_context`'s cache."""
        if self.secure:
            tls_context(self.tls_options())

    def create_stream(self, addr: Address | None, alpn: Sequence[str] | None = None) -> Stream:
        """TCP to ``addr``, wrapped in TLS when ``secure`` (override to build another stack)."""
        if addr is None:
            raise ValueError(f"{self!r}: no address to connect to")
        stream: Stream = TcpStream.connect_addr(addr[0], addr[1], self.tcp)
        if self.secure:
            tls = self.tls_options(alpn)
            stream = stream.into_tls(tls.server_hostname, tls)
        return stream
