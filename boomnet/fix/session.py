"""``FixSession``: the FIX session layer as a sans-I/O state machine.

Feed it parsed messages (:meth:`FixSession.receive`) and the clock (:meth:`FixSession.tick`);
it returns the application messages in sequence order and queues the bytes to send
(:meth:`FixSession.data_to_send`). It never touches a socket: the client and the endpoint drive it.

Behaviour (FIX 4.4 session rules; what boomnet chose where the spec leaves a choice):

* **Logon**: the initiator sends Logon (98=0, HeartBtInt 108, optional Username 553 / Password
  554, ResetSeqNumFlag 141=Y with ``reset_on_logon``, which resets the store first). The acceptor
  role answers a Logon (echoing 141=Y, resetting its store when asked). Anything but Logon first
  ends the session.
* **Inbound sequence numbers**: a message above the expected number starts *one* ResendRequest
  (7=expected, 16=0) and is **queued** (bounded by ``FixLimits.max_queued``); queued messages are
  processed in order once the gap is filled, so the application always sees sequence order. A
  ResendRequest or Logout that arrives above the expected number is acted on at once (and queued
  for its number). Below the expected number: PossDupFlag=Y duplicates are dropped; otherwise it is
  "MsgSeqNum too low": Logout and :class:`~boomnet.errors.FixSessionError`.
* **SequenceReset**: GapFill (123=Y) moves the expected number to NewSeqNo(36) when it arrives
  in sequence; Reset (123 absent or N) applies whatever its own sequence number; a NewSeqNo
  below the expected one is Rejected (373=5).
* **Answering ResendRequest**: stored application messages are resent with PossDupFlag 43=Y and
  OrigSendingTime 122; admin messages (never stored) and missing ones become SequenceReset-GapFill
  (123=Y) runs.
* **Malformed messages** (sound frame, bad header or field) get Reject (35=3) with RefSeqNum 45,
  SessionRejectReason 373 and Text 58, and consume their sequence number. A wrong CompID gets
  Reject 373=9 and a Logout. Framing errors are the driver's: it disconnects.
* **Heartbeats**: a Heartbeat after ``heartbeat_interval`` without sending; TestRequest when the
  peer has been silent for ``interval * (1 + grace)``; :class:`~boomnet.errors.PeerTimeout` when it
  stays silent for as long again. TestRequest is answered with Heartbeat 112=TestReqID.
* **Logout** both ways: :meth:`logout` sends one and waits ``logout_timeout`` for the answer; a
  peer's Logout is answered. Either way ``error`` becomes :class:`~boomnet.errors.FixLoggedOut`.
* **Session Rejects** (35=3) the peer sends are handed to the application with the app messages
  (they refer to something it sent).

When the session must end it sets ``error`` (after queuing a Logout where the spec wants one);
the driver flushes :meth:`data_to_send` and closes the connection with that error.
"""

from __future__ import annotations

import enum
import logging
import time

from ..errors import BoomnetError, FixError, FixLoggedOut, FixSessionError, InvalidState, PeerTimeout
from .config import SessionConfig
from .encoder import Fields, FieldValue, FixEncoder
from .message import ADMIN_TYPES, FixMessage
from .parser import FixParser
from .store import MemoryStore, MessageStore

__all__ = ["FixSession", "SessionState"]

log = logging.getLogger("boomnet.fix.session")


class SessionState(enum.Enum):
    DISCONNECTED = "disconnected"
    LOGON_SENT = "logon_sent"  # initiator: Logon sent, waiting for the answer
    AWAITING_LOGON = "awaiting_logon"  # acceptor: waiting for the peer's Logon
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"
    CLOSED = "closed"


class FixSession:
    """One FIX session over one connection at a time (call :meth:`start` per connection)."""

    def __init__(self, config: SessionConfig, store: MessageStore | None = None) -> None:
        self.config = config
        self.store: MessageStore = store if store is not None else MemoryStore()
        self.encoder = FixEncoder(config.begin_string, config.sender_comp_id, config.target_comp_id)
        self.state = SessionState.DISCONNECTED
        self.error: BoomnetError | None = None
        self.heartbeat_interval = config.heartbeat_interval
        self._sender = config.sender_comp_id.encode()
        self._target = config.target_comp_id.encode()
        self._out: list[bytes] = []
        self._queue: dict[int, FixMessage] = {}
        self._answered: set[int] = set()  # queued seqs already acted on (ResendRequest)
        self._resend_until = 0  # a ResendRequest of ours is outstanding until this seq arrives
        self._last_sent = self._last_recv = self._state_since = 0.0
        self._test_req: bytes | None = None
        self._test_req_at = 0.0
        self._test_counter = 0
        self._now = 0.0  # the clock of the last start/receive/tick (monotonic seconds)

    # --- driver interface ------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """A new connection: reset the per-connection state; the initiator queues its Logon."""
        self._out.clear()
        self._queue.clear()
        self._answered.clear()
        self._resend_until = 0
        self._test_req = None
        self.error = None
        self._last_sent = self._last_recv = self._state_since = self._now = now
        schedule = self.config.schedule
        if schedule is not None and schedule.needs_reset(self.store.creation_time, time.time()):
            log.info("%s: scheduled session reset", self.config.session_id)
            self.store.reset()
        if self.config.role == "acceptor":
            self.state = SessionState.AWAITING_LOGON
            return
        if self.config.reset_on_logon:
            self.store.reset()
        self._send_admin(b"A", self._logon_fields(self.config.reset_on_logon))
        self.state = SessionState.LOGON_SENT

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    @property
    def logged_on(self) -> bool:
        return self.state is SessionState.ACTIVE

    def receive(self, messages: list[FixMessage], now: float) -> list[FixMessage]:
        """Process a batch; returns its application messages (and peer Rejects) in seq order."""
        app: list[FixMessage] = []
        self._last_recv = self._now = now
        for msg in messages:
            if self.error is not None:
                break
            try:
                self._on_message(msg, now, app)
            except FixError as e:  # a field the session needed was malformed
                self._reject(msg.seq_num, 6, str(e))
                self._advance(msg.seq_num)
        return app

    def tick(self, now: float) -> None:
        """Timers: logon/logout deadlines, heartbeats, TestRequest, peer silence, daily reset."""
        state = self.state
        self._now = now
        if self.error is not None:
            return
        if state in (SessionState.LOGON_SENT, SessionState.AWAITING_LOGON):
            if now - self._state_since > self.config.logon_timeout:
                self.error = PeerTimeout(f"no Logon within {self.config.logon_timeout}s")
            return
        if state is SessionState.LOGOUT_SENT:
            if now - self._state_since > self.config.logout_timeout:
                self._closed("no Logout answer within logout_timeout")
            return
        if state is not SessionState.ACTIVE:
            return
        schedule = self.config.schedule
        if schedule is not None and schedule.needs_reset(self.store.creation_time, time.time()):
            self.logout("session reset", now)
            return
        hb = self.heartbeat_interval
        if hb <= 0:
            return
        limit = hb * (1 + self.config.grace)
        if self._test_req is not None and now - self._test_req_at > limit:
            self.error = PeerTimeout(f"peer silent for {now - self._last_recv:.1f}s after a TestRequest")
            return
        if self._test_req is None and now - self._last_recv > limit:
            self._test_counter += 1
            self._test_req = b"TEST%d" % self._test_counter
            self._test_req_at = now
            self._send_admin(b"1", [(112, self._test_req)], now)
        if now - self._last_sent >= hb:
            self._send_admin(b"0", (), now)

    # --- application interface ----------------------------------------------------------------

    def send(self, msg_type: bytes | str, fields: Fields = (), now: float | None = None) -> int:
        """Encode, store and queue an application message; returns its MsgSeqNum."""
        if self.state is not SessionState.ACTIVE:
            raise InvalidState(f"cannot send: the FIX session is {self.state.value}")
        store = self.store
        seq = store.next_sender_seq
        data = self.encoder.encode(msg_type, seq, fields)
        store.save(seq, data)
        self._out.append(data)
        self._last_sent = time.monotonic() if now is None else now
        return seq

    def logout(self, text: str = "", now: float | None = None) -> None:
        """Send Logout and wait (``logout_timeout``) for the peer's."""
        if self.state in (SessionState.ACTIVE, SessionState.LOGON_SENT):
            self._send_admin(b"5", [(58, text)] if text else (), now)
            self.state = SessionState.LOGOUT_SENT
            self._state_since = time.monotonic() if now is None else now

    def reset_sequence(self, new_seq: int, now: float | None = None) -> None:
        """Send SequenceReset-Reset: the peer must expect ``new_seq`` from us next."""
        if new_seq < 1:
            raise InvalidState("NewSeqNo must be >= 1")
        self._send_admin(b"4", [(123, b"N"), (36, new_seq)], now)
        self.store.set_next_sender_seq(new_seq)

    # --- inbound ------------------------------------------------------------------------------

    def _on_message(self, msg: FixMessage, now: float, app: list[FixMessage]) -> None:
        if msg.error is not None:
            if msg.seq_num == 0:
                return self._fail(FixSessionError(f"unusable header: {msg.error}"))
            self._reject(msg.seq_num, 1 if "missing" in str(msg.error) else 6, str(msg.error))
            return self._advance(msg.seq_num)
        mt = msg.msg_type
        if msg.get(49) != self._target or msg.get(56) != self._sender:
            self._reject(msg.seq_num, 9, "CompID problem")
            return self._fail(FixSessionError(f"wrong CompIDs {msg.get(49)!r} -> {msg.get(56)!r}"))
        if self.state in (SessionState.LOGON_SENT, SessionState.AWAITING_LOGON) and mt != b"A":
            if mt == b"5":  # the peer refused our Logon: say why
                text = msg.get_str(58) or ""
                self.state = SessionState.CLOSED
                self.error = FixLoggedOut(f"Logon refused by the peer's Logout: {text}", text)
                return None
            return self._fail(FixSessionError(f"first message is {mt!r}, not Logon"))
        store = self.store
        if mt == b"A" and msg.get(141) == b"Y":
            if self.config.role == "acceptor":
                store.reset()
            store.set_next_target_seq(1)
        if mt == b"4" and msg.get(123) != b"Y":  # SequenceReset-Reset ignores its own MsgSeqNum
            new = msg.get_int(36) or 0
            if new < store.next_target_seq:
                return self._reject(msg.seq_num, 5, f"NewSeqNo {new} below expected {store.next_target_seq}")
            log.info("%s: SequenceReset to %d", self.config.session_id, new)
            store.set_next_target_seq(new)
            return None
        seq, expected = msg.seq_num, store.next_target_seq
        if seq > expected:
            return self._gap(msg, expected, now, app)
        if seq < expected:
            if msg.poss_dup:
                return None  # a duplicate of something we processed
            return self._fail(FixSessionError(f"MsgSeqNum too low, expecting {expected} but received {seq}"))
        self._process(msg, now, app)
        queue = self._queue
        while queue and self.error is None and store.next_target_seq in queue:
            nxt = store.next_target_seq
            queued = queue.pop(nxt)
            if queued is _USED:
                store.set_next_target_seq(nxt + 1)
            else:
                self._process(queued, now, app)
        if queue:  # a GapFill may have jumped past queued numbers
            for stale in [s for s in queue if s < store.next_target_seq]:
                del queue[stale]
        if self._resend_until and store.next_target_seq > self._resend_until and not queue:
            self._resend_until = 0
        return None

    def _gap(self, msg: FixMessage, expected: int, now: float, app: list[FixMessage]) -> None:
        mt = msg.msg_type
        if mt == b"A":  # process the Logon, then ask for what we missed
            self._process(msg, now, app, advance=False)
        elif mt == b"5":
            self._process(msg, now, app, advance=False)
            return
        elif mt == b"2":
            self._process(msg, now, app, advance=False)
            self._answered.add(msg.seq_num)
        if len(self._queue) >= self.config.limits.max_queued:
            return self._fail(FixSessionError("too many messages queued behind a sequence gap"))
        if mt != b"A":
            self._queue[msg.seq_num] = msg
        if not self._resend_until:
            self._resend_until = msg.seq_num
            log.info("%s: gap %d..%d, sending ResendRequest", self.config.session_id, expected, msg.seq_num - 1)
            self._send_admin(b"2", [(7, expected), (16, 0)], now)
        else:
            self._resend_until = max(self._resend_until, msg.seq_num)
        if mt == b"A":  # the Logon's own number is used up; the rest arrive by resend
            self._resend_until = max(self._resend_until, msg.seq_num)
            self._queue[msg.seq_num] = _USED

    def _process(self, msg: FixMessage, now: float, app: list[FixMessage], *, advance: bool = True) -> None:
        mt = msg.msg_type
        seq = msg.seq_num
        if msg is _USED:
            pass
        elif mt not in ADMIN_TYPES:
            app.append(msg)
        elif mt == b"0":
            if self._test_req is not None and msg.get(112) == self._test_req:
                self._test_req = None
        elif mt == b"1":
            self._send_admin(b"0", [(112, msg.get(112) or b"")], now)
        elif mt == b"2":
            if seq not in self._answered:
                self._answer_resend(msg.get_int(7) or 1, msg.get_int(16) or 0, now)
            self._answered.discard(seq)
        elif mt == b"3":
            app.append(msg)
        elif mt == b"4":  # GapFill (Reset was handled before the sequence check)
            new = msg.get_int(36) or 0
            if new <= seq:
                self._reject(seq, 5, f"GapFill NewSeqNo {new} not above MsgSeqNum {seq}")
            else:
                if advance:
                    self.store.set_next_target_seq(new)
                return
        elif mt == b"5":
            if self.state is not SessionState.LOGOUT_SENT:
                self._send_admin(b"5", (), now)
            text = msg.get_str(58) or ""
            self._closed(text)
        elif mt == b"A":
            self._on_logon(msg, now)
        if advance:
            self._advance(seq)

    def _on_logon(self, msg: FixMessage, now: float) -> None:
        if self.state is SessionState.AWAITING_LOGON:
            auth = self.config.authenticate
            if auth is not None and not auth(msg.get_str(553), msg.get_str(554)):
                self._send_admin(b"5", [(58, "authentication failed")], now)
                return self._fail(FixSessionError("Logon refused: authentication failed"))
            self.heartbeat_interval = msg.get_int(108) or 0
            self._send_admin(b"A", self._logon_fields(msg.get(141) == b"Y"), now)
        elif self.state is not SessionState.LOGON_SENT:
            return self._fail(FixSessionError("Logon on an active session"))
        self.state = SessionState.ACTIVE
        self._state_since = now
        log.info("%s: logged on (HeartBtInt %d)", self.config.session_id, self.heartbeat_interval)
        return None

    def _advance(self, seq: int) -> None:
        if seq == self.store.next_target_seq:
            self.store.set_next_target_seq(seq + 1)

    # --- outbound -----------------------------------------------------------------------------

    def _logon_fields(self, reset: bool) -> list[tuple[int, FieldValue]]:
        c = self.config
        fields: list[tuple[int, FieldValue]] = [(98, 0), (108, self.heartbeat_interval)]
        if reset:
            fields.append((141, b"Y"))
        if c.username is not None:
            fields.append((553, c.username))
        if c.password is not None:
            fields.append((554, c.password))
        fields.extend(c.logon_fields)
        return fields

    def _send_admin(self, msg_type: bytes, fields: Fields = (), now: float | None = None) -> None:
        store = self.store
        seq = store.next_sender_seq
        self._out.append(self.encoder.encode(msg_type, seq, fields))
        store.set_next_sender_seq(seq + 1)  # admin messages are gap-filled, never stored
        self._last_sent = self._now if now is None else now

    def _answer_resend(self, begin: int, end: int, now: float) -> None:
        last = self.store.next_sender_seq - 1
        if end == 0 or end > last:
            end = last
        log.info("%s: peer asks for resend of %d..%d", self.config.session_id, begin, end)
        stored = dict(self.store.get(begin, end))
        gap_start = 0
        encode, out = self.encoder.encode, self._out
        for seq in range(begin, end + 1):
            raw = stored.get(seq)
            parsed = _parse_stored(raw) if raw is not None else None
            if parsed is None or parsed[0] in ADMIN_TYPES:
                gap_start = gap_start or seq
                continue
            if gap_start:
                out.append(encode(b"4", gap_start, [(123, b"Y"), (36, seq)], header=[(43, b"Y")]))
                gap_start = 0
            mt, orig_time, body = parsed
            out.append(encode(mt, seq, body, header=[(43, b"Y"), (122, orig_time)]))
        if gap_start:
            out.append(encode(b"4", gap_start, [(123, b"Y"), (36, end + 1)], header=[(43, b"Y")]))
        self._last_sent = now

    def _reject(self, ref_seq: int, reason: int, text: str) -> None:
        log.warning("%s: rejecting message %d (373=%d): %s", self.config.session_id, ref_seq, reason, text)
        self._send_admin(b"3", [(45, ref_seq), (373, reason), (58, text[:200].replace("\x01", "|"))])

    def _fail(self, error: BoomnetError) -> None:
        log.warning("%s: ending the session: %s", self.config.session_id, error)
        if self.state in (SessionState.ACTIVE, SessionState.LOGON_SENT, SessionState.AWAITING_LOGON):
            self._send_admin(b"5", [(58, str(error)[:200])])
        self.state = SessionState.CLOSED
        self.error = error

    def _closed(self, text: str) -> None:
        self.state = SessionState.CLOSED
        self.error = FixLoggedOut(f"FIX session logged out{': ' + text if text else ''}", text)


def _parse_stored(raw: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(MsgType, SendingTime, body field bytes) of a message we encoded (our header layout)."""
    msgs = FixParser(raw[2 : raw.index(b"\x01")].decode("ascii")).feed(raw)
    if len(msgs) != 1:
        return None
    msg = msgs[0]
    i = raw.find(b"\x0152=")
    j = raw.find(b"\x01", i + 4)
    return msg.msg_type, raw[i + 4 : j], raw[j + 1 : len(raw) - 7]


# a placeholder queued for a sequence number already consumed (a Logon that arrived above it)
_USED = FixMessage(b"", 0, 0, 0, b"")
