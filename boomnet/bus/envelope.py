"""The versioned envelope records travel in on the bus, and gap detection on the consumer side.

Layout (msgpack, an array so it stays small; ``v`` first so a consumer can refuse what it does
not know)::

    [v=1, venue, symbol, kind, exch_ns, recv_ns, publisher, epoch, seq, payload]

* ``exch_ns`` / ``recv_ns``: the venue's event time and the publisher's receive time, ns since
  the epoch (``0`` when unknown) — a consumer measures end-to-end latency as ``now - recv_ns``
  (same host clock) or ``now - exch_ns``.
* ``publisher`` + ``epoch``: who published; ``epoch`` changes when a publisher restarts (a
  worker process restarted by the cluster supervisor), so the consumer knows the sequence began
  again and marks a gap of unknown size instead of seeing silence.
* ``seq``: 1, 2, 3 ... per (publisher, epoch): a missing number is a counted gap.
* ``payload``: the record, encoded with msgspec (msgpack) by the publisher's ``encode``.

Batches (version 2): a publisher that produces many records per poll puts all the records of
one stream (publisher, symbol, kind) collected in that poll into one message, so the bus carries
one operation for many records (nats-server's work, and the consumer's, is per message)::

    [v=2, venue, symbol, kind, publisher, epoch, seq, [recv_ns, ...], [exch_ns, ...], [record, ...]]

* ``seq`` is the first record's number; the records are ``seq, seq+1, ...``. Version 2 numbers
  records per *stream* (publisher, symbol, kind), not per publisher, so a consumer subscribed to
  a subset of the subjects sees no false gaps; gaps are still exact per record.
* ``records`` is one msgpack array of the records themselves (not bytes inside bytes): the
  consumer decodes the whole array into typed records with one msgspec call.

A consumer tells the versions apart by the second byte (both are 10-field msgpack arrays, the
version a positive fixint after the array header): :func:`envelope_version`.

Subjects: ``md.<venue>.<symbol>.<kind>`` by convention (:func:`subject_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from ..errors import ProtocolError

__all__ = ["Envelope", "ENVELOPE_VERSION", "BATCH_VERSION", "BatchEnvelope", "encode_envelope", "decode_envelope",
           "decode_batch", "envelope_version", "GapTracker", "subject_for"]

ENVELOPE_VERSION = 1
BATCH_VERSION = 2


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    v: int
    venue: str
    symbol: str
    kind: str
    exch_ns: int
    recv_ns: int
    publisher: str
    epoch: int
    seq: int
    payload: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Envelope)


def encode_envelope(env: Envelope) -> bytes:
    return _encoder.encode(env)


def decode_envelope(data: bytes | bytearray | memoryview) -> Envelope:
    """Decode and check the version; a malformed envelope is a :class:`ProtocolError`."""
    try:
        env = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed bus envelope: {exc}") from None
    if env.v != ENVELOPE_VERSION:
        raise ProtocolError(f"bus envelope version {env.v} is not supported (expected {ENVELOPE_VERSION})")
    return env


class _BatchHead(msgspec.Struct, array_like=True, frozen=True):
    """The fields of a version-2 envelope before its ``records``: one list, for the two
    layouts below (msgspec appends a subclass's fields after its base's, so both encode as the
    same 10-element array)."""

    v: int
    venue: str
    symbol: str
    kind: str
    publisher: str
    epoch: int
    seq: int
    recv_ns: list[int]
    exch_ns: list[int]


class BatchEnvelope(_BatchHead, frozen=True):
    """A version-2 envelope as a consumer decodes it (``records`` still encoded: decode it into
    the kind's type, e.g. ``msgspec.msgpack.Decoder(list[Trade]).decode(batch.records)``)."""

    records: msgspec.Raw


class _BatchOut(_BatchHead, frozen=True):
    """The same layout as the publisher encodes it (``records`` as values, one encode call)."""

    records: list[object]


_batch_decoder = msgspec.msgpack.Decoder(BatchEnvelope)


def envelope_version(data: bytes | bytearray | memoryview) -> int:
    """The version of an encoded envelope, from its first two bytes (``-1`` if it is not one)."""
    if len(data) < 2 or data[0] != 0x9A or data[1] > 0x7F:  # fixarray of 10, then a positive fixint
        return -1
    return int(data[1])


def decode_batch(data: bytes | bytearray | memoryview) -> BatchEnvelope:
    """Decode a version-2 envelope and check it (as many timestamps as records is checked by the
    consumer when it decodes ``records``); malformed is a :class:`ProtocolError`."""
    try:
        batch = _batch_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed bus batch envelope: {exc}") from None
    if batch.v != BATCH_VERSION:
        raise ProtocolError(f"bus envelope version {batch.v} is not a batch (expected {BATCH_VERSION})")
    if len(batch.recv_ns) != len(batch.exch_ns) or not batch.recv_ns:
        raise ProtocolError(f"bus batch envelope with {len(batch.recv_ns)} receive and {len(batch.exch_ns)} "
                            "exchange times")
    return batch


def subject_for(venue: str, symbol: str, kind: str) -> str:
    return f"md.{venue}.{symbol}.{kind}"


@dataclass
class _Stream:
    epoch: int
    last: int


@dataclass
class GapTracker:
    """Sequence checking per stream. ``check`` (version 1: one stream per publisher) and
    ``check_run`` (a run of ``count`` records from ``seq``, version 2: one stream per publisher,
    symbol and kind) return how many records were missed before (``0`` in order; ``-1`` for a
    restart: a new epoch, gap of unknown size). Duplicates and reordered old messages are
    counted in ``duplicates`` and return ``0``."""

    gaps: int = 0  # gap events (a run of missing messages counts once)
    missed: int = 0  # messages known to be missing
    restarts: int = 0
    duplicates: int = 0
    _streams: dict[object, _Stream] = field(default_factory=dict)

    def check(self, env: Envelope) -> int:
        return self.check_run(env.publisher, env.epoch, env.seq, 1)

    def check_batch(self, batch: BatchEnvelope) -> int:
        return self.check_run((batch.publisher, batch.symbol, batch.kind), batch.epoch, batch.seq,
                              len(batch.recv_ns))

    def check_run(self, stream: object, epoch: int, seq: int, count: int) -> int:
        last = seq + count - 1
        s = self._streams.get(stream)
        if s is None:
            self._streams[stream] = _Stream(epoch, last)
            return 0
        if epoch != s.epoch:
            if epoch < s.epoch:
                self.duplicates += 1  # a late message of an older epoch
                return 0
            s.epoch, s.last = epoch, last
            self.restarts += 1
            self.gaps += 1
            return -1
        expected = s.last + 1
        if seq == expected:
            s.last = last
            return 0
        if seq < expected:
            self.duplicates += 1
            if last > s.last:  # overlapping: the new tail is accepted
                s.last = last
            return 0
        missed = seq - expected
        s.last = last
        self.gaps += 1
        self.missed += missed
        return missed
