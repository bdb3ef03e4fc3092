"""``WebsocketEndpoint``: an IOService endpoint whose target is a :class:`WebSocket`.

The service knows nothing of WebSocket: this module (in the protocol package, above the service)
subclasses :class:`~boomnet.service.endpoint.StreamEndpoint` and builds the WebSocket over the
stream the service helps connect. Replays find the recorded ``Sec-WebSocket-Key`` here, not in
the service. Liveness runs from a timer registered here (``every()``), which calls
``WebSocket.check_liveness``; a :class:`~boomnet.errors.PeerTimeout` it raises disconnects the
endpoint with that error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..service.endpoint import C
from ..service.options import Backoff
from ..service.resolver import Address
from ..service.stream_endpoint import StreamEndpoint
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from .client import WebSocket
from .handshake import parse_ws_url
from .options import WsOptions, build_options

__all__ = ["WebsocketEndpoint", "liveness_period"]


def liveness_period(options: WsOptions) -> float | None:
    """How often the endpoint's timer checks liveness: a quarter of the shortest timeout, within
    [0.05 s, 1 s] (detection is late by at most this much); ``None`` when nothing is timed."""
    timed = [options.idle_timeout]
    if options.ping_interval is not None:
        timed += [options.ping_interval, options.ping_timeout]
    times = [t for t in timed if t is not None]
    if not times:
        return None
    return min(1.0, max(0.05, min(times) / 4))


class WebsocketEndpoint(StreamEndpoint[WebSocket, C]):
    """An endpoint whose target is a :class:`~boomnet.ws.WebSocket` to ``url`` (ws:// or wss://),
    generic over your context type ``C`` (``class Feed(WebsocketEndpoint[Book])``).

    Override :meth:`on_connected` (``ws`` is open: subscribe) and :meth:`poll` (read frames with
    ``ws.read_batch()``). ``wss://`` adds TLS. Options: ``tcp`` (:class:`TcpOptions`), ``tls``
    (:class:`TlsOptions`), ``ws`` (:class:`~boomnet.ws.WsOptions`) and ``**ws_overrides``, fields
    of ``WsOptions`` (``headers=``, ``max_message_size=``, ``ping_interval=``, ...): a misspelt
    keyword (``handshake_timout=3``) is a ``TypeError`` here, at construction. The older
    keywords ``ca_file``, ``verify``, ``server_hostname`` (TLS) and ``connect_timeout``,
    ``bind``, ``interface`` (TCP) still work and override the matching option fields.

    Override :meth:`create_websocket` to compose the stream stack by hand, e.g.
    ``WebSocket(TcpStream.connect_addr(*addr).into_tls(host).into_recorded("feed"), self.url, self.ws)``.
    """

    def __init__(
        self,
        url: str,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        ws: WsOptions | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Backoff | None = None,
        ca_file: str | None = None,
        verify: bool | None = None,
        server_hostname: str | None = None,
        connect_timeout: float | None = None,
        bind: tuple[str, int] | None = None,
        interface: str | None = None,
        **ws_overrides: Any,
    ) -> None:
        parsed = parse_ws_url(url)
        #: the validated WebSocket options every connection of this endpoint uses
        self.ws: WsOptions = build_options(ws, ws_overrides)  # first: a typo fails before anything else
        #: the keyword overrides as given (kept for subclasses that pass them on by name)
        self.ws_options: dict[str, Any] = dict(ws_overrides)
        legacy = {
            "ca_file": ca_file, "verify": verify, "server_hostname": server_hostname,
            "connect_timeout": connect_timeout, "bind": bind, "interface": interface,
        }
        super().__init__(
            parsed.host,
            parsed.port,
            secure=parsed.secure,
            tcp=tcp,
            tls=tls,
            auto_disconnect=auto_disconnect,
            backoff=backoff,
            **{k: v for k, v in legacy.items() if v is not None},
        )
        self.url = url
        period = liveness_period(self.ws)
        if period is not None:
            self.every(period, _check_liveness)

    def create_target(self, addr: Address | None, ctx: C) -> WebSocket | None:
        ws = self.create_websocket(addr, ctx)
        if ws is not None:
            ws.liveness_on_read = False  # our timer checks it; reads never look at the clock
        return ws

    def create_websocket(self, addr: Address | None, ctx: C) -> WebSocket | None:
        """The WebSocket for one connection attempt; override to build the stream stack by hand."""
        return WebSocket(self.create_stream(addr), self.url, self.ws)

    def create_replay_target(self, stream: Stream, ctx: C) -> WebSocket:
        # The recorded 101 answers the *recorded* Sec-WebSocket-Key; a fresh random key would
        # fail the accept check. A replay runs at its own speed: no pings, no idle timeout.
        options = self.ws.replace(key=_recorded_ws_key(stream), ping_interval=None, idle_timeout=None)
        return WebSocket(stream, self.url, options)

    def on_connected(self, ws: WebSocket, ctx: C) -> None:
        """The WebSocket is open: send subscriptions here."""

    def poll(self, ws: WebSocket, ctx: C) -> None:
        """Read frames: ``for frame in ws.read_batch(): ...``. The default discards them."""
        ws.read_batch()


def _check_liveness(ws: WebSocket, ctx: object) -> None:
    ws.check_liveness(time.monotonic())


def _recorded_ws_key(stream: Stream) -> str | None:
    """The Sec-WebSocket-Key of the upgrade request inside a replayed recording, if any."""
    recording = getattr(stream, "recording", None)
    if recording is None:
        return None
    for request in recording.writes():  # the first write is the upgrade request
        for line in request.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                return str(value.strip().decode("ascii", "replace"))
        return None  # it had no key
    return None
