"""Version-2 (batch) envelopes: one NATS message per stream and poll, typed records back at the
consumer, gaps exact per record and per stream, nothing held past the poll, malformed batches
refused. The layout is checked against msgpack as documented (msgspec's generic decoder, not
our Struct) and the records go through a real nats-server."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from boomnet.bus import (
    BATCH_VERSION,
    BatchEnvelope,
    Envelope,
    GapTracker,
    NatsEndpoint,
    RecordConsumer,
    RecordPublisher,
    decode_batch,
    envelope_version,
)
from boomnet.errors import LocalError, ProtocolError
from boomnet.service import IOService

from .conftest import NatsServer
from .test_nats_publish_queue import RawNatsServer, raw_server  # noqa: F401 (fixture)
from tests.conftest import spin


class Trade(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    trade_id: int
    price: str


class Collect:
    """A plain bus: keeps what is published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, subject: str, payload: bytes) -> None:
        self.sent.append((subject, payload))


def test_layout_is_the_documented_msgpack_array() -> None:
    bus = Collect()
    pub = RecordPublisher(bus, venue="sim", publisher="w1", epoch=7, batch=3)
    seqs = [pub.publish("btc", "trade", Trade("btc", i, "1.5"), exch_ns=100 + i, recv_ns=200 + i) for i in range(4)]
    assert seqs == [1, 2, 3, 4]
    assert len(bus.sent) == 1 and pub.pending == 1  # the fourth waits for flush()
    pub.flush()
    assert pub.pending == 0 and len(bus.sent) == 2
    subject, data = bus.sent[0]
    assert subject == "md.sim.btc.trade" and envelope_version(data) == BATCH_VERSION
    assert msgspec.msgpack.decode(data) == [2, "sim", "btc", "trade", "w1", 7, 1, [200, 201, 202], [100, 101, 102],
                                            [["btc", 0, "1.5"], ["btc", 1, "1.5"], ["btc", 2, "1.5"]]]
    assert msgspec.msgpack.decode(bus.sent[1][1])[6:9] == [4, [203], [103]]
    pub.flush()  # nothing pending: nothing sent
    assert len(bus.sent) == 2
    with pytest.raises(LocalError):
        RecordPublisher(bus, venue="sim", publisher="w1", batch=0)


def test_streams_are_numbered_apart_and_flushed_in_first_record_order() -> None:
    bus = Collect()
    pub = RecordPublisher(bus, venue="sim", publisher="w1", epoch=1, batch=100)
    assert [pub.publish(s, "trade", Trade(s, 0, "1")) for s in ("eth", "btc", "eth", "btc", "btc")] == [1, 1, 2, 2, 3]
    pub.flush()
    assert [s for s, _ in bus.sent] == ["md.sim.eth.trade", "md.sim.btc.trade"]
    assert [decode_batch(d).seq for _, d in bus.sent] == [1, 1]
    assert pub.publish("btc", "trade", Trade("btc", 0, "1")) == 4
    assert pub.seq == 5 and pub.pending == 1  # records handed to the bus over all streams; one waits


def test_envelope_version_reads_only_the_header() -> None:
    v1 = msgspec.msgpack.encode(Envelope(1, "v", "s", "k", 0, 0, "p", 1, 1, b""))
    assert envelope_version(v1) == 1
    assert envelope_version(b"") == -1 and envelope_version(b"\x9a") == -1
    assert envelope_version(b"\x99\x02") == -1  # nine fields: not an envelope
    assert envelope_version(b"\x9a\xcc") == -1  # not a positive fixint


def test_malformed_batches_are_protocol_errors() -> None:
    good = [2, "sim", "btc", "trade", "w1", 1, 1, [1, 2], [3, 4], [["btc", 0, "1"], ["btc", 1, "1"]]]
    assert isinstance(decode_batch(msgspec.msgpack.encode(good)), BatchEnvelope)
    for bad in (good[:9], [1, *good[1:]], [*good[:7], [1], [3, 4], good[9]], [*good[:7], [], [], []],
                [*good[:6], "x", *good[7:]]):
        with pytest.raises(ProtocolError):
            decode_batch(msgspec.msgpack.encode(bad))


def test_gap_tracker_runs_gaps_overlaps_and_restarts() -> None:
    g = GapTracker()
    assert g.check_run("s", 1, 1, 5) == 0  # 1..5
    assert g.check_run("s", 1, 6, 2) == 0  # 6..7
    assert g.check_run("s", 1, 10, 3) == 2  # 8, 9 missing; now 12
    assert (g.gaps, g.missed) == (1, 2)
    assert g.check_run("s", 1, 12, 2) == 0 and g.duplicates == 1  # overlaps 12: 13 accepted
    assert g.check_run("s", 1, 14, 1) == 0
    assert g.check_run("s", 1, 3, 2) == 0 and g.duplicates == 2  # old: no change
    assert g.check_run("s", 1, 15, 1) == 0
    assert g.check_run("t", 1, 100, 1) == 0  # another stream starts anywhere
    assert g.check_run("s", 2, 1, 4) == -1 and g.restarts == 1
    assert g.check_run("s", 2, 5, 1) == 0
    assert g.check_run("s", 1, 16, 1) == 0 and g.duplicates == 3  # the old epoch is late
    assert (g.gaps, g.missed) == (2, 2)


class Consumer(RecordConsumer):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.got: list[tuple[str, Trade, int, int]] = []
        self.gap_events: list[tuple[str, int]] = []

    def on_record(self, kind: str, record: Any, env: Envelope, ctx: Any) -> None:
        if env.publisher != "probe":  # probes still in flight when the test starts counting
            self.got.append((env.symbol, record, env.seq, env.recv_ns))

    def on_gap(self, env: Envelope, missed: int, ctx: Any) -> None:
        self.gap_events.append((env.symbol, missed))


def _start(io: IOService[Any], *endpoints: NatsEndpoint) -> None:
    for ep in endpoints:
        io.register(ep)
    spin(io, lambda: all(ep.connects == 1 for ep in endpoints), what="connect")


def test_batches_round_trip_through_nats_server_as_typed_records(nats_server: NatsServer) -> None:
    io: IOService[Any] = IOService()
    everything = Consumer([nats_server.url], {"trade": Trade}, "md.sim.>")
    only_eth = Consumer([nats_server.url], {"trade": Trade}, "md.sim.eth.>")  # per-stream numbering: no false gaps
    bus = NatsEndpoint([nats_server.url])
    try:
        _start(io, everything, only_eth, bus)
        probe = RecordPublisher(bus, venue="sim", publisher="probe")
        deadline = time.monotonic() + 10
        while (everything.records == 0 or only_eth.records == 0) and time.monotonic() < deadline:
            probe.publish("eth", "trade", Trade("eth", -1, "0"))  # the SUBs are in place once one is back
            spin(io, lambda: True)
            time.sleep(0.01)
        pub = RecordPublisher(bus, venue="sim", publisher="w1", epoch=1, batch=16)
        symbols = ("btc", "eth", "sol")
        sent: list[tuple[str, Trade]] = []
        messages_before = bus.published
        for i in range(3000):
            s = symbols[i * 7 % 3]
            sent.append((s, Trade(s, i, f"{i}.5")))
            pub.publish(s, "trade", sent[-1][1])
            if i % 100 == 99:
                io.poll()  # ~100 records per poll: batches of up to 16, per stream
        spin(io, lambda: len(everything.got) == 3000 and len(only_eth.got) == 1000, what="records")
        for s in symbols:  # in order per stream (across streams, one poll's records come grouped by stream)
            assert [r for sym, r, _, _ in everything.got if sym == s] == [r for sym, r in sent if sym == s]
            assert [seq for sym, _, seq, _ in everything.got if sym == s] == list(range(1, 1001))
        assert [r for _, r, _, _ in only_eth.got] == [r for s, r in sent if s == "eth"]
        assert everything.gaps.missed == only_eth.gaps.missed == 0 and not only_eth.gap_events
        assert all(recv > 0 for _, _, _, recv in everything.got)
        assert bus.published - messages_before < 3000 / 8  # batching: far fewer NATS messages than records
        # a lost batch is a counted gap of exactly its records
        pub._batches[("btc", "trade")].seq += 5
        pub.publish("btc", "trade", Trade("btc", -2, "0"))
        spin(io, lambda: everything.gaps.missed == 5, what="the gap")
        assert ("btc", 5) in everything.gap_events
    finally:
        io.close()


def test_a_partial_batch_goes_out_with_the_poll(raw_server: RawNatsServer) -> None:  # noqa: F811
    io: IOService[Any] = IOService()
    bus = NatsEndpoint([raw_server.url], ping_interval=0)
    try:
        _start(io, bus)
        pub = RecordPublisher(bus, venue="sim", publisher="w1", epoch=1, batch=1000)
        for i in range(3):
            pub.publish("btc", "trade", Trade("btc", i, "1"))
        assert pub.pending == 3 and raw_server.data == b""
        io.poll()  # one poll: the endpoint asked for it, closed the batch and wrote it
        assert pub.pending == 0 and bus.buffered == 0
        deadline = time.monotonic() + 5
        while b"\r\n" not in raw_server.data[30:] and time.monotonic() < deadline:
            time.sleep(0.005)
        head, _, rest = bytes(raw_server.data).partition(b"\r\n")
        assert head.startswith(b"PUB md.sim.btc.trade ")
        batch = decode_batch(rest[:int(head.split()[-1])])
        assert (batch.seq, len(batch.recv_ns)) == (1, 3)
    finally:
        io.close()


def test_a_consumer_refuses_a_batch_whose_records_do_not_match_its_timestamps() -> None:
    from boomnet.bus.nats.protocol import Msg

    consumer = Consumer(["nats://127.0.0.1:1"], {"trade": Trade}, "md.>")
    head = [2, "sim", "btc", "trade", "w1", 1, 1, [1, 2], [3, 4]]

    def deliver(records: list[Any]) -> None:
        data = memoryview(msgspec.msgpack.encode([*head, records]))
        consumer._on_bus_message(Msg("md.sim.btc.trade", 1, None, None, data), None)

    with pytest.raises(ProtocolError):
        deliver([["btc", 0, "1"], ["btc", 1, "1"], ["btc", 2, "1"]])
    with pytest.raises(ProtocolError):
        deliver([["btc", "not an int", "1"], ["btc", 1, "1"]])
    deliver([["btc", 0, "1"], ["btc", 1, "1"]])
    head[3] = "other"
    deliver([[1], [2]])  # a kind with no registered type: counted per record, skipped
    assert [r for _, r, _, _ in consumer.got] == [Trade("btc", 0, "1"), Trade("btc", 1, "1")]
    assert consumer.records == 2 and consumer.unknown_kinds == 2


def test_checks_refuse_records_the_venue_decoder_would_refuse() -> None:
    from boomnet.bus import encode_envelope
    from boomnet.bus.nats.protocol import Msg

    def first_bad(records: Any) -> int:  # a decimal check written here, for the test
        for i, r in enumerate(records):
            if not r.price.replace(".", "", 1).isdigit():
                return i
        return -1

    checked = Consumer(["nats://127.0.0.1:1"], {"trade": Trade}, "md.>", checks={"trade": first_bad})
    unchecked = Consumer(["nats://127.0.0.1:1"], {"trade": Trade}, "md.>")
    good, bad = ["btc", 0, "1.5"], ["btc", 1, "1.5.5"]
    batches = [memoryview(msgspec.msgpack.encode([2, "sim", "btc", "trade", "w1", 1, 1, [1, 2], [3, 4], records]))
               for records in ([good, bad], [bad, good])]
    single = memoryview(encode_envelope(Envelope(1, "sim", "btc", "trade", 0, 0, "w1", 1, 1,
                                                 msgspec.msgpack.encode(bad))))
    for data in (*batches, single):
        msg = Msg("md.sim.btc.trade", 1, None, None, data)
        with pytest.raises(ProtocolError, match="fails its check"):
            checked._on_bus_message(msg, None)
        unchecked._on_bus_message(msg, None)  # msgspec's types alone accept it
    assert checked.records == 0 and not checked.got  # nothing of a refused batch is handed on
    assert unchecked.records == 5
