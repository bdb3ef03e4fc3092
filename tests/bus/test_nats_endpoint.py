"""NatsEndpoint on the IOService against real nats-server processes, with nats-py as the
independent publisher/subscriber."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from boomnet.bus.envelope import Envelope, GapTracker, decode_envelope, encode_envelope
from boomnet.bus.nats.endpoint import NatsEndpoint
from boomnet.bus.nats.protocol import Msg
from boomnet.errors import PeerTimeout, SendBufferFull
from boomnet.service import DisconnectKind, IOService

from .conftest import NatsServer, wait_for
from .natspy_peer import NatsPyPeer
from tests.conftest import spin as _shared_spin


def _spin(io: IOService[Any], cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    _shared_spin(io, cond, timeout, what)





def test_boomnet_publishes_nats_py_receives_everything_in_order(nats_server: NatsServer) -> None:
    peer = NatsPyPeer([nats_server.url])
    io = IOService()
    try:
        peer.subscribe("md.>")
        nats = NatsEndpoint([nats_server.url])
        io.register(nats)
        _spin(io, lambda: nats.connects == 1, what="connect")
        n = 20_000
        for i in range(n):
            nats.publish("md.t", b"%08d" % i + b"x" * 92)
            if i % 1000 == 0:
                io.poll()
        nats.publish("md.h", b"with headers", headers={"Nats-Msg-Id": "7", "X": ["a", "b"]})
        _spin(io, lambda: len(peer.received) == n + 1, timeout=20, what="all messages at nats-py")
        payloads = [p for s, p, _ in peer.received if s == "md.t"]
        assert payloads == [b"%08d" % i + b"x" * 92 for i in range(n)]
        subject, payload, headers = peer.received[-1]
        assert (subject, payload) == ("md.h", b"with headers") and headers is not None
        assert headers["Nats-Msg-Id"] == "7"
        assert nats.dropped == 0 and nats.published == n + 1
    finally:
        io.close()
        peer.close()


def test_nats_py_publishes_boomnet_subscriber_receives(nats_server: NatsServer) -> None:
    io = IOService()
    got: list[tuple[str, bytes, dict[str, list[str]]]] = []

    def on_msg(msg: Msg, ctx: Any) -> None:
        got.append((msg.subject, bytes(msg.payload), msg.header_map()))

    nats = NatsEndpoint([nats_server.url])
    nats.subscribe("md.*.btc", handler=on_msg)
    io.register(nats)
    peer = NatsPyPeer([nats_server.url])
    try:
        _spin(io, lambda: nats.connects == 1, what="connect")
        # a round trip through the server proves our SUB arrived before nats-py publishes
        nats.publish("md.sync.btc", b"sync")
        _spin(io, lambda: len(got) == 1, what="own sync message")
        peer.publish("md.x.btc", [b"%d" % i for i in range(5000)])
        peer.publish("md.y.btc", [b"h"], headers={"K": "v"})
        peer.publish("md.x.eth", [b"not for us"])
        _spin(io, lambda: len(got) == 5002, what="messages at boomnet")
        assert [p for s, p, _ in got[1:5001]] == [b"%d" % i for i in range(5000)]
        assert got[-1] == ("md.y.btc", b"h", {"K": ["v"]})
    finally:
        io.close()
        peer.close()


def test_publishing_while_disconnected_is_bounded_and_counted(nats_server: NatsServer) -> None:
    nats = NatsEndpoint([nats_server.url], max_buffered=100, overflow="drop_oldest")
    for i in range(150):  # not registered: nothing can go out yet
        nats.publish("md.q", b"%d" % i)
    assert nats.buffered == 100 and nats.dropped == 50
    peer = NatsPyPeer([nats_server.url])
    io = IOService()
    try:
        peer.subscribe("md.q")
        io.register(nats)
        _spin(io, lambda: len(peer.received) == 100, what="buffered messages delivered on connect")
        # drop-oldest: the newest 100 survive, in order
        assert [p for _, p, _ in peer.received] == [b"%d" % i for i in range(50, 150)]
    finally:
        io.close()
        peer.close()
    strict = NatsEndpoint([nats_server.url], max_buffered=2, overflow="raise")
    strict.publish("md.q", b"1")
    strict.publish("md.q", b"2")
    try:
        strict.publish("md.q", b"3")
    except SendBufferFull:
        pass
    else:
        raise AssertionError("overflow='raise' did not raise")


def test_cluster_failover_every_message_or_a_counted_gap(nats_cluster: list[NatsServer]) -> None:
    n1, n2, n3 = nats_cluster
    peer = NatsPyPeer([n2.url, n3.url])
    io = IOService().with_backoff(0.05, 2.0, 0.5)
    try:
        peer.subscribe("md.>")
        nats = NatsEndpoint([n1.url, n2.url, n3.url], ping_interval=0.5)
        io.register(nats)
        _spin(io, lambda: nats.connects == 1, what="connect")
        # the cluster's routes need a moment: wait until a probe published on n1 reaches n2
        for _ in range(200):
            nats.publish("md.probe", b"p")
            io.poll()
            if any(s == "md.probe" for s, _, _ in peer.received):
                break
            time.sleep(0.02)
        peer.received.clear()
        total = 6000
        for seq in range(1, total + 1):
            env = Envelope(1, "sim", "btc", "trade", 0, time.time_ns(), "pub-1", 1, seq, b"r")
            nats.publish("md.sim.btc.trade", encode_envelope(env))
            io.poll()
            if seq == total // 2:
                n1.stop()  # the node the publisher is connected to dies mid-stream
        _spin(io, lambda: nats.connects >= 2 and nats.buffered == 0, timeout=20, what="failover")
        # the tail may still be routing: wait until nothing new arrives for a moment
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            io.poll()
            if len(peer.received) != last:
                last, stable_since = len(peer.received), time.monotonic()
        gaps = GapTracker()
        seqs = []
        for subject, payload, _ in peer.received:
            if subject == "md.sim.btc.trade":
                env = decode_envelope(payload)
                gaps.check(env)
                seqs.append(env.seq)
        # never silent: every message either arrived or is inside a counted gap
        print("failover:", len(seqs), "received,", gaps.missed, "missed in", gaps.gaps, "gaps; connects", nats.connects)
        assert len(seqs) + gaps.missed + (total - seqs[-1]) == total
        assert seqs == sorted(seqs) and gaps.duplicates == 0
        assert seqs[-1] == total, "messages published after the failover must arrive"
        assert nats.host == "127.0.0.1" and nats.port != n1.port
    finally:
        io.close()
        peer.close()


def test_a_frozen_server_is_noticed_by_pings(nats_server: NatsServer) -> None:
    reasons: list[Any] = []

    class Watched(NatsEndpoint):
        def on_disconnect(self, reason: Any, ctx: Any) -> bool:
            reasons.append(reason)
            return False

    nats = Watched([nats_server.url], ping_interval=0.2, max_pings_outstanding=2)
    io = IOService(check_every=1)
    io.register(nats)
    try:
        _spin(io, lambda: nats.connects == 1, what="connect")
        os.kill(nats_server.proc.pid, signal.SIGSTOP)  # half-open: TCP stays up, nothing answers
        started = time.monotonic()
        try:
            _spin(io, lambda: bool(reasons), timeout=5, what="ping timeout")
        finally:
            os.kill(nats_server.proc.pid, signal.SIGCONT)
        detected = time.monotonic() - started
        assert reasons[0].kind == DisconnectKind.ERROR and isinstance(reasons[0].error, PeerTimeout)
        assert detected < 1.5, f"took {detected:.2f}s"
    finally:
        io.close()


def test_envelope_gap_tracker_counts_restarts_and_gaps() -> None:
    g = GapTracker()

    def env(epoch: int, seq: int) -> Envelope:
        return Envelope(1, "v", "s", "k", 0, 0, "p", epoch, seq, b"")

    assert [g.check(env(1, s)) for s in (1, 2, 5, 5, 4, 6)] == [0, 0, 2, 0, 0, 0]
    assert (g.gaps, g.missed, g.duplicates) == (1, 2, 2)
    assert g.check(env(2, 1)) == -1 and g.restarts == 1
    assert g.check(env(1, 7)) == 0 and g.duplicates == 3
    wait_for(lambda: True)


def test_typed_records_round_trip_through_the_bus(nats_server: NatsServer) -> None:
    import msgspec

    from boomnet.bus.records import RecordConsumer, RecordPublisher

    class Trade(msgspec.Struct, frozen=True):
        symbol: str
        trade_id: int
        price: str

    got: list[tuple[str, Any, int]] = []

    class Strategy(RecordConsumer):
        def on_record(self, kind: str, record: Any, env: Envelope, ctx: Any) -> None:
            got.append((kind, record, env.seq))

    io = IOService()
    consumer = Strategy([nats_server.url], {"trade": Trade}, "md.sim.>")
    publisher_ep = NatsEndpoint([nats_server.url])
    io.register(consumer)
    io.register(publisher_ep)
    try:
        _spin(io, lambda: consumer.connects == 1 and publisher_ep.connects == 1, what="connect")
        _spin(io, lambda: True)  # let the SUB reach the server
        pub = RecordPublisher(publisher_ep, venue="sim", publisher="w1", epoch=1)
        # a round trip proves the subscription is in place before counting (probes may be
        # published before the consumer's SUB reached the server: repeat until one arrives)
        deadline = time.monotonic() + 10
        while consumer.unknown_kinds == 0 and time.monotonic() < deadline:
            pub.publish("btc", "probe", {"x": 1})
            _spin(io, lambda: True)
            time.sleep(0.01)
        assert consumer.unknown_kinds >= 1, "no probe arrived"
        first_seq = pub.seq + 1
        for i in range(1000):
            pub.publish("btc", "trade", Trade("btc", i, f"{i}.5"))
        _spin(io, lambda: len(got) == 1000, what="records")
        assert [r for _, r, _ in got] == [Trade("btc", i, f"{i}.5") for i in range(1000)]
        assert [s for _, _, s in got] == list(range(first_seq, first_seq + 1000))
        assert consumer.gaps.missed == 0
        # a restarted publisher is a new epoch: the consumer marks it
        pub2 = RecordPublisher(publisher_ep, venue="sim", publisher="w1", epoch=2)
        pub2.publish("btc", "trade", Trade("btc", -1, "1"))
        _spin(io, lambda: consumer.gaps.restarts == 1, what="restart marked")
    finally:
        io.close()
