"""``WebsocketEndpoint``: an IOService endpoint whose target is a :class:`WebSocket`.

The service knows nothing of WebSocket: this module (in the protocol package, above the service)
subclasses :class:`~boomnet.service.endpoint.StreamEndpoint` and builds the WebSocket over the
stream the service helps connect. Replays find the recorded ``Sec-WebSocket-Key`` here, not in
the service.
"""

from __future__ import annotations

from typing import Any, Callable

from ..service.endpoint import Address, StreamEndpoint
from ..stream.recording import OUT
from .client import WebSocket
from .handshake import parse_ws_url

__all__ = ["WebsocketEndpoint"]


class WebsocketEndpoint(StreamEndpoint):
    """An endpoint whose target is a :class:`~boomnet.ws.WebSocket` to ``url`` (ws:// or wss://).

    Override :meth:`on_connected` (``ws`` is open: subscribe) and :meth:`poll` (read frames with
    ``ws.read_batch()``). ``wss://`` adds TLS; ``ca_file``, ``verify`` and ``server_hostname``
    go to the TLS layer, ``connect_timeout``/``bind``/``interface`` to the TCP connect, and every
    other keyword (``headers``, ``handshake_timeout``, ``max_message_size``, ...) to the WebSocket.
    Override :meth:`create_websocket` to compose the stream stack by hand, e.g.
    ``WebSocket(TcpStream.connect_addr(*addr).into_tls(host).into_recorded("feed"), self.url)``.
    """

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        bind: tuple[str, int] | None = None,
        interface: str | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Any = None,
        **ws_options: Any,
    ) -> None:
        parsed = parse_ws_url(url)
        super().__init__(
            parsed.host,
            parsed.port,
            secure=parsed.secure,
            ca_file=ca_file,
            verify=verify,
            server_hostname=server_hostname,
            connect_timeout=connect_timeout,
            bind=bind,
            interface=interface,
            auto_disconnect=auto_disconnect,
            backoff=backoff,
        )
        self.url = url
        self.ws_options = ws_options

    def create_target(self, addr: Address | None, ctx: Any) -> Any | None:
        return self.create_websocket(addr, ctx)

    def create_websocket(self, addr: Address | None, ctx: Any) -> "WebSocket | None":
        """The WebSocket for one connection attempt; override to build the stream stack by hand."""
        return WebSocket(self.create_stream(addr), self.url, **self.ws_options)

    def create_replay_target(self, stream: Any, ctx: Any) -> Any:
        # The recorded 101 answers the *recorded* Sec-WebSocket-Key; a fresh random key would
        # fail the accept check.
        return WebSocket(stream, self.url, **{**self.ws_options, "key": _recorded_ws_key(stream)})

    def on_connected(self, ws: "WebSocket", ctx: Any) -> None:  # type: ignore[override]
        """The WebSocket is open: send subscriptions here."""

    def poll(self, ws: "WebSocket", ctx: Any) -> None:  # type: ignore[override]
        """Read frames: ``for frame in ws.read_batch(): ...``. The default discards them."""
        ws.read_batch()


def _recorded_ws_key(stream: Any) -> str | None:
    """The Sec-WebSocket-Key of the upgrade request inside a replayed recording, if any."""
    recording = getattr(stream, "recording", None)
    if recording is None:
        return None
    data = recording.data
    for kind, offset, length in zip(recording.kinds, recording.offsets, recording.lengths):
        if kind != OUT:
            continue
        for line in bytes(data[offset : offset + length]).split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                return value.strip().decode("ascii", "replace")
        return None  # the first write is the upgrade request; it had no key
    return None
