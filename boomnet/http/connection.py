"""A non-blocking HTTP/1.1 connection over any :class:`~boomnet.stream.base.Stream`.

``send_request`` encodes and writes (what the transport cannot take now stays pending in the
stream); ``poll`` reads what is available now and returns the responses it completed, firing
per-request callbacks. Nothing here blocks or sleeps, so an IOService endpoint can host it; the
blocking client in :mod:`boomnet.http.client` waits on ``fileno()`` between polls.
"""

from __future__ import annotations

import logging
import select
import time
from collections import deque
from typing import Any, Callable, Hashable

from ..errors import ConnectionClosed, HttpProtocolError, InvalidHttpRequest, InvalidState, NetworkError, TruncatedStream
from ..stream.base import Stream
from .options import HttpOptions, http_options
from .parser import ResponseParser
from .request import BodyArg, HeadersArg, encode_request
from .response import Response

__all__ = ["HttpConnection", "ResponseCallback"]

log = logging.getLogger(__name__)

ResponseCallback = Callable[[Response], Any]

#: bodies up to this size go out in the same write as the head (one syscall, one segment)
_COALESCE_MAX = 64 * 1024


class HttpConnection:
    """One HTTP/1.1 client connection. Not thread-safe; one owner polls it.

    ``host`` is the ``Host`` header value. ``key`` is the pool key it belongs to (opaque here).
    ``http`` / ``**overrides``: :class:`HttpOptions` (``limits``, ``pipelining``,
    ``expect_continue_timeout`` apply here). With ``pipelining`` off (the default) a second
    request before the first response is refused.
    """

    def __init__(
        self,
        stream: Stream,
        host: str,
        http: HttpOptions | None = None,
        *,
        key: Hashable = None,
        **overrides: Any,
    ) -> None:
        options = http_options(http, overrides)
        self.options = options
        self.stream = stream
        self.host = host
        self.key = key
        self.pipelining = options.pipelining
        self.parser = ResponseParser(options.limits)
        #: requests written on this connection so far (a pooled connection has served > 0)
        self.requests_sent = 0
        self.opened_at = self.idle_since = time.monotonic()
        self._callbacks: deque[ResponseCallback | None] = deque()
        self._reusable = True  # neither side has asked to close
        self._held_body: bytes | None = None  # body waiting for "100 Continue"
        self._continue_by = 0.0  # when the held body goes out even without a 100
        self._interim_seen = 0
        self._write_failed = False  # a write broke: no more requests; responses still read
        self._error: BaseException | None = None  # failure to report after delivering responses
        self._poller: Any = None  # lazily made by the blocking client
        self._probe: tuple[int, Any] | None = None  # (fd, poll object) for is_alive

    # --- the target interface an IOService expects ---------------------------------------------

    def establish(self) -> bool:
        """Advance connect / TLS handshake; ``True`` once requests can be sent."""
        return self.stream.establish()

    def fileno(self) -> int:
        return self.stream.fileno()

    def buffered(self) -> int:
        return self.stream.buffered()

    def read_hint(self) -> int:
        """Non-zero when this connection must be polled again without new readiness (buffered
        bytes, pending output, a closed stream, or a failure waiting to be raised)."""
        if self._error is not None or self.parser.failed:
            return 1
        return self.stream.read_hint()

    def close(self) -> None:
        self._reusable = False
        self.stream.close()

    # --- state ---------------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Requests sent whose responses are not complete yet."""
        return self.parser.outstanding

    @property
    def reusable(self) -> bool:
        """``True`` while another request may be sent (no ``close`` either side, no EOF, no error)."""
        return self._reusable and not self.parser.closed

    @property
    def idle(self) -> bool:
        """Reusable with nothing in flight: fit to go back into a pool."""
        return self._reusable and not self.parser.outstanding and not self.parser.closed

    @property
    def waiting_for_continue(self) -> bool:
        """A body is held back until the server answers ``Expect: 100-continue``."""
        return self._held_body is not None

    @property
    def continue_deadline(self) -> float:
        """When (``time.monotonic()``) a held body goes out without a 100; 0.0 if none is held."""
        return self._continue_by if self._held_body is not None else 0.0

    def check_continue(self, now: float) -> bool:
        """Send a held body once its ``expect_continue_timeout`` has passed; ``True`` if sent."""
        if self._held_body is not None and now >= self._continue_by:
            log.debug("%r: no 100 Continue within %.3g s; sending the body", self, self.options.expect_continue_timeout)
            self.send_held_body()
            return True
        return False

    @property
    def write_failed(self) -> bool:
        """A write to the server failed: no further request may go out on this connection, but
        the responses already received are still read by :meth:`poll`."""
        return self._write_failed

    # --- requests ------------------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        target: str,
        headers: HeadersArg = None,
        body: BodyArg = None,
        callback: ResponseCallback | None = None,
    ) -> None:
        """Encode and write one request; its response arrives through ``poll`` (and ``callback``).

        A request carrying ``Expect: 100-continue`` sends its head only; the body follows when
        the server answers 100 (or when :meth:`send_held_body` is called after a timeout).
        """
        head, payload = encode_request(method, target, self.host, headers, body)
        self.send_encoded(method, head, payload, callback)

    def send_encoded(self, method: str, head: bytes, payload: bytes = b"", callback: ResponseCallback | None = None) -> None:
        """Write a request already encoded by :func:`~boomnet.http.request.encode_request`."""
        if not self.reusable:
            raise ConnectionClosed("connection can no longer carry requests")
        if self.parser.outstanding and not self.pipelining:
            raise InvalidState("a request is already in flight on this connection (pipelining is off)")
        lowered = head.lower()  # ~0.1 us for a small head; header names are case-insensitive
        if b"\r\nconnection:" in lowered or b"\r\nexpect:" in lowered:
            self._scan_request_options(lowered, payload)
        stream = self.stream
        if self._held_body is not None:
            payload = b""
        try:
            if len(payload) <= _COALESCE_MAX:
                stream.write(head + payload if payload else head)
            else:
                stream.write(head)
                stream.write(payload)
        except NetworkError:
            # The server is gone for writing (EPIPE/RST): this request did not go out. Keep the
            # connection for reading -- responses to earlier requests may be in the socket.
            self._write_failed = True
            self._reusable = False
            self._held_body = None
            raise
        self.parser.expect(method)
        self._callbacks.append(callback)
        self.requests_sent += 1

    def _scan_request_options(self, head: bytes, payload: bytes) -> None:
        """Cold path: honour our own ``Connection: close`` and ``Expect: 100-continue``.

        ``head`` is the lower-cased request head."""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            tokens = {t.strip() for t in value.split(b",")}
            if name.strip() == b"connection" and b"close" in tokens:
                self._reusable = False
            elif name.strip() == b"expect" and b"100-continue" in tokens and payload:
                if self.parser.outstanding:
                    raise InvalidHttpRequest("Expect: 100-continue cannot be pipelined")
                self._held_body = payload
                self._interim_seen = self.parser.interim_total
                self._continue_by = time.monotonic() + self.options.expect_continue_timeout

    def send_held_body(self) -> None:
        """Send a body held for ``100 Continue`` now (the server did not answer in time)."""
        body, self._held_body = self._held_body, None
        if body is not None:
            self.stream.write(body)

    def flush(self) -> bool:
        """Push pending request bytes; ``True`` once all are out."""
        return self.stream.flush()

    @property
    def pending(self) -> int:
        return self.stream.pending

    @property
    def closed(self) -> bool:
        """True once the stream is closed; a readiness selector then polls this connection once
        more, so its endpoint learns of it even though no readiness event will come."""
        return self.stream.closed

    # --- responses -----------------------------------------------------------------------------

    def poll(self) -> list[Response]:
        """Read what is available now; return (and call back with) every response completed.

        Raises :class:`ConnectionClosed` if the server closed with a request unanswered,
        :class:`HttpProtocolError` (or a limit subclass) for a malformed response.
        """
        if self._error is not None:
            raise self._error
        stream = self.stream
        parser = self.parser
        out: list[Response] = []
        try:
            if stream.pending and not self._write_failed:
                try:
                    stream.flush()
                except NetworkError:
                    self._write_failed = True  # reading goes on: earlier responses may be there
                    self._reusable = False
            while True:
                view = parser.recv_view()
                size = len(view)
                n = stream.recv_into(view)
                del view  # the parser may grow or reallocate its buffers on commit
                if not n:
                    break
                done = parser.commit(n)
                if done:
                    out += done
                if parser.failed:  # finished responses first; the error comes with the next poll
                    self._reusable = False
                    break
                if self._held_body is not None:
                    self._check_continue(out)
                if n < size:  # the transport had no more right now; skip the EAGAIN round-trip
                    break
        except ConnectionClosed as exc:
            self._reusable = False
            try:
                out += parser.feed_eof(truncated=isinstance(exc, TruncatedStream))
            except HttpProtocolError as failure:
                if not out:
                    raise failure from exc
                self._error = failure  # raised by the next poll, after these responses are handed out
                self._deliver(out)
                return out
            if parser.outstanding:
                closed = ConnectionClosed(f"server closed the connection with {parser.outstanding} request(s) unanswered")
                closed.__cause__ = exc
                if not out:
                    raise closed from exc
                self._error = closed
        except HttpProtocolError as failure:
            self._reusable = False
            if not out:
                raise
            self._error = failure  # responses completed by earlier reads of this poll go first
        if out:
            self._deliver(out)
        return out

    def _check_continue(self, completed: list[Response]) -> None:
        if completed:  # final response before 100: the body was never sent; the stream is ambiguous
            self._held_body = None
            self._reusable = False
        elif self.parser.interim_total != self._interim_seen:
            self.send_held_body()

    def _deliver(self, responses: list[Response]) -> None:
        callbacks = self._callbacks
        for response in responses:
            callback = callbacks.popleft()
            if not response.keep_alive:
                self._reusable = False
            if callback is not None:
                callback(response)

    def is_alive(self) -> bool:
        """Check an idle pooled connection before reuse, without blocking.

        EOF, a reset, or any unsolicited byte (e.g. a 408 sent before closing) means the server
        is done with it: ``False``, and the connection must be discarded. The usual case -- a
        quiet descriptor -- costs one ``poll(0)``; only a readable one is read to tell why.
        """
        if not self.idle:
            return False
        stream = self.stream
        if not stream.buffered():
            fd = stream.fileno()
            if fd >= 0:
                probe = self._probe
                if probe is None or probe[0] != fd:
                    poller = select.poll()
                    poller.register(fd, select.POLLIN)
                    probe = self._probe = (fd, poller)
                if not probe[1].poll(0):
                    return True
        try:  # readable: EOF, reset, data -- or only TLS housekeeping records (still alive)
            n = stream.recv_into(self.parser.recv_view())
        except (NetworkError, OSError):
            self._reusable = False
            return False
        if n:
            log.debug("unsolicited %d bytes on idle connection to %s; discarding it", n, self.host)
            self._reusable = False
            return False
        return True

    def __repr__(self) -> str:
        return f"<HttpConnection {self.host} sent={self.requests_sent} outstanding={self.outstanding}>"
