"""RPC over :mod:`boomnet.msg` connections on the IOService: a client endpoint and a server.

    class Pricing(RpcClientEndpoint):
        def on_connected(self, conn, ctx):
            super().on_connected(conn, ctx)
            self.call("quote", b"BTCUSDT", timeout=0.5, callback=ctx.on_quote)

    server = RpcServerEndpoint("127.0.0.1", 7000, handlers={"quote": quote, "ticks": streaming(ticks)})
    io.register(server); io.register(Pricing("127.0.0.1", 7000))

Envelopes (:mod:`.protocol`) travel as messages of a length-prefixed codec (4-byte big-endian
length, by default; any bytes codec works). Calls made while the client is disconnected wait
and go out, in order, when it connects; on a disconnect every call in flight fails at once with
:class:`~boomnet.errors.CallLost` saying whether it may have been executed. Deadlines are
checked by a timer every ``deadline_check`` seconds (default 5 ms): that is the precision of a
timeout, bounded, never a busy loop of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import BoomnetError
from ..msg.codec import Buffer, Codec, LengthPrefixed
from ..msg.connection import Connection
from ..msg.endpoint import ListenerEndpoint, MsgEndpoint, Reactor
from ..service.endpoint import Disconnect
from .client import Call, RpcClient
from .protocol import decode
from .server import Handlers, RpcSession

__all__ = ["RpcClientEndpoint", "RpcServerEndpoint", "RpcReactor"]

log = logging.getLogger("boomnet.rpc")

Payload = bytes | bytearray | memoryview


class RpcClientEndpoint(MsgEndpoint[Buffer]):
    """An RPC client connection (reconnects like every endpoint)."""

    def __init__(self, host: str, port: int, *, codec: Codec[Buffer] | None = None, deadline_check: float = 0.005,
                 max_stream_buffer: int = 10_000, max_in_flight: int = 100_000, **options: Any) -> None:
        super().__init__(host, port, codec=codec or LengthPrefixed(), **options)
        self.rpc = RpcClient(None, max_stream_buffer=max_stream_buffer, max_in_flight=max_in_flight)
        self.lost: list[Call] = []  # the calls the last disconnect failed (see CallLost.maybe_executed)
        self._conn_push: Callable[[Any], object] | None = None
        self.every(deadline_check, lambda conn, ctx: self.rpc.expire())

    def call(self, method: str, payload: Payload = b"", *, timeout: float | None = None,
             callback: Callable[[Call], object] | None = None) -> Call:
        return self.rpc.call(method, payload, timeout=timeout, callback=callback)

    def stream(self, method: str, payload: Payload = b"", *, timeout: float | None = None,
               on_item: Callable[[Call, bytes], object] | None = None,
               callback: Callable[[Call], object] | None = None) -> Call:
        return self.rpc.stream(method, payload, timeout=timeout, on_item=on_item, callback=callback)

    def cancel(self, call: Call) -> None:
        self.rpc.cancel(call)

    def on_connected(self, conn: Connection[Buffer], ctx: Any) -> None:
        push = conn.push
        control = self.control

        def send(data: Buffer) -> None:
            # queued now, written once at the end of this endpoint's next poll (batched)
            push(data)
            if control is not None:
                control.poll_soon()

        self.rpc.connected(send)
        conn.flush()

    def on_message(self, conn: Connection[Buffer], msg: Buffer, ctx: Any) -> None:
        self.rpc.on_envelope(decode(msg))

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        self.lost = self.rpc.fail_all(str(reason))
        if self.lost:
            log.warning("%r: %s; %d calls failed (%d may have been executed)", self, reason, len(self.lost),
                        sum(1 for c in self.lost if c.sent))
        return super().on_disconnect(reason, ctx)

    def metrics(self) -> dict[str, float]:
        """Call counters for ``IOService.stats()`` / :mod:`boomnet.metrics` (cold path)."""
        return {**{k: float(v) for k, v in self.rpc.stats().items()}, "lost_on_disconnect": len(self.lost)}


class RpcReactor(Reactor[Buffer]):
    """Serves one accepted connection with an :class:`RpcSession`."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.session: RpcSession | None = None
        self.closed = False

    def on_connected(self, conn: Connection[Buffer], ctx: Any) -> None:
        self.session = RpcSession(self.handlers, conn.push, flush=conn.flush, name=conn.name)

    def on_message(self, conn: Connection[Buffer], msg: Buffer, ctx: Any) -> None:
        session = self.session
        if session is not None:
            session.on_envelope(decode(msg))
            if session.active_streams:
                session.pump()

    def on_disconnect(self, conn: Connection[Buffer], reason: Disconnect, ctx: Any) -> None:
        self.closed = True
        if self.session is not None:
            self.session.close()


class RpcServerEndpoint(ListenerEndpoint[Buffer]):
    """Listens and serves ``handlers`` on every accepted connection. Streams advance every poll
    of their connection and on a timer (``pump_every``) while the reader is slow."""

    def __init__(self, host: str, port: int, *, handlers: Handlers, codec: Codec[Buffer] | None = None, pump_every: float = 0.001,
                 **options: Any) -> None:
        self.handlers = handlers
        self.reactors: list[RpcReactor] = []

        def factory(conn: Connection[Buffer]) -> RpcReactor:
            reactor = RpcReactor(handlers)
            self.reactors.append(reactor)
            return reactor

        super().__init__(host, port, codec=codec or LengthPrefixed(), reactor_factory=factory, **options)
        self.every(pump_every, self._pump)

    def _pump(self, target: Any, ctx: Any) -> None:
        if any(r.closed for r in self.reactors):
            self.reactors = [r for r in self.reactors if not r.closed]
        for reactor in self.reactors:
            session = reactor.session
            if session is not None and (session.active_streams or session.blocked):
                try:
                    session.pump()
                except BoomnetError as exc:
                    # that connection is failing (its own poll will see why); the listener is fine
                    log.info("%r: pumping %s failed: %s", self, session.name, exc)
                    reactor.closed = True
                    session.close()
