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

Subjects: ``md.<venue>.<symbol>.<kind>`` by convention (:func:`subject_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from ..errors import ProtocolError

__all__ = ["Envelope", "ENVELOPE_VERSION", "encode_envelope", "decode_envelope", "GapTracker", "subject_for"]

ENVELOPE_VERSION = 1


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


def subject_for(venue: str, symbol: str, kind: str) -> str:
    return f"md.{venue}.{symbol}.{kind}"


@dataclass
class _Stream:
    epoch: int
    last: int


@dataclass
class GapTracker:
    """Per-publisher sequence checking. ``check`` returns how many messages were missed before
    ``env`` (``0`` in order; ``-1`` for a restart: a new epoch, gap of unknown size). Duplicates
    and reordered old messages are counted in ``duplicates`` and return ``0``."""

    gaps: int = 0  # gap events (a run of missing messages counts once)
    missed: int = 0  # messages known to be missing
    restarts: int = 0
    duplicates: int = 0
    _streams: dict[str, _Stream] = field(default_factory=dict)

    def check(self, env: Envelope) -> int:
        s = self._streams.get(env.publisher)
        if s is None:
            self._streams[env.publisher] = _Stream(env.epoch, env.seq)
            return 0
        if env.epoch != s.epoch:
            if env.epoch < s.epoch:
                self.duplicates += 1  # a late message of an older epoch
                return 0
            s.epoch, s.last = env.epoch, env.seq
            self.restarts += 1
            self.gaps += 1
            return -1
        expected = s.last + 1
        if env.seq == expected:
            s.last = env.seq
            return 0
        if env.seq < expected:
            self.duplicates += 1
            return 0
        missed = env.seq - expected
        s.last = env.seq
        self.gaps += 1
        self.missed += missed
        return missed
