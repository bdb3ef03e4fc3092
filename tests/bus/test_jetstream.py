"""JetStream durable consumer: a consumer restart resumes after the last acknowledged message,
and a server restart keeps the stream (file storage). nats-py publishes (the independent peer)."""

from __future__ import annotations

import time
from typing import Any

from boomnet.bus.nats.jetstream import JetStreamConsumer
from boomnet.bus.nats.protocol import Msg
from boomnet.service import IOService

from .conftest import NatsServer
from .natspy_peer import NatsPyPeer
from tests.conftest import spin as _shared_spin


def _spin(io: IOService[Any], cond: Any, timeout: float = 15.0, what: str = "condition") -> None:
    _shared_spin(io, cond, timeout, what)



class Collect(JetStreamConsumer):
    def __init__(self, *a: Any, stop_after: int | None = None, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.got: list[bytes] = []
        self.stop_after = stop_after

    def on_stored(self, msg: Msg, ctx: Any) -> None:
        if self.stop_after is not None and len(self.got) >= self.stop_after:
            raise RuntimeError("consumer 'crashes' before acking this one")
        self.got.append(bytes(msg.payload))




def test_durable_consumer_resumes_after_restart(nats_js: NatsServer) -> None:
    first = Collect([nats_js.url], stream="MD", durable="strat", subjects=["md.>"], batch=50, ack_wait=1.0)
    io = IOService()
    io.register(first)
    peer = NatsPyPeer([nats_js.url])
    try:
        _spin(io, lambda: first.ready, what="stream + consumer created")
        peer.publish("md.t", [b"%d" % i for i in range(400)])
        _spin(io, lambda: len(first.got) == 400, what="first 400")
        done = first.confirm()  # a clean stop: the server has processed every ack
        _spin(io, done, what="acks confirmed")
        io.close()
        peer.publish("md.t", [b"%d" % i for i in range(400, 1000)])  # stored while nobody consumes
        nats_js.restart(graceful=True)  # the server restarts too: file storage keeps stream and consumer
        second = Collect([nats_js.url], stream="MD", durable="strat", batch=50, ack_wait=1.0)
        io = IOService()
        io.register(second)
        _spin(io, lambda: len(second.got) >= 600, what="the rest after restart")
        t_end = time.monotonic() + 0.3
        while time.monotonic() < t_end:
            io.poll()
        assert first.got == [b"%d" % i for i in range(400)]
        assert second.got == [b"%d" % i for i in range(400, 1000)], "the rest once, in order; nothing acked again"
    finally:
        io.close()
        peer.close()


def test_a_crashed_consumer_gets_at_least_once(nats_js: NatsServer) -> None:
    """Killed without confirming its acks (socket reset, server SIGKILLed): nothing is lost;
    what was acked but not yet persisted may come again — JetStream's documented guarantee."""
    first = Collect([nats_js.url], stream="MD", durable="c", subjects=["md.>"], batch=50, stop_after=300,
                    ack_wait=1.0)
    io = IOService()
    io.register(first)
    peer = NatsPyPeer([nats_js.url])
    try:
        _spin(io, lambda: first.ready, what="created")
        peer.publish("md.t", [b"%d" % i for i in range(600)])
        _spin(io, lambda: len(first.got) == 300, what="first 300")
        io.close()
        nats_js.restart(graceful=False)
        second = Collect([nats_js.url], stream="MD", durable="c", batch=50, ack_wait=1.0)
        io = IOService()
        io.register(second)
        _spin(io, lambda: {b"%d" % i for i in range(300, 600)} <= set(second.got), what="all of the rest")
        assert set(first.got) | set(second.got) == {b"%d" % i for i in range(600)}
    finally:
        io.close()
        peer.close()
