"""``FixClient``: a blocking FIX initiator for scripts and tests (the IOService has FixEndpoint).

    config = SessionConfig("CLIENT", "VENUE", heartbeat_interval=30)
    with FixClient.connect("fix.example.com", 9878, config, FileStore("fixstore", config.session_id),
                           tls=TlsOptions()) as fix:
        fix.send("D", [(11, "o1"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 1), (60, sending_time())])
        report = fix.receive(timeout=5.0)

The stack is the same as everywhere in boomnet: ``TcpStream`` -> ``TlsStream`` (verification on)
-> ``RecordedStream`` (``record="name"``; FIX secrets 554/925/96 are redacted by the recording
layer's default redactor) -> :class:`FixConnection`. Waiting uses ``poll(2)`` on the socket, and
the session's timers (heartbeats, TestRequest) run while waiting.
"""

from __future__ import annotations

import select
import time
from collections import deque

from ..errors import ConnectTimeout, DeadlineExceeded
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from .config import SessionConfig
from .connection import FixConnection
from .encoder import Fields
from .message import FixMessage
from .session import FixSession
from .store import MessageStore

__all__ = ["FixClient", "open_stream"]


def open_stream(
    host: str,
    port: int,
    tcp: TcpOptions | None = None,
    tls: TlsOptions | None = None,
    record: str | None = None,
    record_dir: str = "recordings",
) -> Stream:
    """TCP to ``host:port`` (+ TLS when ``tls`` is given, + recording when ``record`` is named)."""
    from ..stream import TcpStream

    stream: Stream = TcpStream.connect(host, port, tcp)
    if tls is not None:
        stream = stream.into_tls(tls.server_hostname or host, tls)
    if record is not None:
        stream = stream.into_recorded(record, directory=record_dir)
    return stream


class FixClient:
    """A logged-on FIX session over one connection; build with :meth:`connect`."""

    def __init__(self, connection: FixConnection) -> None:
        self.connection = connection
        self._inbox: deque[FixMessage] = deque()
        self._tick_every = max(0.05, min(1.0, connection.session.config.heartbeat_interval / 10 or 1.0))
        self._next_tick = 0.0

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        config: SessionConfig,
        store: MessageStore | None = None,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        record: str | None = None,
        record_dir: str = "recordings",
        timeout: float = 10.0,
    ) -> FixClient:
        """Connect, log on and return once the session is active (``ConnectTimeout`` after
        ``timeout``; a refused Logon raises the session's error)."""
        stream = open_stream(host, port, tcp, tls, record, record_dir)
        return cls.over(stream, FixSession(config, store), timeout=timeout)

    @classmethod
    def over(cls, stream: Stream, session: FixSession, *, timeout: float = 10.0) -> FixClient:
        """Log ``session`` on over an already-built ``stream`` (e.g. a ReplayStream)."""
        conn = FixConnection(stream, session)
        client = cls(conn)
        deadline = time.monotonic() + timeout
        try:
            while not conn.establish():
                if time.monotonic() > deadline:
                    raise ConnectTimeout(f"FIX logon not complete within {timeout}s")
                client._wait(min(0.05, max(0.0, deadline - time.monotonic())))
        except BaseException:
            conn.close()
            raise
        client._inbox.extend(conn.read_batch())
        return client

    @property
    def session(self) -> FixSession:
        return self.connection.session

    def send(self, msg_type: bytes | str, fields: Fields = ()) -> int:
        """Send an application message; returns its MsgSeqNum."""
        return self.connection.send(msg_type, fields)

    def receive(self, timeout: float | None = None) -> FixMessage | None:
        """The next application message (or session Reject); ``None`` after ``timeout`` seconds
        (``None`` waits forever). Session errors (Logout, PeerTimeout, ...) are raised."""
        inbox = self._inbox
        if inbox:
            return inbox.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._pump(deadline)
            if inbox:
                return inbox.popleft()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def receive_batch(self, timeout: float = 0.0) -> list[FixMessage]:
        """Every message available now (waiting up to ``timeout`` for the first)."""
        if not self._inbox:
            self._pump(time.monotonic() + timeout)
        out = list(self._inbox)
        self._inbox.clear()
        return out

    def logout(self, text: str = "", timeout: float = 5.0) -> None:
        """Log out and wait for the peer's Logout (then the connection is closed)."""
        from ..errors import ConnectionClosed, FixLoggedOut

        conn = self.connection
        conn.logout(text)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._pump(min(deadline, time.monotonic() + 0.1))
        except (FixLoggedOut, ConnectionClosed):
            pass
        else:
            raise DeadlineExceeded(f"no Logout answer within {timeout}s")
        finally:
            conn.close()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> FixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.session.logged_on and exc[0] is None:
            try:
                self.logout()
                return
            except Exception:  # closing anyway
                pass
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _pump(self, deadline: float | None) -> None:
        conn = self.connection
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + self._tick_every
            conn.check(now)
        got = conn.read_batch(now)
        if got:
            self._inbox.extend(got)
            return
        wait = self._next_tick - now
        if deadline is not None:
            wait = min(wait, deadline - now)
        self._wait(max(0.0, wait))
        self._inbox.extend(conn.read_batch())

    def _wait(self, timeout: float) -> None:
        conn = self.connection
        if conn.read_hint():
            return
        fd = conn.fileno()
        if fd < 0:
            return
        poller = select.poll()
        mask = select.POLLIN | (select.POLLOUT if conn.stream.pending else 0)
        poller.register(fd, mask)
        poller.poll(timeout * 1000)
