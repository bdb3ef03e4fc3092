"""Publish and consume normalised records over an existing distributed engine.

* NATS (:mod:`boomnet.bus.nats`): a non-blocking client protocol implementation on the IOService
  (publisher, subscriber, failover across a cluster, JetStream durable consumers).
* ZeroMQ (:mod:`boomnet.bus.zmq`): PUB / PUSH through pyzmq with the socket's fd on the selector.
* Records travel in a versioned envelope (:mod:`boomnet.bus.envelope`) with per-publisher sequence
  numbers, so consumers count gaps and mark publisher restarts (:mod:`boomnet.bus.records`);
  version 2 carries a batch of one stream's records per message (``RecordPublisher(batch=N)``).
"""

from .envelope import (
    BATCH_VERSION,
    ENVELOPE_VERSION,
    BatchEnvelope,
    Envelope,
    GapTracker,
    decode_batch,
    decode_envelope,
    encode_envelope,
    envelope_version,
    subject_for,
)
from .nats.endpoint import NatsEndpoint, Subscription
from .nats.jetstream import JetStreamConsumer
from .nats.protocol import Msg
from .records import RecordConsumer, RecordPublisher
from .zmq import ZmqPublisher

__all__ = [
    "BATCH_VERSION",
    "BatchEnvelope",
    "decode_batch",
    "envelope_version",
    "ENVELOPE_VERSION",
    "Envelope",
    "GapTracker",
    "decode_envelope",
    "encode_envelope",
    "subject_for",
    "NatsEndpoint",
    "Subscription",
    "JetStreamConsumer",
    "Msg",
    "RecordConsumer",
    "RecordPublisher",
    "ZmqPublisher",
]
