"""JetStream on the IOService: a durable pull consumer that resumes where it left off.

    class Replay(JetStreamConsumer):
        def on_stored(self, msg, ctx): ...            # acked after it returns
    io.register(Replay([url], stream="MD", durable="strategy-1", subjects=["md.>"]))

JetStream keeps messages in a stream on the server (file storage survives server restarts);
a *durable* consumer remembers what was acknowledged, so a consumer process that restarts gets
every message it had not acked, and none it had. This is NATS's documented JetStream API over
plain core-protocol requests (``$JS.API.STREAM.CREATE``, ``$JS.API.CONSUMER.DURABLE.CREATE``,
``$JS.API.CONSUMER.MSG.NEXT``, acks to the message's reply subject), driven without blocking:
one pull request of ``batch`` messages is kept outstanding; a 404/408 status (nothing now /
request expired) simply pulls again. Acks are explicit, sent after :meth:`on_stored` returns;
an exception there leaves the message unacked, so the server redelivers it after ``ack_wait``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from ...errors import NatsProtocolError
from .connection import NatsConnection
from .endpoint import NatsEndpoint
from .protocol import Msg, parse_headers

__all__ = ["JetStreamConsumer"]

log = logging.getLogger("boomnet.bus.nats")


class JetStreamConsumer(NatsEndpoint):
    """A durable pull consumer of JetStream ``stream`` (created with ``subjects`` if missing)."""

    def __init__(self, servers: Sequence[str], *, stream: str, durable: str, subjects: Sequence[str] = (),
                 batch: int = 256, expires: float = 1.0, ack_wait: float = 30.0, **options: Any) -> None:
        super().__init__(servers, **options)
        self.stream_name = stream
        self.durable = durable
        self.stream_subjects = list(subjects)
        self.batch = batch
        self.expires_ns = int(expires * 1e9)
        self.ack_wait_ns = int(ack_wait * 1e9)
        self.inbox = f"_INBOX.{os.urandom(8).hex()}"
        self.stored = 0
        self.ready = False
        self._step = ""
        self.subscribe(f"{self.inbox}.*", handler=self._on_inbox)

    def on_connected(self, conn: NatsConnection, ctx: Any) -> None:
        super().on_connected(conn, ctx)
        self.ready = False
        if self.stream_subjects:
            self._request("stream", f"$JS.API.STREAM.CREATE.{self.stream_name}",
                          {"name": self.stream_name, "subjects": self.stream_subjects, "storage": "file"})
        else:
            self._create_consumer()

    def _request(self, step: str, subject: str, body: dict[str, Any]) -> None:
        self._step = step
        self.publish(subject, json.dumps(body).encode(), reply=f"{self.inbox}.{step}")

    def _create_consumer(self) -> None:
        self._request("consumer", f"$JS.API.CONSUMER.DURABLE.CREATE.{self.stream_name}.{self.durable}", {
            "stream_name": self.stream_name,
            "config": {"durable_name": self.durable, "ack_policy": "explicit", "deliver_policy": "all",
                       "ack_wait": self.ack_wait_ns, "max_ack_pending": max(1000, 4 * self.batch)},
        })

    def _pull(self) -> None:
        self.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream_name}.{self.durable}",
                     json.dumps({"batch": self.batch, "expires": self.expires_ns}).encode(),
                     reply=f"{self.inbox}.pull")

    def _on_inbox(self, msg: Msg, ctx: Any) -> None:
        # stored messages keep their own subject (the inbox is only the subscription) and carry
        # the ack subject as reply; status and API replies come on the inbox subjects
        if msg.reply is not None and msg.reply.startswith("$JS.ACK."):
            ack = msg.reply
            self.on_stored(msg, ctx)
            self.stored += 1
            self.publish(ack, b"+ACK")
            # the batch's last message says how many are still pending: pull again when this
            # pull's batch is done (the ack subject's 9th token counts what remains)
            parts = ack.split(".")
            if len(parts) >= 9 and (self.stored % self.batch == 0 or parts[-1] == "0"):
                self._pull()
            return
        step = msg.subject.rsplit(".", 1)[1]
        if step == "pull":
            status = parse_headers(bytes(msg.headers))[0][:3] if msg.headers is not None else ""
            if status in ("404", "408", "409"):  # nothing now / expired / limits: pull again
                self._pull()
                return
            raise NatsProtocolError(f"unexpected JetStream pull reply {msg!r} (status {status!r})")
        try:
            reply = json.loads(bytes(msg.payload) or b"{}")
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise NatsProtocolError(f"JetStream API reply is not a JSON object: {bytes(msg.payload)[:80]!r}")
        error = reply.get("error")
        if step == "stream":
            if error and error.get("err_code") != 10058:  # 10058: the stream exists already
                raise NatsProtocolError(f"JetStream stream create failed: {error}")
            self._create_consumer()
        elif step == "consumer":
            if error:
                raise NatsProtocolError(f"JetStream consumer create failed: {error}")
            self.ready = True
            self._pull()

    def on_stored(self, msg: Msg, ctx: Any) -> None:
        """A stored message (override); it is acknowledged after this returns."""
