"""The WebSocket connection as a sans-I/O state machine (RFC 6455 §5-§7), client and server roles.

Bytes in, frames out, bytes to send: the I/O driver (:class:`~boomnet.ws.WebSocket`) reads into
``protocol.decoder.write_view()``, ``commit()``\\s the count and calls :meth:`Protocol.receive`;
whatever the protocol wants sent (pongs, the close echo, a liveness ping, the close frame of a
failure) it leaves in :attr:`Protocol.outgoing` / :meth:`Protocol.next_pong`, and once
:attr:`Protocol.done` is true the driver flushes and drops the transport. Nothing here touches a
socket or reads a clock: time comes in as ``now`` arguments and the driver asks
:meth:`Protocol.deadline` when it must call again.

What lives here: the state (OPEN -> CLOSING -> CLOSED; CONNECTING/HANDSHAKE belong to the driver's
opening handshake), the close handshake (validate the peer's code, echo it, time out our own),
*deferred* close/failure (a CLOSE or a violation that arrives in the same batch as data frames
takes effect on the next receive, so the application can still answer the frames before it;
RFC 6455 §5.5.1 allows the delay), auto-pong bounded to the latest ping when the transport is
backed up (§5.5.3), liveness (ping/pong and idle timeouts, :meth:`check_liveness`), and failing
with a code (§7.1.7). Encoding of the application's frames is here too (state checks, masking in
the client role, fragment continuation), so a server role differs only in masking.
"""

from __future__ import annotations

import enum
import logging
from typing import NoReturn

from ..errors import ConnectionClosed, PeerTimeout, WebSocketClosed, WebSocketProtocolError
from .decoder import Decoder
from .encoder import MaskKeys, close_payload, encode_frame
from .frame import CLOSED, CLOSING, CONNECTING, OPEN, STATE_NAMES, CloseCode, Frame, Opcode
from .options import WsOptions

__all__ = ["Role", "Protocol"]

log = logging.getLogger("boomnet.ws")

_PING, _PONG, _CLOSE, _CONT = Opcode.PING, Opcode.PONG, Opcode.CLOSE, Opcode.CONTINUATION


class Role(enum.Enum):
    """Which end of the connection: a client masks what it sends and refuses masked frames; a
    server refuses unmasked frames and sends unmasked ones (§5.1)."""

    CLIENT = "client"
    SERVER = "server"


class Protocol:
    """One WebSocket connection's protocol state, for ``role``, configured by ``options``.

    ``name`` labels log lines (the URL, or the peer's address). The decoder is public
    (``protocol.decoder``): the driver reads straight into its buffer.
    """

    def __init__(self, role: Role, options: WsOptions, name: str = "") -> None:
        self.role = role
        self.options = options
        self.name = name
        limits = options.limits
        server = role is Role.SERVER
        self.decoder = Decoder(
            max_frame_size=limits.max_frame_size,
            max_message_size=limits.max_message_size,
            validate_utf8=options.validate_utf8,
            assemble=options.assemble,
            buffer_size=limits.read_buffer_size,
            require_masked=server,
        )
        self.state = CONNECTING
        self.auto_pong = options.auto_pong
        self._mask_keys = MaskKeys() if not server and options.mask else None
        #: encoded frames the driver must write, in order (close echo, our close, liveness ping)
        self.outgoing: list[bytes] = []
        self._pongs: list[bytes] = []  # payloads of pings not answered yet
        self._sending_fragments = False
        #: the close echo or failure held back to the next receive (see the module docstring)
        self.deferred: tuple[Opcode | None, bytes | WebSocketProtocolError] | None = None
        #: the error that ended the connection (re-raised by later reads)
        self.error: BaseException | None = None
        #: true once the transport should be flushed and closed (the protocol is finished with it)
        self.done = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._close_deadline = 0.0
        # liveness (see check_liveness); all times come from the driver's clock
        self._ping_interval = options.ping_interval
        self._ping_timeout = options.ping_timeout
        self._idle_timeout = options.idle_timeout
        self._ping_payload: bytes | None = None  # our ping awaiting its pong
        self._ping_sent_at = 0.0
        self._next_ping = 0.0
        self._pings_sent = 0
        self._rx_mark = 0
        self._rx_at = 0.0

    # --- state -------------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.state == OPEN

    @property
    def closed(self) -> bool:
        return self.state == CLOSED

    def start(self, now: float) -> None:
        """The opening handshake succeeded: the connection is OPEN from ``now``."""
        self.state = OPEN
        self._rx_mark = self.decoder.received
        self._rx_at = now
        if self._ping_interval is not None:
            self._next_ping = now + self._ping_interval

    def __repr__(self) -> str:
        return f"<Protocol {self.role.value} {self.name} {STATE_NAMES[self.state]}>"

    # --- receiving ---------------------------------------------------------------------------

    def receive(self) -> list[Frame]:
        """Decode every complete frame now in ``decoder``'s buffer and act on control frames.

        Raises a deferred close (:class:`WebSocketClosed`) or failure on the call after the
        batch that carried it. The driver inlines this for speed; keep the two in step.
        """
        if self.deferred is not None:
            self.run_deferred()
        dec = self.decoder
        frames = dec.decode()
        if dec.control or dec.error is not None:
            self.after_batch(frames)
        return frames

    def after_batch(self, frames: list[Frame]) -> None:
        """Act on the control frames and the violation (if any) of the batch just decoded."""
        dec = self.decoder
        for opcode, data in dec.control:
            if opcode is _PING:
                if self.auto_pong and self.state == OPEN:
                    self._pongs.append(data)
            elif opcode is _PONG:
                if data == self._ping_payload:
                    self._ping_payload = None
            else:  # CLOSE
                self.close_code = dec.close_code if dec.close_code is not None else CloseCode.NO_STATUS_RCVD
                self.close_reason = dec.close_reason
                if self.state == OPEN and len(frames) > 1:
                    self.deferred = (_CLOSE, data)
                else:
                    self._answer_close(data)
        error = dec.error
        if error is not None and self.state == OPEN:
            if frames:
                self.deferred = (None, error)
            else:
                self.fail(error)
                raise error

    def run_deferred(self) -> NoReturn:
        """Complete what the previous batch held back: the peer's close, or a failure."""
        assert self.deferred is not None
        _kind, arg = self.deferred
        self.deferred = None
        if isinstance(arg, WebSocketProtocolError):
            self.fail(arg)
            raise arg
        # The application has seen the CLOSE frame in the previous batch; now complete the
        # handshake and report it exactly as a later read would.
        self._answer_close(arg)
        raise WebSocketClosed(self.close_code, self.close_reason)

    def connection_lost(self, exc: ConnectionClosed) -> None:
        """The transport ended (EOF, reset, write failure) without completing a close handshake."""
        self.state = CLOSED
        self.done = True
        if self.close_code is None:
            self.close_code = CloseCode.ABNORMAL_CLOSURE
        self.error = exc

    def raise_not_open(self) -> NoReturn:
        """Why reading or sending is not possible now."""
        if self.error is not None:
            raise self.error
        if self.state == CLOSED:
            raise WebSocketClosed(self.close_code, self.close_reason)
        if self.state == CLOSING:
            raise WebSocketClosed(message="the close handshake has started; no more data may be sent")
        raise WebSocketProtocolError(f"websocket is not open yet ({STATE_NAMES[self.state]})", CloseCode.INTERNAL_ERROR)

    # --- pongs (bounded) ---------------------------------------------------------------------

    @property
    def owes_pongs(self) -> bool:
        return bool(self._pongs) and self.state == OPEN

    def next_pong(self) -> bytes:
        """The encoded pong for the oldest ping not answered yet (call only when owed)."""
        return self._encode(_PONG, self._pongs.pop(0), True)

    def keep_latest_pong(self) -> None:
        """The transport is backed up (the peer is not reading): remember only the latest ping.
        RFC 6455 §5.5.3 lets an endpoint answer just the most recent one, so a peer that floods
        pings without reading cannot grow our send queue."""
        del self._pongs[:-1]
        if self.state != OPEN:
            self._pongs.clear()

    # --- sending (the application's frames) --------------------------------------------------

    def _encode(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool) -> bytes:
        keys = self._mask_keys
        return encode_frame(opcode, payload, fin, keys.next() if keys is not None else None)

    def encode_data(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool) -> bytes:
        """A data frame (TEXT/BINARY; continuation handled here) for the driver to write."""
        if self.state != OPEN:
            self.raise_not_open()
        if self._sending_fragments:
            opcode = _CONT
        self._sending_fragments = not fin
        return self._encode(opcode, payload, fin)

    def encode_control(self, opcode: Opcode, data: bytes) -> bytes:
        """A ping or pong (≤ 125 bytes) for the driver to write."""
        if len(data) > 125:
            raise ValueError("control frame payloads are limited to 125 bytes")
        if self.state != OPEN:
            self.raise_not_open()
        return self._encode(opcode, data, True)

    # --- closing -----------------------------------------------------------------------------

    def close(self, now: float, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake (or complete the peer's, if its close was deferred)."""
        deferred = self.deferred
        if deferred is not None and deferred[0] is _CLOSE:
            self.deferred = None
            assert isinstance(deferred[1], bytes)
            self._answer_close(deferred[1])  # the peer closed first: complete its handshake
        elif self.state == OPEN:
            payload = close_payload(code, reason)
            self.state = CLOSING
            self._close_deadline = now + self.options.close_timeout
            self.outgoing.append(self._encode(_CLOSE, payload, True))
        elif self.state != CLOSING:
            self.state = CLOSED
            self.done = True

    def close_expired(self, now: float) -> bool:
        """In CLOSING: whether the peer's answer is overdue (then the connection is CLOSED)."""
        if self.state == CLOSING and now > self._close_deadline:
            log.info("websocket %s: peer did not answer our close within %ss", self.name, self.options.close_timeout)
            self.state = CLOSED
            self.done = True
            return True
        return False

    def _answer_close(self, data: bytes) -> None:
        if self.state == OPEN:
            # Echo the peer's code (§5.5.1); an empty close is answered with an empty close.
            self.outgoing.append(self._encode(_CLOSE, data[:2], True))
        self.state = CLOSED
        self.done = True

    def fail(self, error: BaseException, code: int | None = None) -> None:
        """Fail the connection (§7.1.7): queue a close with the error's code, then finish."""
        log.warning("failing websocket %s: %s", self.name, error)
        if code is None:
            code = error.close_code if isinstance(error, WebSocketProtocolError) else CloseCode.INTERNAL_ERROR
        if self.state == OPEN:
            self.outgoing.append(self._encode(_CLOSE, close_payload(code), True))
        if self.close_code is None:
            self.close_code = code if isinstance(error, WebSocketProtocolError) else CloseCode.ABNORMAL_CLOSURE
        self.error = error
        self.state = CLOSED
        self.done = True

    # --- time: liveness and the close timeout --------------------------------------------------

    def check_liveness(self, now: float) -> None:
        """Send a ping when ``ping_interval`` has passed since the last one; raise
        :class:`PeerTimeout` (after failing the connection with 1011) when the pong is
        ``ping_timeout`` overdue or no byte arrived for ``idle_timeout``. In CLOSING, enforce
        the close timeout instead. Call it every few hundred ms (the endpoint's timer does)."""
        if self.state != OPEN:
            self.close_expired(now)
            return
        received = self.decoder.received
        if received != self._rx_mark:
            self._rx_mark, self._rx_at = received, now
        elif self._idle_timeout is not None and now - self._rx_at >= self._idle_timeout:
            self._timed_out(f"no data from the peer for {self._idle_timeout:g} s (idle_timeout)")
        if self._ping_payload is not None:
            assert self._ping_timeout is not None
            if now - self._ping_sent_at >= self._ping_timeout:
                self._timed_out(f"no pong within {self._ping_timeout:g} s of our ping (ping_timeout)")
        elif self._ping_interval is not None and now >= self._next_ping:
            self._pings_sent += 1
            payload = b"boomnet:%d" % self._pings_sent
            self._ping_payload = payload
            self._ping_sent_at = now
            self._next_ping = now + self._ping_interval
            self.outgoing.append(self._encode(_PING, payload, True))

    def _timed_out(self, what: str) -> NoReturn:
        error = PeerTimeout(f"websocket {self.name}: {what}")
        self.fail(error, CloseCode.INTERNAL_ERROR)
        raise error

    def deadline(self) -> float | None:
        """The next time the driver must call :meth:`check_liveness` (``None``: no timer needed)."""
        if self.state == CLOSING:
            return self._close_deadline
        if self.state != OPEN:
            return None
        times = []
        if self._ping_payload is not None and self._ping_timeout is not None:
            times.append(self._ping_sent_at + self._ping_timeout)
        elif self._ping_interval is not None:
            times.append(self._next_ping)
        if self._idle_timeout is not None:
            times.append(self._rx_at + self._idle_timeout)
        return min(times) if times else None
