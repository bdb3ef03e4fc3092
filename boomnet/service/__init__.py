"""The busy-poll service layer: an :class:`IOService` owns user :class:`Endpoint`\\ s.

    class Trades(WebsocketEndpoint[Ctx]):       # from boomnet.ws
        def on_connected(self, ws, ctx):
            ws.send_text('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}')

        def poll(self, ws, ctx):
            for frame in ws.read_batch():
                ctx.on_trade(frame.payload)

    io: IOService[Ctx] = IOService(EpollSelector())
    io.register(Trades("wss://stream.binance.com:9443/ws", auto_disconnect=3600))
    while True:
        io.poll(ctx)                            # never blocks

The service runs endpoints' ``prepare()`` and resolves names off-thread, connects without
blocking, drives TLS/WebSocket handshakes across polls, reconnects (at once after a healthy
connection, with back-off after failures) when ``Endpoint.on_disconnect`` agrees, recycles
connections after ``auto_disconnect`` seconds and runs ``Endpoint.every`` timers. Endpoint code
acts on the service through ``endpoint.control`` / ``endpoint.disconnect()``. Selectors:
:class:`EpollSelector` (readiness), :class:`DirectSelector` (poll everything),
:class:`IoUringSelector` (readiness via io_uring completions).
"""

from .control import EndpointControl
from .endpoint import Address, Disconnect, DisconnectKind, Endpoint, StreamEndpoint, Timer
from .io_service import IOService
from .options import Backoff, ErrorPolicy, ServiceOptions
from .registry import Handle
from .resolver import Lookup, Resolver
from .stats import EndpointSnapshot, EndpointStats
from .select import DirectSelector, EpollSelector, IoUringSelector, Selector, SelectorUnavailable
from .target import Target

__all__ = [
    "IOService",
    "ServiceOptions",
    "ErrorPolicy",
    "Endpoint",
    "EndpointControl",
    "StreamEndpoint",
    "Target",
    "Handle",
    "Backoff",
    "Disconnect",
    "DisconnectKind",
    "Timer",
    "EndpointStats",
    "EndpointSnapshot",
    "Address",
    "Resolver",
    "Lookup",
    "Selector",
    "SelectorUnavailable",
    "EpollSelector",
    "DirectSelector",
    "IoUringSelector",
]
