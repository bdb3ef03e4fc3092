"""Typed records onto the bus and back: the publisher side numbers them, the consumer side
checks the numbers and hands typed records to the same kind of handler a direct feed has.

    pub = RecordPublisher(nats, venue="binance", publisher="worker-1")
    pub.publish("btcusdt", "trade", trade, exch_ns=trade.event_time * 1_000_000)

    class Strategy(RecordConsumer):
        def on_record(self, kind, record, env, ctx): ...
    io.register(Strategy([nats_url], {"trade": Trade, "bookTicker": BookTicker}, "md.binance.>",
                         checks={"trade": first_bad}))     # optional: the checks the venue decoder runs

Records are any msgspec-encodable value (msgspec Structs, NamedTuples, dicts); the consumer
decodes each kind into the type registered for it, so a strategy receives the same classes it
would get from ``BinanceEndpoint``. A kind with no registered type is counted and skipped.
``epoch`` defaults to the publisher's start time in ns, so a restarted worker is a new epoch
and consumers mark the restart as a gap (:class:`~boomnet.bus.envelope.GapTracker`).

Batching (``RecordPublisher(..., batch=64)``): the records of one stream (symbol, kind)
published during a poll travel in one version-2 envelope (at most ``batch`` records each), so
NATS carries one message for many records and the consumer decodes them with one msgspec call.
Nothing waits longer than it would unbatched: over a :class:`NatsEndpoint` the batches are
closed by the endpoint's own write at the end of the poll (``before_write``); over another bus
call :meth:`RecordPublisher.flush` yourself. Gaps stay exact per record (numbered per stream).
Order is kept per stream; across streams, the records of one poll arrive grouped by stream.
"""

from __future__ import annotations

import logging
import time
from time import time_ns as _time_ns
from collections.abc import Mapping, Sequence
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import msgspec

from ..errors import LocalError, ProtocolError
from .envelope import (
    BATCH_VERSION,
    ENVELOPE_VERSION,
    BatchEnvelope,
    Envelope,
    GapTracker,
    _BatchOut,
    decode_batch,
    decode_envelope,
    encode_envelope,
    subject_for,
)
from .nats.endpoint import NatsEndpoint
from .nats.protocol import Msg

__all__ = ["RecordPublisher", "RecordConsumer", "Publisher", "BatchingBus", "Check"]

log = logging.getLogger("boomnet.bus")


Check = Callable[[Sequence[Any]], int]


class Publisher(Protocol):
    """Where a :class:`RecordPublisher` puts encoded envelopes (NATS, ZeroMQ, ...)."""

    def publish(self, subject: str, payload: bytes) -> None: ...


@runtime_checkable
class BatchingBus(Protocol):
    """A bus that tells a batching publisher when it is about to write (:class:`NatsEndpoint`)."""

    def publish(self, subject: str, payload: bytes) -> None: ...

    def before_write(self, fn: Callable[[], object]) -> None: ...

    def write_soon(self) -> None: ...


class _Batch:
    __slots__ = ("symbol", "kind", "subject", "seq", "records", "recv", "exch", "dirty")

    def __init__(self, symbol: str, kind: str, subject: str) -> None:
        self.symbol, self.kind, self.subject = symbol, kind, subject
        self.seq = 1  # the number of the first record pending
        self.records: list[object] = []
        self.recv: list[int] = []
        self.exch: list[int] = []
        self.dirty = False  # listed in the publisher's batches to flush


class RecordPublisher:
    """Numbers records and publishes them in envelopes: one per record (``batch=1``, version 1,
    numbered per publisher) or one per stream and poll (``batch > 1``, version 2, numbered per
    (publisher, symbol, kind), at most ``batch`` records per envelope)."""

    def __init__(self, bus: Publisher, *, venue: str, publisher: str, epoch: int | None = None,
                 batch: int = 1) -> None:
        if batch < 1:
            raise LocalError(f"batch must be >= 1, not {batch}")
        self.bus = bus
        self.venue = venue
        self.publisher = publisher
        self.epoch = time.time_ns() if epoch is None else epoch
        self.batch = batch
        #: version 1: the last sequence number; batching: records handed to the bus (all streams)
        self.seq = 0
        self._encode = msgspec.msgpack.Encoder().encode
        self._subjects: dict[tuple[str, str], str] = {}
        self._batches: dict[tuple[str, str], _Batch] = {}
        self._dirty: list[_Batch] = []  # batches holding records, in the order they got their first
        self._wake: Callable[[], object] | None = None
        if batch > 1 and isinstance(bus, BatchingBus):
            bus.before_write(self.flush)
            self._wake = bus.write_soon

    def publish(self, symbol: str, kind: str, record: object, *, exch_ns: int = 0, recv_ns: int | None = None) -> int:
        """Publish one record; returns its sequence number (per publisher, or per stream when batching)."""
        if self.batch > 1:
            # hot path (batching): three appends to the stream's pending batch; the encoding
            # and the NATS command are per batch
            b = self._batches.get((symbol, kind))
            if b is None:
                b = self._new_batch(symbol, kind)
            records = b.records
            records.append(record)
            b.recv.append(_time_ns() if recv_ns is None else recv_ns)
            b.exch.append(exch_ns)
            n = len(records)
            seq = b.seq + n - 1
            if not b.dirty:
                self._mark(b)
            if n >= self.batch:
                self._send(b)
            return seq
        key = (symbol, kind)
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subjects[key] = subject_for(self.venue, symbol, kind)
        self.seq = seq = self.seq + 1
        env = Envelope(ENVELOPE_VERSION, self.venue, symbol, kind, exch_ns,
                       time.time_ns() if recv_ns is None else recv_ns, self.publisher, self.epoch, seq,
                       self._encode(record))
        self.bus.publish(subject, encode_envelope(env))
        return seq

    def _new_batch(self, symbol: str, kind: str) -> _Batch:
        b = self._batches[(symbol, kind)] = _Batch(symbol, kind, subject_for(self.venue, symbol, kind))
        return b

    def _mark(self, b: _Batch) -> None:
        if not self._dirty and self._wake is not None:
            self._wake()  # the bus polls soon and calls flush() before it writes
        b.dirty = True
        self._dirty.append(b)

    def _send(self, b: _Batch) -> None:
        out = _BatchOut(BATCH_VERSION, self.venue, b.symbol, b.kind, self.publisher, self.epoch, b.seq, b.recv,
                        b.exch, b.records)
        data = self._encode(out)
        self.seq += len(b.records)
        b.seq += len(b.records)
        b.records.clear()  # encoded synchronously above: the lists are reused
        b.recv.clear()
        b.exch.clear()
        self.bus.publish(b.subject, data)

    def flush(self) -> None:
        """Publish every batch holding records (called by the bus before it writes)."""
        dirty = self._dirty
        if dirty:
            for b in dirty:
                b.dirty = False
                if b.records:
                    self._send(b)
            dirty.clear()

    @property
    def pending(self) -> int:
        """Records collected and not yet published (batching)."""
        return sum(len(b.records) for b in self._dirty)


class RecordConsumer(NatsEndpoint):
    """A NATS subscriber that turns envelopes back into typed records.

    Override :meth:`on_record`; :meth:`on_gap` is told about every gap (``missed`` messages, or
    ``-1`` for a publisher restart). ``gaps`` holds the counts; ``latency_ns`` the last
    receive-to-consume latency (``now - env.recv_ns``).
    """

    def __init__(self, servers: Sequence[str], types: Mapping[str, type], subjects: str | Sequence[str],
                 *, queue: str | None = None, checks: Mapping[str, Check] | None = None, **options: Any) -> None:
        super().__init__(servers, **options)
        #: kind -> fn(records) returning the index of the first invalid record or -1 (e.g.
        #: ``endpoints.binance_checks.first_bad``: the checks a direct feed's decoder runs that
        #: msgspec's types do not); a failing record is a ProtocolError, nothing of it is handed on
        self._checks: dict[str, Check] = dict(checks or {})
        self.gaps = GapTracker()
        self.records = 0
        self.unknown_kinds = 0
        self.latency_ns = 0
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            kind: msgspec.msgpack.Decoder(t) for kind, t in types.items()
        }
        self._batch_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            kind: msgspec.msgpack.Decoder(list[t]) for kind, t in types.items()  # type: ignore[valid-type]
        }
        for subject in [subjects] if isinstance(subjects, str) else subjects:
            self.subscribe(subject, queue=queue, handler=self._on_bus_message)

    def _on_bus_message(self, msg: Msg, ctx: Any) -> None:
        data = msg.payload
        if len(data) > 1 and data[1] == BATCH_VERSION and data[0] == 0x9A:
            self._on_batch_message(data, ctx)
            return
        env = decode_envelope(data)
        missed = self.gaps.check(env)
        if missed:
            self.on_gap(env, missed, ctx)
        decoder = self._decoders.get(env.kind)
        if decoder is None:
            self.unknown_kinds += 1
            return
        try:
            record = decoder.decode(env.payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(f"bus record of kind {env.kind!r} does not decode: {exc}") from None
        check = self._checks.get(env.kind)
        if check is not None and check((record,)) >= 0:
            raise ProtocolError(f"bus record {env.publisher}/{env.seq} of kind {env.kind!r} fails its check")
        self.records += 1
        self.latency_ns = time.time_ns() - env.recv_ns
        self.on_record(env.kind, record, env, ctx)

    def _on_batch_message(self, data: bytes | bytearray | memoryview, ctx: Any) -> None:
        batch = decode_batch(data)
        missed = self.gaps.check_batch(batch)
        if missed:
            self.on_gap(_record_envelope(batch, 0), missed, ctx)
        decoder = self._batch_decoders.get(batch.kind)
        if decoder is None:
            self.unknown_kinds += len(batch.recv_ns)
            return
        try:
            records = decoder.decode(batch.records)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(f"bus batch of kind {batch.kind!r} does not decode: {exc}") from None
        if len(records) != len(batch.recv_ns):
            raise ProtocolError(f"bus batch of {len(records)} records carries {len(batch.recv_ns)} timestamps")
        check = self._checks.get(batch.kind)
        if check is not None:
            bad = check(records)
            if bad >= 0:
                raise ProtocolError(f"bus record {batch.publisher}/{batch.seq + bad} of kind {batch.kind!r} "
                                    "fails its check (the batch is refused)")
        self.records += len(records)
        self.latency_ns = time.time_ns() - batch.recv_ns[-1]
        self.on_batch(batch.kind, records, batch, ctx)

    def on_batch(self, kind: str, records: list[Any], batch: BatchEnvelope, ctx: Any) -> None:
        """The typed records of one version-2 envelope, in order (record ``i`` is number
        ``batch.seq + i``, stamped ``batch.recv_ns[i]`` / ``batch.exch_ns[i]``). The default
        hands each to :meth:`on_record` with its own :class:`Envelope` (``v=2``, empty
        ``payload``); override it to take the whole list at once."""
        on_record = self.on_record
        for i, record in enumerate(records):
            on_record(kind, record, _record_envelope(batch, i), ctx)

    def on_record(self, kind: str, record: Any, env: Envelope, ctx: Any) -> None:
        """A typed record arrived (override)."""

    def on_gap(self, env: Envelope, missed: int, ctx: Any) -> None:
        """``missed`` messages of ``env.publisher`` never arrived (``-1``: it restarted)."""
        if missed < 0:
            log.warning("%r: publisher %s restarted (epoch %d): gap of unknown size", self, env.publisher, env.epoch)
        else:
            log.warning("%r: %d messages of %s missing before seq %d", self, missed, env.publisher, env.seq)


def _record_envelope(batch: BatchEnvelope, i: int) -> Envelope:
    return Envelope(BATCH_VERSION, batch.venue, batch.symbol, batch.kind, batch.exch_ns[i], batch.recv_ns[i],
                    batch.publisher, batch.epoch, batch.seq + i, b"")
