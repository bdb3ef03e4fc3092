"""The busy-poll service layer: an :class:`IOService` owns user :class:`Endpoint`\\ s.

    class Trades(WebsocketEndpoint):          # from boomnet.ws
        def on_connected(self, ws, ctx):
            ws.send_text('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}')

        def poll(self, ws, ctx):
            for frame in ws.read_batch():
                ctx.on_trade(frame.payload)

    io = IOService(EpollSelector())          # or EpollSelector().into_io_service()
    io.register(Trades("wss://stream.binance.com:9443/ws", auto_disconnect=3600))
    while True:
        io.poll(ctx)                            # never blocks

The service resolves names off-thread, connects without blocking, drives TLS/WebSocket handshakes
across polls, reconnects with back-off when ``Endpoint.on_disconnect`` agrees, recycles
connections after ``auto_disconnect`` seconds and runs ``Endpoint.every`` timers. Selectors:
:class:`EpollSelector` (readiness), :class:`DirectSelector` (poll everything),
:class:`IoUringSelector` (readiness via io_uring completions).
"""

from .conn import Backoff, Handle
from .endpoint import Address, Disconnect, DisconnectKind, Endpoint, StreamEndpoint, Timer
from .target import Target
from .io_service import IOService
from .select import DirectSelector, EpollSelector, IoUringSelector, Selector, SelectorUnavailable

__all__ = [
    "IOService",
    "Endpoint",
    "StreamEndpoint",
    "Target",
    "Handle",
    "Backoff",
    "Disconnect",
    "DisconnectKind",
    "Timer",
    "Address",
    "Selector",
    "SelectorUnavailable",
    "EpollSelector",
    "DirectSelector",
    "IoUringSelector",
]
