"""``FixEndpoint``: a FIX initiator on the IOService (reconnects, logs on, delivers messages).

    class Orders(FixEndpoint):
        def on_logon(self, session, ctx):
            self.send("D", [(11, "o1"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 1), (60, sending_time())])

        def on_message(self, session, msg, ctx):
            if msg.msg_type == b"8":
                ctx.on_fill(msg[11], msg.get_float(31))

    config = SessionConfig("CLIENT", "VENUE", heartbeat_interval=30)
    io.register(Orders("fix.venue.com", 9878, config, FileStore("fixstore", config.session_id),
                       tls=TlsOptions()))

One :class:`FixSession` (and its store) lives as long as the endpoint, so every reconnect resumes
the sequence numbers: messages missed while disconnected are recovered by the ResendRequest the
session sends on the next Logon. The session's timers (heartbeat, TestRequest, peer silence) run
on an :meth:`Endpoint.every` timer; a session failure (PeerTimeout, Logout, a sequence number too
low) disconnects the endpoint with that error, and :meth:`on_disconnect` decides about reconnecting.
:meth:`logout` ends the session on purpose and stops reconnecting.

``record="name"`` records the plaintext traffic (above TLS) via :class:`RecordedStream`, whose
default redactor blanks Password(554), NewPassword(925) and RawData(96); :meth:`replay` runs the
endpoint over such a recording: the replay session takes its sequence numbers from the recording.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import FixLoggedOut, InvalidState
from ..service.endpoint import Address, Disconnect, Endpoint
from ..service.options import Backoff
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from .config import SessionConfig
from .connection import FixConnection
from .encoder import Fields
from .message import FixMessage
from .parser import FixParser
from .session import FixSession
from .store import MemoryStore, MessageStore

__all__ = ["FixEndpoint"]

log = logging.getLogger("boomnet.fix.endpoint")

C = TypeVar("C")  # the user context handed to every callback


class FixEndpoint(Endpoint[FixConnection, C]):
    """An IOService endpoint whose target is a :class:`FixConnection` to ``host:port``.

    Override :meth:`on_logon` and :meth:`on_message` (``msg`` is a :class:`FixMessage`, valid
    forever; application messages and session Rejects arrive in sequence order).
    ``tcp``/``tls`` are the stream options (TLS verification on; pass ``tls=TlsOptions()`` for
    FIX over TLS). ``tick`` is how often the session's timers run (seconds).
    """

    def __init__(
        self,
        host: str,
        port: int,
        config: SessionConfig,
        store: MessageStore | None = None,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        record: str | None = None,
        record_dir: str = "recordings",
        tick: float | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(host, port, auto_disconnect=auto_disconnect, backoff=backoff)
        if tcp is not None and not isinstance(tcp, TcpOptions):
            raise TypeError("tcp must be a TcpOptions")
        if tls is not None and not isinstance(tls, TlsOptions):
            raise TypeError("tls must be a TlsOptions")
        self.config = config
        self.session = FixSession(config, store)
        self.tcp = tcp or TcpOptions()
        self.tls = tls
        self.record = record
        self.record_dir = record_dir
        self.connection: FixConnection | None = None
        self._stopping = False
        hb = config.heartbeat_interval
        self.every(tick or max(0.05, min(1.0, hb / 10 if hb else 1.0)), self._tick)

    # --- connection factory ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Off the loop thread, before each connect: build (and cache) the TLS context, so the
        loop never loads certificates."""
        if self.tls is not None:
            from ..stream.tls_contexts import tls_context

            tls_context(self.tls)

    def create_target(self, addr: Address | None, ctx: C) -> FixConnection | None:
        if self._stopping:
            return None
        self.connection = FixConnection(self.create_stream(addr), self.session)
        return self.connection

    def create_stream(self, addr: Address | None) -> Stream:
        """TCP to ``addr`` (+ TLS, + recording); override to build another stack."""
        from ..stream import TcpStream

        if addr is None:
            raise InvalidState(f"{self!r}: no address to connect to")
        stream: Stream = TcpStream.connect_addr(addr[0], addr[1], self.tcp)
        tls = self.tls
        if tls is not None:
            stream = stream.into_tls(tls.server_hostname or self.host, tls)
        if self.record is not None:
            stream = stream.into_recorded(self.record, directory=self.record_dir)
        return stream

    def create_replay_target(self, stream: Any, ctx: C) -> FixConnection:
        # A replay answers the *recorded* Logon: start from the recorded sequence numbers.
        store = MemoryStore()
        sender, target = _recorded_seqs(stream)
        store.set_next_sender_seq(sender)
        store.set_next_target_seq(target)
        self.session = FixSession(self.config, store)
        self.connection = FixConnection(stream, self.session)
        return self.connection

    # --- callbacks ------------------------------------------------------------------------------

    def on_connected(self, target: FixConnection, ctx: C) -> None:
        self.on_logon(self.session, ctx)
        for msg in target.read_batch():  # anything that came with the Logon answer
            self.on_message(self.session, msg, ctx)

    def poll(self, target: FixConnection, ctx: C) -> None:
        session = self.session
        on_message = self.on_message
        for msg in target.read_batch():
            on_message(session, msg, ctx)

    def on_logon(self, session: FixSession, ctx: C) -> None:
        """The session is logged on (after every reconnect): send subscriptions here."""

    def on_message(self, session: FixSession, msg: FixMessage, ctx: C) -> None:
        """An application message (or a session Reject) arrived, in sequence order."""

    def on_disconnect(self, reason: Disconnect, ctx: C) -> bool:
        """Reconnect unless :meth:`logout` ended the session on purpose."""
        self.connection = None
        if self._stopping:
            return False
        if isinstance(reason.error, FixLoggedOut):
            log.warning("%r: the peer logged us out: %s", self, reason.error)
        return True

    # --- application interface ------------------------------------------------------------------

    def send(self, msg_type: bytes | str, fields: Fields = ()) -> int:
        """Send an application message now; ``InvalidState`` while not logged on."""
        conn = self.connection
        if conn is None or not self.session.logged_on:
            raise InvalidState(f"{self!r}: the FIX session is not logged on")
        return conn.send(msg_type, fields)

    def logout(self, text: str = "") -> None:
        """Log out and stop reconnecting (the endpoint is dropped when the Logout is answered)."""
        self._stopping = True
        if self.connection is not None:
            self.connection.logout(text)

    def _tick(self, target: FixConnection, ctx: C) -> None:
        target.check()


def _recorded_seqs(stream: Any) -> tuple[int, int]:
    """(our first MsgSeqNum, the peer's first MsgSeqNum) in a replayed recording."""
    from ..stream.recording import IN, OUT

    recording = getattr(stream, "recording", None)
    if recording is None:
        return 1, 1
    out_seq = in_seq = 0
    for i, kind in enumerate(recording.kinds):
        if kind not in (IN, OUT) or (kind == OUT and out_seq) or (kind == IN and in_seq):
            continue
        chunk = recording.payload(i)
        parser = FixParser(chunk[2 : chunk.find(b"\x01")].decode("latin-1") or "FIX.4.4", validate_checksum=False)
        try:
            msgs = parser.feed(chunk)
        except Exception:  # not FIX (or cut): look further
            continue
        if msgs:
            if kind == OUT:
                out_seq = msgs[0].seq_num
            else:
                in_seq = msgs[0].seq_num
        if out_seq and in_seq:
            break
    return out_seq or 1, in_seq or 1
