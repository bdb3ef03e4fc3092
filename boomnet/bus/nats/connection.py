"""A NATS client connection over any boomnet stream: a non-blocking driver around the parser.

    conn = NatsConnection(TcpStream.connect("127.0.0.1", 4222), name="feed-1")
    while not conn.establish(): ...            # INFO -> (TLS) -> CONNECT + PING -> PONG
    conn.subscribe("md.>", sid=1)
    conn.publish(b"md.binance.btcusdt", payload)   # queued; written by flush()/read_batch()
    for msg in conn.read_batch(): ...          # Msg events; payload views valid until next read

Writes: ``publish`` appends to the stream's pending output (the stream keeps what the socket
refuses, in order). ``pending`` says how much is queued; the *policy* for a full queue (drop or
disconnect) belongs to the publisher above (:mod:`boomnet.bus.nats.endpoint`), which knows
whether losing a message is acceptable. Server PINGs are answered; our own PINGs
(:meth:`ping`) count outstanding PONGs so the caller can detect a silent server.

TLS: NATS sends INFO in clear first; when the server requires TLS (or ``tls`` is given) the
driver wraps the established stream in :class:`~boomnet.stream.TlsStream` after INFO, with
verification on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ConnectionClosed, ConnectTimeout, NatsProtocolError, TlsError
from ...stream.base import Stream
from .protocol import (
    PING,
    PONG,
    Err,
    Event,
    Info,
    Msg,
    NatsLimits,
    NatsParser,
    Ok,
    Ping,
    Pong,
    encode_connect,
    encode_pub,
    encode_sub,
    encode_unsub,
)

__all__ = ["NatsConnection"]

log = logging.getLogger("boomnet.bus.nats")

_AWAIT_INFO, _AWAIT_PONG, _OPEN, _CLOSED = range(4)
VERSION = "0.1.0"


class NatsConnection:
    """One NATS client connection (a service :class:`~boomnet.service.target.Target`)."""

    def __init__(
        self,
        stream: Stream,
        *,
        name: str = "boomnet",
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls: Callable[[Stream], Stream] | None = None,
        echo: bool = True,
        limits: NatsLimits = NatsLimits(),
        handshake_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._parser = NatsParser(limits)
        self._state = _AWAIT_INFO
        self._clock = clock
        self._deadline: float | None = None
        self._handshake_timeout = handshake_timeout
        self._tls = tls
        self._connect: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python-boomnet",
            "version": VERSION,
            "protocol": 1,
            "headers": True,
            "no_responders": True,
            "echo": echo,
            "name": name,
        }
        if user is not None:
            self._connect.update(user=user, **({"pass": password} if password is not None else {}))
        if token is not None:
            self._connect["auth_token"] = token
        self.info: Info | None = None
        #: our PINGs not yet answered, and every PONG received so far
        self.pings_outstanding = 0
        self.pongs = 0
        #: -ERR lines that did not close the connection (e.g. permissions), counted
        self.errors = 0
        self.last_error: str | None = None

    # --- Target -----------------------------------------------------------------------------

    def establish(self) -> bool:
        """Advance INFO / TLS / CONNECT without blocking; ``True`` once the server answered."""
        if self._state == _OPEN:
            return True
        if self._state == _CLOSED:
            raise ConnectionClosed("NATS connection is closed")
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self._handshake_timeout
        elif now > self._deadline:
            self.close()
            raise ConnectTimeout(f"NATS handshake did not complete within {self._handshake_timeout}s")
        if not self._stream.establish():
            return False
        if self._stream.pending:
            self._stream.flush()
        for event in self._receive():
            if self._state == _AWAIT_INFO and isinstance(event, Info):
                self.info = event
                self._start(event)
            elif isinstance(event, Pong) and self._state == _AWAIT_PONG:
                self._state = _OPEN
                log.debug("NATS connection open (server %s)", event_server(self.info))
                return True
            elif isinstance(event, Err):
                self.close()
                raise NatsProtocolError(f"NATS server refused the connection: {event.message}")
            elif isinstance(event, Ping):
                self._stream.write(PONG)
            elif not isinstance(event, Ok):
                raise NatsProtocolError(f"unexpected {type(event).__name__} during the NATS handshake")
        if self._state == _AWAIT_PONG and self._stream.pending:
            self._stream.flush()
        return False

    def _start(self, info: Info) -> None:
        if info.tls_required or self._tls is not None:
            if self._tls is None:
                raise TlsError("the NATS server requires TLS: pass tls= (verification stays on)")
            self._stream = self._tls(self._stream)
            if not self._stream.establish():
                # the TLS handshake continues on the next establish(); CONNECT goes after it
                self._state = _AWAIT_PONG
                self._stream.write(encode_connect(self._connect))
                return
        self._state = _AWAIT_PONG
        self._stream.write(encode_connect(self._connect))

    def fileno(self) -> int:
        return self._stream.fileno()

    def read_hint(self) -> int:
        return self._parser.buffered and 1 or self._stream.read_hint()

    def close(self) -> None:
        self._state = _CLOSED
        self._stream.close()

    # --- I/O --------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._state == _OPEN

    @property
    def pending(self) -> int:
        """Outbound bytes the socket has not taken yet."""
        return self._stream.pending

    @property
    def stream(self) -> Stream:
        return self._stream

    def _receive(self) -> list[Event]:
        parser = self._parser
        stream = self._stream
        total = 0
        while True:
            view = parser.write_view()
            n = stream.recv_into(view)
            if n <= 0:
                break
            parser.commit(n)
            total += n
            if n < len(view) or total >= 1 << 20:
                break  # the socket is drained (or one batch is big enough): parse now
        return parser.parse()

    def read_batch(self) -> list[Msg]:
        """Every message received now (PING answered, PONG counted, -ERR handled); flushes
        pending output. A fatal -ERR raises :class:`NatsProtocolError` after the messages
        before it were returned (on the next call)."""
        if self._stream.pending:
            self._stream.flush()
        events = self._receive()
        if not events:
            return []
        msgs: list[Msg] = []
        for event in events:
            if type(event) is Msg:
                msgs.append(event)
            elif type(event) is Ping:
                self._stream.write(PONG)
            elif type(event) is Pong:
                self.pongs += 1
                if self.pings_outstanding:
                    self.pings_outstanding -= 1
            elif type(event) is Err:
                self.last_error = event.message
                if event.fatal:
                    self._state = _CLOSED
                    if msgs:
                        self._fatal = event
                        break
                    raise NatsProtocolError(f"NATS server error: {event.message}")
                self.errors += 1
                log.warning("NATS server error (connection kept): %s", event.message)
            elif type(event) is Info:
                self.info = event  # cluster changes: new connect_urls
        return msgs

    def publish(self, subject: bytes, payload: bytes | bytearray | memoryview, reply: bytes | None = None,
                headers: bytes | None = None) -> None:
        """Queue one PUB/HPUB (``subject`` already checked with ``check_subject``)."""
        if len(payload) > self._parser.max_payload:
            from ...errors import InvalidMessage

            raise InvalidMessage(f"payload of {len(payload)} bytes exceeds the server's max_payload")
        self._stream.write(encode_pub(subject, payload, reply, headers))

    def write_raw(self, data: bytes | bytearray | memoryview) -> None:
        """Queue already-encoded commands (the publisher batches many PUBs into one write)."""
        self._stream.write(data)

    def subscribe(self, subject: str, sid: int, queue: str | None = None) -> None:
        self._stream.write(encode_sub(subject, sid, queue))

    def unsubscribe(self, sid: int, max_msgs: int | None = None) -> None:
        self._stream.write(encode_unsub(sid, max_msgs))

    def ping(self, write: bool = True) -> int:
        """Send a PING (or, with ``write=False``, count one the caller queues itself); returns
        the value ``pongs`` reaches when it is answered (the server answers in order)."""
        self.pings_outstanding += 1
        if write:
            self._stream.write(PING)
        return self.pongs + self.pings_outstanding

    def flush(self) -> bool:
        return self._stream.flush()


def event_server(info: Info | None) -> str:
    if info is None:
        return "?"
    data: Mapping[str, Any] = info.data
    return f"{data.get('server_name') or data.get('server_id', '?')} {data.get('version', '')}".strip()
