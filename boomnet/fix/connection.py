"""``FixConnection``: drives a :class:`FixSession` over one non-blocking boomnet stream.

It is a service :class:`~boomnet.service.target.Target` (``establish``, ``fileno``, ``read_hint``,
``close``): ``establish()`` connects the stream, sends Logon and returns ``True`` once the
session is logged on. :meth:`read_batch` reads what the stream has into one reused buffer, frames
it (:class:`FixParser`), runs the session and returns the application messages of the batch.
Anything the session queued (Heartbeat answers, resends, Rejects) is written at once.

Errors never lose messages: when a batch holds good messages and then a framing error (or the
session ends: Logout, a sequence number too low), the good messages are returned first and the
error is raised by the next call (``read_hint()`` is non-zero meanwhile, so a selector comes back).
"""

from __future__ import annotations

import time

from ..errors import BoomnetError, ConnectionClosed, FixLoggedOut
from ..stream.base import Stream
from .encoder import Fields
from .message import FixMessage
from .parser import FixParser
from .session import FixSession, SessionState

__all__ = ["FixConnection"]


class FixConnection:
    """One connection of ``session`` over ``stream`` (TCP, TLS, recorded or replayed)."""

    def __init__(self, stream: Stream, session: FixSession, *, recv_size: int = 256 * 1024) -> None:
        self.stream = stream
        self.session = session
        self.parser = FixParser(session.config.begin_string, session.config.limits)
        self._buf = bytearray(recv_size)
        self._view = memoryview(self._buf)
        self._started = False
        self._error: BoomnetError | None = None
        #: app messages that arrived with the Logon answer (handed out by the first read_batch)
        self._pending_app: list[FixMessage] = []

    # --- Target -------------------------------------------------------------------------------

    def establish(self) -> bool:
        """Connect the stream, log on; ``True`` once the session is logged on."""
        if self._error is not None:
            raise self._error
        if not self.stream.establish():
            return False
        session = self.session
        now = time.monotonic()
        if not self._started:
            self._started = True
            session.start(now)
            self._flush()
        if session.logged_on:
            return True
        self._pending_app += self.read_batch(now)
        if self._error is None:
            session.tick(now)
            self._check()
        return session.logged_on

    def fileno(self) -> int:
        return self.stream.fileno()

    def read_hint(self) -> int:
        return 1 if self._error is not None or self.session.error is not None else self.stream.read_hint()

    def close(self) -> None:
        self.stream.close()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    # --- I/O ----------------------------------------------------------------------------------

    def read_batch(self, now: float | None = None) -> list[FixMessage]:
        """Application messages (and session Rejects) that arrived; ``[]`` if none now."""
        if self._pending_app:
            app, self._pending_app = self._pending_app, []
            return app
        if self._error is not None:
            raise self._error
        session = self.session
        view = self._view
        size = len(view)
        recv = self.stream.recv_into
        feed = self.parser.feed
        try:
            n = recv(view)
        except ConnectionClosed as e:
            raise self._closed(e) from e
        if n == 0:
            return []
        if now is None:
            now = time.monotonic()
        app = session.receive(feed(view[:n]), now)
        while n == size and session.error is None and self.parser.error is None:  # more waiting
            try:
                n = recv(view)
            except ConnectionClosed as e:
                self._error = self._closed(e)
                break
            if n == 0:
                break
            app += session.receive(feed(view[:n]), now)
        self._check()
        return app

    def send(self, msg_type: bytes | str, fields: Fields = ()) -> int:
        """Send an application message; returns its MsgSeqNum."""
        if self._error is not None:
            raise self._error
        seq = self.session.send(msg_type, fields)
        self._flush()
        return seq

    def check(self, now: float | None = None) -> None:
        """Run the session's timers (heartbeat, TestRequest, peer silence); raises on failure."""
        if self._error is not None:
            raise self._error
        self.session.tick(time.monotonic() if now is None else now)
        self._check()
        if self._error is not None:
            raise self._error

    def logout(self, text: str = "") -> None:
        """Start a Logout (the answer arrives through :meth:`read_batch` as FixLoggedOut)."""
        self.session.logout(text)
        self._flush()

    # --- internals ----------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.stream.write(data)
        elif self.stream.pending:
            self.stream.flush()

    def _check(self) -> None:
        self._flush()
        if self._error is None:
            error = self.session.error or self.parser.error
            if error is not None:
                self._error = error
                self.stream.flush()

    def _closed(self, e: ConnectionClosed) -> BoomnetError:
        error = self.session.error
        if isinstance(error, FixLoggedOut):
            return error
        if self.session.state is SessionState.LOGOUT_SENT:
            return FixLoggedOut("FIX session closed by the peer after our Logout")
        return e

    def __repr__(self) -> str:
        c = self.session.config
        return f"<FixConnection {c.sender_comp_id}->{c.target_comp_id} {self.session.state.value}>"
