"""Endpoints: where application logic lives. The IOService owns their connections' lifecycle.

An endpoint is a *connection factory* plus callbacks. The service resolves the endpoint's host off
the loop thread, asks :meth:`Endpoint.create_target` for a target (a stream or a protocol client
over one), drives ``target.establish()`` across polls, then calls :meth:`Endpoint.on_connected`
once and :meth:`Endpoint.poll` whenever the target may have something to read. When anything
fails, :meth:`Endpoint.on_disconnect` is told why and decides whether to reconnect.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .io_service import _Conn

__all__ = ["Endpoint", "StreamEndpoint", "Disconnect", "DisconnectKind", "Timer", "Address"]

#: a resolved address: ``(family, sockaddr)``, as ``socket.socket(family).connect(sockaddr)`` takes
Address = tuple[int, Any]


class DisconnectKind(enum.Enum):
    """Why a connection ended (or never started)."""

    #: DNS, TCP connect, TLS or the protocol handshake failed or timed out
    CONNECT_FAILED = "connect_failed"
    #: the peer ended the connection (EOF, reset, WebSocket close)
    CLOSED = "closed"
    #: a network or protocol error on an open connection
    ERROR = "error"
    #: endpoint code raised something that is not a boomnet error — normally a bug; logged with traceback
    USER_ERROR = "user_error"
    #: ``auto_disconnect`` recycled the connection on purpose (reconnects without back-off)
    EXPIRED = "expired"
    #: :meth:`IOService.disconnect` asked for it (reconnects without back-off)
    REQUESTED = "requested"


@dataclass(frozen=True)
class Disconnect:
    """What :meth:`Endpoint.on_disconnect` receives: the kind and the exception, if any."""

    kind: DisconnectKind
    error: BaseException | None = None

    def __str__(self) -> str:
        return self.kind.value if self.error is None else f"{self.kind.value}: {self.error!r}"


class Timer:
    """A periodic callback registered with :meth:`Endpoint.every`. ``cancel()`` stops it."""

    __slots__ = ("interval", "fn", "cancelled")

    def __init__(self, interval: float, fn: Callable[[Any, Any], Any]) -> None:
        if not interval > 0:
            raise ValueError(f"timer interval must be positive, not {interval!r}")
        self.interval = float(interval)
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        return f"<Timer every {self.interval}s {getattr(self.fn, '__name__', self.fn)}>"


class Endpoint:
    """Base class of user endpoints. Override :meth:`poll`; the rest has sensible defaults.

    ``host``/``port``: where to connect (``host=None`` skips DNS and passes ``addr=None`` to
    :meth:`create_target`). ``auto_disconnect``: recycle each connection after this many seconds
    (a number, or a zero-argument callable evaluated per connection, e.g. to add jitter); ``None``
    keeps connections until they fail. ``backoff``: this endpoint's reconnect delays, overriding
    the service's (:class:`~boomnet.service.Backoff`).

    Subclasses need not call ``super().__init__()``: every attribute has a class-level default.
    """

    host: str | None = None
    port: int | None = None
    auto_disconnect: float | Callable[[], float] | None = None
    backoff: Any = None
    _timers: tuple[Timer, ...] | list[Timer] = ()
    _replay: tuple[str, str] | None = None
    _conn: "_Conn | None" = None  # set while registered with a service

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.auto_disconnect = auto_disconnect
        self.backoff = backoff

    # --- connection factory ----------------------------------------------------------------------

    def create_target(self, addr: Address | None, ctx: Any) -> Any | None:
        """Build the connection for ``addr`` (resolved from host/port); ``None`` means *not now*.

        The default is a plain :class:`~boomnet.stream.TcpStream`. Whatever is returned must offer
        ``establish()``, ``fileno()``, ``buffered()`` and ``close()`` (every boomnet stream and
        protocol client does). Returning ``None`` makes the service retry after its throttle.
        """
        from ..stream import TcpStream

        if addr is None:
            raise ValueError(f"{self!r} has no host: override create_target")
        return TcpStream.connect_addr(addr[0], addr[1])

    def create_replay_target(self, stream: Any, ctx: Any) -> Any:
        """The target to run over a replayed ``stream`` (see :meth:`replay`); default: the stream."""
        return stream

    def replay(self, name: str, directory: str = "recordings") -> "Endpoint":
        """Run this endpoint over the recording ``name`` instead of the network (returns ``self``).

        No DNS, no socket (the target's ``fileno()`` is -1, so every poll visits it). When the
        recording ends the endpoint is told (``CLOSED``) and is *not* reconnected: a replay runs
        once, and the service drops it.
        """
        self._replay = (name, directory)
        return self

    # --- callbacks ------------------------------------------------------------------------------

    def on_connected(self, target: Any, ctx: Any) -> None:
        """The target is established (e.g. the WebSocket is open): subscribe here."""

    def poll(self, target: Any, ctx: Any) -> None:
        """The target may have data: read it (e.g. ``for frame in ws.read_batch(): ...``)."""

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        """The connection ended (or could not be made); return ``True`` to reconnect (default)."""
        return True

    # --- timers ---------------------------------------------------------------------------------

    def every(self, interval: float, fn: Callable[[Any, Any], Any]) -> Timer:
        """Call ``fn(target, ctx)`` every ``interval`` seconds while connected.

        Register timers once (typically in ``__init__``): they survive reconnects, start
        ``interval`` after each connect and are skipped while disconnected. Precision is the
        service's housekeeping cadence (see ``IOService(check_every=...)``).
        """
        timer = Timer(interval, fn)
        if not isinstance(self._timers, list):
            self._timers = []
        self._timers.append(timer)
        conn = self._conn
        if conn is not None:
            conn.service._timer_added(conn, timer)
        return timer

    # --- identity -------------------------------------------------------------------------------

    def describe(self) -> str:
        """Where this endpoint connects to, for logs."""
        if self._replay is not None:
            return f"replay:{self._replay[0]}"
        url = getattr(self, "url", None)
        if url:
            return str(url)
        if self.host is None:
            return "-"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class StreamEndpoint(Endpoint):
    """An endpoint that connects over TCP, with TLS when ``secure``: the connection options shared
    by the protocol endpoints (``boomnet.ws.WebsocketEndpoint``, ``boomnet.http.HttpEndpoint``, ...).

    ``ca_file``, ``verify`` and ``server_hostname`` go to the TLS layer (verification stays on
    unless ``verify=False``); ``connect_timeout``, ``bind`` and ``interface`` to the TCP connect.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        secure: bool,
        ca_file: str | None = None,
        verify: bool = True,
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        bind: tuple[str, int] | None = None,
        interface: str | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Any = None,
    ) -> None:
        super().__init__(host, port, auto_disconnect=auto_disconnect, backoff=backoff)
        self.secure = secure
        self.ca_file = ca_file
        self.verify = verify
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        self.bind = bind
        self.interface = interface

    def create_stream(self, addr: Address | None, alpn: list[str] | None = None) -> Any:
        """TCP to ``addr``, wrapped in TLS when ``secure`` (override to build another stack)."""
        from ..stream import TcpStream

        if addr is None:
            raise ValueError(f"{self!r}: no address to connect to")
        stream: Any = TcpStream.connect_addr(
            addr[0], addr[1], timeout=self.connect_timeout, bind=self.bind, interface=self.interface
        )
        if self.secure:
            stream = stream.into_tls(
                self.server_hostname or self.host, ca_file=self.ca_file, verify=self.verify, alpn=alpn
            )
        return stream
