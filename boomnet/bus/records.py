"""Typed records onto the bus and back: the publisher side numbers them, the consumer side
checks the numbers and hands typed records to the same kind of handler a direct feed has.

    pub = RecordPublisher(nats, venue="binance", publisher="worker-1")
    pub.publish("btcusdt", "trade", trade, exch_ns=trade.event_time * 1_000_000)

    class Strategy(RecordConsumer):
        def on_record(self, kind, record, env, ctx): ...
    io.register(Strategy([nats_url], {"trade": Trade, "bookTicker": BookTicker}, "md.binance.>"))

Records are any msgspec-encodable value (msgspec Structs, NamedTuples, dicts); the consumer
decodes each kind into the type registered for it, so a strategy receives the same classes it
would get from ``BinanceEndpoint``. A kind with no registered type is counted and skipped.
``epoch`` defaults to the publisher's start time in ns, so a restarted worker is a new epoch
and consumers mark the restart as a gap (:class:`~boomnet.bus.envelope.GapTracker`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from ..errors import ProtocolError
from .envelope import ENVELOPE_VERSION, Envelope, GapTracker, decode_envelope, encode_envelope, subject_for
from .nats.endpoint import NatsEndpoint
from .nats.protocol import Msg

__all__ = ["RecordPublisher", "RecordConsumer", "Publisher"]

log = logging.getLogger("boomnet.bus")


class Publisher(Protocol):
    """Where a :class:`RecordPublisher` puts encoded envelopes (NATS, ZeroMQ, ...)."""

    def publish(self, subject: str, payload: bytes) -> None: ...


class RecordPublisher:
    """Numbers records per (publisher, epoch) and publishes them in envelopes."""

    def __init__(self, bus: Publisher, *, venue: str, publisher: str, epoch: int | None = None) -> None:
        self.bus = bus
        self.venue = venue
        self.publisher = publisher
        self.epoch = time.time_ns() if epoch is None else epoch
        self.seq = 0
        self._encode = msgspec.msgpack.Encoder().encode
        self._subjects: dict[tuple[str, str], str] = {}

    def publish(self, symbol: str, kind: str, record: object, *, exch_ns: int = 0, recv_ns: int | None = None) -> int:
        """Publish one record; returns its sequence number."""
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


class RecordConsumer(NatsEndpoint):
    """A NATS subscriber that turns envelopes back into typed records.

    Override :meth:`on_record`; :meth:`on_gap` is told about every gap (``missed`` messages, or
    ``-1`` for a publisher restart). ``gaps`` holds the counts; ``latency_ns`` the last
    receive-to-consume latency (``now - env.recv_ns``).
    """

    def __init__(self, servers: Sequence[str], types: Mapping[str, type], subjects: str | Sequence[str],
                 *, queue: str | None = None, **options: Any) -> None:
        super().__init__(servers, **options)
        self.gaps = GapTracker()
        self.records = 0
        self.unknown_kinds = 0
        self.latency_ns = 0
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            kind: msgspec.msgpack.Decoder(t) for kind, t in types.items()
        }
        for subject in [subjects] if isinstance(subjects, str) else subjects:
            self.subscribe(subject, queue=queue, handler=self._on_bus_message)

    def _on_bus_message(self, msg: Msg, ctx: Any) -> None:
        env = decode_envelope(msg.payload)
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
        self.records += 1
        self.latency_ns = time.time_ns() - env.recv_ns
        self.on_record(env.kind, record, env, ctx)

    def on_record(self, kind: str, record: Any, env: Envelope, ctx: Any) -> None:
        """A typed record arrived (override)."""

    def on_gap(self, env: Envelope, missed: int, ctx: Any) -> None:
        """``missed`` messages of ``env.publisher`` never arrived (``-1``: it restarted)."""
        if missed < 0:
            log.warning("%r: publisher %s restarted (epoch %d): gap of unknown size", self, env.publisher, env.epoch)
        else:
            log.warning("%r: %d messages of %s missing before seq %d", self, missed, env.publisher, env.seq)
