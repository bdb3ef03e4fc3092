"""``StreamEndpoint``: an endpoint that connects over TCP, with TLS when ``secure``.

The connection options the protocol endpoints share (``boomnet.ws.WebsocketEndpoint``,
``boomnet.http.HttpEndpoint``, ...) as two typed objects, :class:`~boomnet.stream.TcpOptions` and
:class:`~boomnet.stream.TlsOptions`. The TLS context is built in :meth:`StreamEndpoint.prepare`,
off the loop thread, so a new TLS configuration never stalls the other endpoints' polls.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ..stream import Stream
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
        self.secure = secure
        self.tcp: TcpOptions = (tcp or TcpOptions()).replace(**tcp_changes) if tcp_changes else tcp or TcpOptions()
        self.tls: TlsOptions = (tls or TlsOptions()).replace(**tls_changes) if tls_changes else tls or TlsOptions()

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
        """Build (and cache) the TLS context off the loop thread, when ``secure``."""
        if self.secure:
            build = _tls_context_builder()
            if build is not None:
                build(self.tls_options())

    def create_stream(self, addr: Address | None, alpn: Sequence[str] | None = None) -> Stream:
        """TCP to ``addr``, wrapped in TLS when ``secure`` (override to build another stack)."""
        if addr is None:
            raise ValueError(f"{self!r}: no address to connect to")
        stream: Stream = _connect_addr(addr, self.tcp)
        if self.secure:
            tls = self.tls_options(alpn)
            stream = _into_tls(stream, tls)
        return stream


# --- bridging to the stream layer's signatures ----------------------------------------------------
# The stream layer is moving to ``connect_addr(family, sockaddr, options=...)`` and
# ``into_tls(server_hostname, options=...)`` (board item 1). Until that is on main the old keyword
# signatures are used; the check runs once per process.


@functools.cache
def _takes_options(fn: Callable[..., object]) -> bool:
    return "options" in inspect.signature(fn).parameters


def _connect_addr(addr: Address, tcp: TcpOptions) -> Stream:
    from ..stream import TcpStream

    connect: Callable[..., Stream] = TcpStream.connect_addr  # either signature, checked below
    if _takes_options(connect):
        return connect(addr[0], addr[1], options=tcp)
    return connect(addr[0], addr[1], timeout=tcp.connect_timeout, bind=tcp.bind, interface=tcp.interface)


def _into_tls(stream: Stream, tls: TlsOptions) -> Stream:
    from ..stream import TlsStream

    if _takes_options(TlsStream.__init__):  # into_tls passes its keywords on to TlsStream
        return stream.into_tls(tls.server_hostname, options=tls)
    return stream.into_tls(
        tls.server_hostname,
        ca_file=tls.ca_file,
        cadata=tls.cadata,
        verify=tls.verify,
        alpn=list(tls.alpn) if tls.alpn is not None else None,
        backend=tls.backend,
        handshake_timeout=tls.handshake_timeout,
    )


def _tls_context_builder() -> Callable[[TlsOptions], object] | None:
    """``boomnet.stream.tls.tls_context`` (board item 4), once the stream layer has it."""
    from ..stream import tls as tls_module

    build: Callable[[TlsOptions], object] | None = getattr(tls_module, "tls_context", None)
    return build
