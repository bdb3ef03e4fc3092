"""``NatsEndpoint``: publish and subscribe to NATS on the IOService loop, never blocking.

    nats = NatsEndpoint(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"], name="worker-1")
    nats.subscribe("md.binance.>", handler=on_msg)      # survives reconnects
    io.register(nats)
    nats.publish("md.binance.btcusdt.trade", payload)   # from any endpoint's handler

Publishing never blocks the loop. Messages are encoded at once into a bounded queue and written
in one batch per poll (or as soon as ``flush_bytes`` are queued). The queue also holds what is
published while disconnected, and what the socket has not taken when the server is slower than
the feed. It is bounded by ``max_buffered`` messages / ``max_buffered_bytes``; when full, the
``overflow`` policy decides: ``"drop_oldest"`` (default: the newest market data matters most;
counted in ``dropped``), ``"drop_new"`` (counted likewise) or ``"raise"``
(:class:`~boomnet.errors.SendBufferFull` to the publisher). Nothing is dropped silently: the
counters are public, every first drop after a healthy period is logged, and the bus envelope's
sequence numbers let consumers see gaps.

Failover: ``servers`` are tried in order, then the cluster members the server announces in INFO
(``connect_urls``); after a disconnect the next one is used. Subscriptions are re-sent on every
connect. Liveness: a PING every ``ping_interval`` s; ``max_pings_outstanding`` unanswered PINGs
disconnect with :class:`~boomnet.errors.PeerTimeout`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ...errors import LocalError, NetworkError, PeerTimeout, SendBufferFull
from ...service.endpoint import Address, Disconnect, StreamEndpoint
from ...stream.base import Stream
from ...url import parse_url
from .connection import NatsConnection
from .protocol import Msg, check_subject, encode_headers, encode_pub

__all__ = ["NatsEndpoint", "Subscription", "Overflow"]

log = logging.getLogger("boomnet.bus.nats")

Overflow = Literal["drop_oldest", "drop_new", "raise"]
Handler = Callable[[Msg, Any], object]


class Subscription:
    __slots__ = ("sid", "subject", "queue", "handler", "delivered")

    def __init__(self, sid: int, subject: str, queue: str | None, handler: Handler | None) -> None:
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.handler = handler
        self.delivered = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.sid} {self.subject!r}{' queue=' + self.queue if self.queue else ''}>"


class NatsEndpoint(StreamEndpoint):
    """A NATS client on the IOService: publisher, subscriber, or both."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        name: str = "boomnet",
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ca_file: str | None = None,
        verify: bool = True,
        connect_timeout: float = 5.0,
        max_buffered: int = 1_000_000,
        max_buffered_bytes: int = 256 * 1024 * 1024,
        overflow: Overflow = "drop_oldest",
        flush_bytes: int = 64 * 1024,
        max_pending_bytes: int = 8 * 1024 * 1024,
        ping_interval: float = 5.0,
        max_pings_outstanding: int = 2,
        discover: bool = True,
        auto_disconnect: float | Callable[[], float] | None = None,
    ) -> None:
        if not servers:
            raise LocalError("NatsEndpoint needs at least one server URL")
        if overflow not in ("drop_oldest", "drop_new", "raise"):
            raise LocalError(f"overflow must be 'drop_oldest', 'drop_new' or 'raise', not {overflow!r}")
        if max_buffered < 1 or max_buffered_bytes < 1 or flush_bytes < 1 or max_pending_bytes < 1:
            raise LocalError("NatsEndpoint buffer limits must be positive")
        urls = [parse_url(s, ("nats", "tls")) for s in servers]
        self._servers: list[tuple[str, int, bool]] = [(u.host, u.port, u.scheme == "tls") for u in urls]
        self._server_index = 0
        host, port, secure = self._servers[0]
        super().__init__(host, port, secure=False, ca_file=ca_file, verify=verify,
                         connect_timeout=connect_timeout, auto_disconnect=auto_disconnect)
        self._tls_wanted = secure
        self._auth = {"user": user, "password": password, "token": token}
        self.client_name = name
        self._discover = discover
        self._subs: dict[int, Subscription] = {}
        self._next_sid = 1
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self.max_buffered = max_buffered
        self.max_buffered_bytes = max_buffered_bytes
        self.overflow: Overflow = overflow
        self.flush_bytes = flush_bytes
        self.max_pending_bytes = max_pending_bytes
        self.max_pings_outstanding = max_pings_outstanding
        self._subjects: dict[str, bytes] = {}
        self._nats: NatsConnection | None = None
        self.published = 0
        self.dropped = 0
        self.delivered = 0
        self.connects = 0
        self._dropping = False
        if ping_interval:
            self.every(ping_interval, self._ping)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, subject: str, payload: bytes | bytearray | memoryview, *, reply: str | None = None,
                headers: dict[str, str | list[str]] | None = None) -> None:
        """Queue one message; written at the end of this poll (or sooner in big batches)."""
        raw = self._subjects.get(subject)
        if raw is None:
            raw = check_subject(subject)
            if len(self._subjects) < 65536:
                self._subjects[subject] = raw
        data = encode_pub(raw, payload, check_subject(reply) if reply else None,
                          encode_headers(headers) if headers else None)
        out = self._out
        full = len(out) >= self.max_buffered or self._out_bytes + len(data) > self.max_buffered_bytes
        if full and not self._overflowed(len(data)):
            return
        was_empty = not out
        out.append(data)
        self._out_bytes += len(data)
        self.published += 1
        conn = self._nats
        if conn is not None and conn.is_open:
            if self._out_bytes >= self.flush_bytes:
                self._flush_out(conn)
            elif was_empty:
                self._wake()

    def _overflowed(self, size: int) -> bool:
        """Apply the overflow policy; ``True`` if the new message may be queued."""
        if self.overflow == "raise":
            raise SendBufferFull(f"NATS publish queue full ({len(self._out)} messages, {self._out_bytes} bytes)")
        if not self._dropping:
            self._dropping = True
            log.error("%r: publish queue full (%d messages); policy %s — messages are being dropped",
                      self, len(self._out), self.overflow)
        self.dropped += 1
        if self.overflow == "drop_new":
            return False
        while self._out and (len(self._out) >= self.max_buffered or self._out_bytes + size > self.max_buffered_bytes):
            self._out_bytes -= len(self._out.popleft())
        return True

    def _wake(self) -> None:
        control = getattr(self, "control", None)
        poll_soon = getattr(control, "poll_soon", None)
        if poll_soon is not None:
            poll_soon()
        elif self._nats is not None:
            self._flush_out(self._nats)  # no batching hook in this service: write now

    def _flush_out(self, conn: NatsConnection) -> None:
        if not self._out or conn.pending > self.max_pending_bytes:
            if self._out and conn.pending:
                conn.flush()
            return
        out = self._out
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            conn.write_raw(data)
        except NetworkError as exc:
            # keep the batch queued (nothing of it was taken) for the next connection; the dead
            # socket reports readiness, so this endpoint's poll sees the error and disconnects
            log.info("%r: write failed (%s); %d messages stay queued", self, exc, len(out))
            return
        out.clear()
        self._out_bytes = 0
        self._dropping = False

    @property
    def buffered(self) -> int:
        """Messages queued, not yet handed to the socket."""
        return len(self._out)

    # --- subscribing ------------------------------------------------------------------------

    def subscribe(self, subject: str, *, queue: str | None = None, handler: Handler | None = None) -> Subscription:
        """Subscribe now (if connected) and after every reconnect."""
        check_subject(subject, wildcards=True)
        sub = Subscription(self._next_sid, subject, queue, handler)
        self._next_sid += 1
        self._subs[sub.sid] = sub
        if self._nats is not None and self._nats.is_open:
            self._nats.subscribe(subject, sub.sid, queue)
            self._wake()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if self._subs.pop(sub.sid, None) is not None and self._nats is not None and self._nats.is_open:
            self._nats.unsubscribe(sub.sid)

    def on_message(self, msg: Msg, ctx: Any) -> None:
        """A message for a subscription without its own handler (payload valid until next poll)."""

    # --- endpoint ---------------------------------------------------------------------------

    def create_target(self, addr: Address | None, ctx: Any) -> NatsConnection:
        stream = self.create_stream(addr)
        tls: Callable[[Stream], Stream] | None = None
        if self._tls_wanted:
            host = self.host or ""

            def tls(inner: Stream) -> Stream:
                return inner.into_tls(host, ca_file=self.ca_file, verify=self.verify)

        conn = NatsConnection(stream, name=self.client_name, tls=tls, **self._auth)
        self._nats = conn
        return conn

    def on_connected(self, conn: NatsConnection, ctx: Any) -> None:  # type: ignore[override]
        self.connects += 1
        if self._discover and conn.info is not None:
            self._learn(conn.info.connect_urls)
        for sub in self._subs.values():
            conn.subscribe(sub.subject, sub.sid, sub.queue)
        self._flush_out(conn)

    def poll(self, conn: NatsConnection, ctx: Any) -> None:  # type: ignore[override]
        msgs = conn.read_batch()
        if msgs:
            subs = self._subs
            self.delivered += len(msgs)
            for msg in msgs:
                sub = subs.get(msg.sid)
                if sub is None:
                    continue  # unsubscribed while in flight
                sub.delivered += 1
                if sub.handler is not None:
                    sub.handler(msg, ctx)
                else:
                    self.on_message(msg, ctx)
        if self._out:
            self._flush_out(conn)

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        self._nats = None
        if len(self._servers) > 1:
            self._server_index = (self._server_index + 1) % len(self._servers)
            self.host, self.port, self._tls_wanted = self._servers[self._server_index]
            log.info("%r: %s; next server %s:%s", self, reason, self.host, self.port)
        return True

    def _ping(self, conn: NatsConnection, ctx: Any) -> None:
        if conn.pings_outstanding >= self.max_pings_outstanding:
            raise PeerTimeout(f"NATS server {self.host}:{self.port} did not answer "
                              f"{conn.pings_outstanding} PINGs")
        conn.ping()
        self._wake()

    def _learn(self, urls: list[str]) -> None:
        known = {(h, p) for h, p, _ in self._servers}
        for u in urls:
            host, _, port = u.rpartition(":")
            host = host.strip("[]")
            if host and port.isdigit() and (host, int(port)) not in known:
                self._servers.append((host, int(port), self._tls_wanted))
                known.add((host, int(port)))
                log.info("%r: learned cluster member %s", self, u)

    def describe(self) -> str:
        return f"nats://{self.host}:{self.port}"

