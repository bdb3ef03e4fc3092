"""``NatsEndpoint``: publish and subscribe to NATS on the IOService loop, never blocking.

    nats = NatsEndpoint(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"], name="worker-1")
    nats.subscribe("md.binance.>", handler=on_msg)      # survives reconnects
    io.register(nats)
    nats.publish("md.binance.btcusdt.trade", payload)   # from any endpoint's handler

Publishing never blocks the loop. Messages are encoded at once into a bounded queue and written
in one batch per poll (or as soon as ``flush_bytes`` are queued). The queue also holds what is
published while disconnected, and what the socket has not taken when the server is slower than
the feed. It is bounded by ``max_buffered`` messages / ``max_buffered_bytes`` (the encoded size of whole
commands, exactly: a message that would pass either limit is an overflow); when full, the
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
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ...errors import LocalError, NetworkError, PeerTimeout, SendBufferFull
from ...service.endpoint import Address, Disconnect, StreamEndpoint
from ...stream.base import Stream
from ...url import parse_url
from .connection import NatsConnection
from .protocol import PING, Msg, check_subject, encode_headers, encode_pub

__all__ = ["NatsEndpoint", "Subscription", "Overflow"]

log = logging.getLogger("boomnet.bus.nats")

Overflow = Literal["drop_oldest", "drop_new", "raise"]
Handler = Callable[[Msg, Any], object]


_CRLF = b"\r\n"
_MAX_CACHED_SUBJECTS = 65536  # beyond this many subjects, heads are built per message (still correct)
_SIZES: dict[int, bytes] = {}  # payload size -> b"<size>\r\n"


def _size_line(n: int) -> bytes:
    line = b"%d\r\n" % n
    if n < 65536:
        _SIZES[n] = line
    return line


def _command_end(out: bytearray, start: int) -> int:
    """The end of the PUB/HPUB/PING command starting at ``start`` in ``out``."""
    eol = out.index(_CRLF, start)
    head = out[start:eol].split()
    if head[0] == b"PING":
        return eol + 2
    return eol + 2 + int(head[-1]) + 2


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


class NatsEndpoint(StreamEndpoint[NatsConnection, Any]):
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
        self._user, self._password, self._token = user, password, token
        self.client_name = name
        self._discover = discover
        self._subs: dict[int, Subscription] = {}
        self._next_sid = 1
        self._out = bytearray()  # encoded commands not yet handed to the stream
        self._count = 0  # ... how many
        self.max_buffered = max_buffered
        self.max_buffered_bytes = max_buffered_bytes
        self.overflow: Overflow = overflow
        self.flush_bytes = flush_bytes
        self.max_pending_bytes = max_pending_bytes
        self.max_pings_outstanding = max_pings_outstanding
        # subject -> (size, b"PUB <subject> <size>\r\n", command length, b"PUB <subject> ")
        self._heads: dict[str, tuple[int, bytes, int, bytes]] = {}
        self._nats: NatsConnection | None = None
        self._before_write: list[Callable[[], object]] = []
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
        # hot path: one dict lookup finds the subject's "PUB <subject> <size>\r\n" line built for
        # the size its first message had (records of one kind rarely change size; another size
        # costs one bytes concatenation), then three appends to one bytearray: no per-message
        # formatting, no method lookups, no exceptions
        head = self._heads.get(subject)
        if head is not None and reply is None and headers is None:
            n = len(payload)
            if head[0] == n:
                line, command = head[1], head[2]
            else:
                suffix = _SIZES.get(n)
                if suffix is None:
                    suffix = _size_line(n)
                line = head[3] + suffix
                command = len(line) + n + 2
            out = self._out
            count = self._count
            size = len(out) + command
            if count < self.max_buffered and size <= self.max_buffered_bytes:
                out += line
                out += payload
                out += _CRLF
                self._count = count + 1
                self.published += 1
                if not count:
                    self._wake()
                elif size >= self.flush_bytes:
                    self._flush_now()
                return
        self._publish(subject, payload, reply, headers)

    def _publish(self, subject: str, payload: bytes | bytearray | memoryview, reply: str | None,
                 headers: dict[str, str | list[str]] | None) -> None:
        """The general path: a new subject or size, a reply subject, headers, or a full queue."""
        n = len(payload)
        if reply is None and headers is None:
            prefix = b"PUB " + check_subject(subject) + b" "
            size = _SIZES.get(n)
            if size is None:
                size = _size_line(n)
            if len(self._heads) < _MAX_CACHED_SUBJECTS:
                self._heads[subject] = (n, prefix + size, len(prefix) + len(size) + n + 2, prefix)
            parts: tuple[bytes | bytearray | memoryview, ...] = (prefix, size, payload, _CRLF)
            command = len(prefix) + len(size) + n + 2
        else:
            data = encode_pub(check_subject(subject), payload, check_subject(reply) if reply else None,
                              encode_headers(headers) if headers else None)
            parts = (data,)
            command = len(data)
        out = self._out
        full = self._count >= self.max_buffered or len(out) + command > self.max_buffered_bytes
        if full and not self._overflowed(command):
            return
        for part in parts:
            out += part
        self._count += 1
        self.published += 1
        if self._count == 1:
            self._wake()
        elif len(out) >= self.flush_bytes:
            self._flush_now()

    def _flush_now(self) -> None:
        conn = self._nats
        if conn is not None and conn.is_open:
            self._flush_out(conn)

    def _overflowed(self, size: int) -> bool:
        """Apply the overflow policy; ``True`` if the new message may be queued."""
        if self.overflow == "raise":
            raise SendBufferFull(f"NATS publish queue full ({self._count} messages, {len(self._out)} bytes)")
        if not self._dropping:
            self._dropping = True
            log.error("%r: publish queue full (%d messages); policy %s — messages are being dropped",
                      self, self._count, self.overflow)
        self.dropped += 1
        if self.overflow == "drop_new":
            return False
        # drop the oldest whole commands (the rare path: parse their heads to find the ends)
        out = self._out
        cut = 0
        while self._count and (self._count >= self.max_buffered or len(out) - cut + size > self.max_buffered_bytes):
            cut = _command_end(out, cut)
            self._count -= 1
        del out[:cut]
        return True

    def before_write(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` whenever this endpoint is about to write its queue on its poll (and on
        connect): a batching publisher (:class:`~boomnet.bus.records.RecordPublisher` with
        ``batch``) publishes what it collected during the poll there. Ask for that poll with
        :meth:`write_soon`."""
        self._before_write.append(fn)

    def write_soon(self) -> None:
        """Have the service poll this endpoint on its next poll (its queue is written then)."""
        self._wake()

    def _run_before_write(self) -> None:
        for fn in self._before_write:
            fn()

    def _wake(self) -> None:
        # the service polls this endpoint on its next poll(): everything published until then
        # goes out in one write (not registered yet: on_connected flushes the queue)
        control = self.control
        if control is not None:
            control.poll_soon()

    def _flush_out(self, conn: NatsConnection) -> None:
        out = self._out
        if not out:
            return
        if conn.pending > self.max_pending_bytes:
            conn.flush()  # the server is slower than we publish: hold the rest in our queue
            return
        try:
            conn.write_raw(out)  # the stream copies what the socket does not take at once
        except NetworkError as exc:
            # keep the batch queued (nothing of it was taken) for the next connection; the dead
            # socket reports readiness, so this endpoint's poll sees the error and disconnects
            log.info("%r: write failed (%s); %d messages stay queued", self, exc, self._count)
            return
        out.clear()
        self._count = 0
        self._dropping = False

    def confirm(self) -> Callable[[], bool]:
        """Queue a PING behind everything published so far; the returned function is ``True``
        once its PONG arrived, i.e. the server has processed all of it (acks, publishes). For a
        clean stop: a socket closed with unread input is reset, and the server may then drop
        what it had not read yet."""
        conn = self._nats
        if conn is None or not conn.is_open:
            raise NetworkError("NATS endpoint is not connected")
        self._out += PING
        self._count += 1
        target = conn.ping(write=False)
        self._wake()
        return lambda: conn.pongs >= target

    @property
    def buffered(self) -> int:
        """Messages queued, not yet handed to the socket."""
        return self._count

    @property
    def pending(self) -> int:
        """Bytes handed to the connection that the socket has not taken yet (0 when not connected)."""
        conn = self._nats
        return conn.pending if conn is not None else 0

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

        conn = NatsConnection(stream, name=self.client_name, tls=tls, user=self._user,
                              password=self._password, token=self._token)
        self._nats = conn
        return conn

    def on_connected(self, conn: NatsConnection, ctx: Any) -> None:
        self.connects += 1
        if self._discover and conn.info is not None:
            self._learn(conn.info.connect_urls)
        for sub in self._subs.values():
            conn.subscribe(sub.subject, sub.sid, sub.queue)
        if self._before_write:
            self._run_before_write()
        self._flush_out(conn)

    def poll(self, conn: NatsConnection, ctx: Any) -> None:
        msgs = conn.read_batch()
        if not msgs:
            if self._before_write:
                self._run_before_write()
            if self._out:
                self._flush_out(conn)
            return
        subs = self._subs
        self.delivered += len(msgs)
        try:
            for msg in msgs:
                sub = subs.get(msg.sid)
                if sub is None:
                    continue  # unsubscribed while in flight
                sub.delivered += 1
                if sub.handler is not None:
                    sub.handler(msg, ctx)
                else:
                    self.on_message(msg, ctx)
        finally:
            # what the handlers published before one of them raised (acks, replies) still goes out
            if self._before_write:
                self._run_before_write()
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

    def metrics(self) -> dict[str, float]:
        """Protocol counters for ``IOService.stats()`` / :mod:`boomnet.metrics` (cold path)."""
        return {"published": self.published, "dropped": self.dropped, "delivered": self.delivered,
                "buffered": self.buffered, "subscriptions": len(self._subs)}

