"""HTTP/2 over any boomnet stream: the ``h2`` package's state machine, driven without blocking.

    conn = H2Connection(stream, "api.example.com")        # a TLS stream that negotiated "h2"
    while not conn.establish(): ...
    req = conn.request("GET", "/v1/time")                  # many may be in flight at once
    while not req.done: conn.poll()
    req.response.status, req.response.body

``h2`` does the protocol (framing, HPACK, stream states, flow-control accounting); this module
does what h2 leaves to its user: moving bytes, queueing requests beyond the server's
``MAX_CONCURRENT_STREAMS``, feeding request bodies as the windows allow, giving flow-control
credit back as response bytes are consumed, the limits of :class:`~boomnet.http.HttpLimits`,
deadlines, and the fate of each request when a stream or the connection ends.

GOAWAY done right. ``h2`` treats every GOAWAY as the end of the connection (its issue #1181:
the state machine goes to CLOSED and the DATA frames of streams the server is still finishing
raise ``ProtocolError``). But a graceful GOAWAY (``NO_ERROR``, which nginx and hypercorn send
after a number of requests) only means *no new streams*: streams up to ``last_stream_id`` are
still answered. So incoming bytes are handed to h2 split at GOAWAY frames (frame headers are
scanned, 9 bytes each); after a graceful one the connection is marked ``draining`` and h2's
state machine is put back to open so the streams it still owes complete normally. Requests on
streams above ``last_stream_id`` were never processed: they end with ``retry=True`` so a
client can send them again on a new connection; they never count as sent twice.

A stream reset (RST_STREAM) fails only that request (``REFUSED_STREAM`` is retriable: the
server did not process it). A dead connection fails every request at once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from ...errors import MissingExtra

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError as exc:  # pragma: no cover - h2 is the http2 extra
    raise MissingExtra(f"HTTP/2 needs the h2 package: pip install 'boomnet[http2]' ({exc})") from exc

from ...errors import BodyTooLarge, ConnectionClosed, DeadlineExceeded, HeaderTooLarge, HttpProtocolError
from ...stream.base import Stream
from ..body import Body
from ..headers import Headers
from ..limits import DEFAULT_LIMITS, HttpLimits
from ..response import Response
from .demux import FrameDemux
from .request import H2Request

__all__ = ["H2Connection", "H2Request"]

log = logging.getLogger("boomnet.http.h2")

_WINDOW = 16 * 1024 * 1024  # our receive window: one 16 MiB burst without waiting for credit
_READ_BUDGET = 4 * 1024 * 1024


class H2Connection:
    """A client HTTP/2 connection (a service :class:`~boomnet.service.target.Target`)."""

    def __init__(self, stream: Stream, authority: str, *, scheme: str = "https", limits: HttpLimits = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self.authority = authority
        self.scheme = scheme
        self.limits = limits
        self._clock = clock
        config = h2.config.H2Configuration(client_side=True, header_encoding=None, validate_inbound_headers=True)
        self._h2 = h2.connection.H2Connection(config=config)
        self._buf = bytearray(256 * 1024)
        self._view = memoryview(self._buf)
        self._open: dict[int, H2Request] = {}
        self._queued: deque[H2Request] = deque()
        self._sending: dict[int, H2Request] = {}  # streams with body bytes still to send
        self._finished: list[H2Request] = []
        self._demux = FrameDemux(self, self._h2.local_settings.max_frame_size)
        self._unacked = 0  # connection-level bytes received on the fast path, not yet credited
        self._stream_unacked: dict[int, int] = {}
        self._started = False
        self.draining = False  # a graceful GOAWAY came: no new streams
        self._settings_seen = False
        self.closed_error: BaseException | None = None
        self.requests_done = 0

    # --- Target -----------------------------------------------------------------------------

    def establish(self) -> bool:
        if not self._stream.establish():
            return False
        if not self._started:
            self._started = True
            h2c = self._h2
            h2c.local_settings = h2.settings.Settings(client=True, initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: self.limits.max_header_bytes,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            })
            h2c.initiate_connection()
            h2c.increment_flow_control_window(_WINDOW - 65535)
            self._write()
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    def read_hint(self) -> int:
        return len(self._finished) or self._stream.read_hint()

    def buffered(self) -> int:
        """Inbound bytes held inside the stream (decrypted TLS) that no readiness will announce."""
        return self._stream.buffered()

    @property
    def pending(self) -> int:
        """Outbound bytes the stream has not handed to the transport yet."""
        return self._stream.pending

    def close(self) -> None:
        self._stream.close()

    # --- state ------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._open) + len(self._queued)

    @property
    def available(self) -> bool:
        """Whether a new request may be submitted (not draining, not dead)."""
        return not self.draining and self.closed_error is None

    @property
    def max_concurrent(self) -> int:
        # RFC 9113 leaves the limit unbounded until the server's SETTINGS arrive; servers send
        # them first thing, so until then open no more than the common default of 100
        cap = 1000 if self._settings_seen else 100
        return min(self._h2.remote_settings.max_concurrent_streams, cap)

    # --- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                *, deadline: float | None = None, on_done: Callable[[H2Request], object] | None = None) -> H2Request:
        """Submit a request; it is sent now if a stream is free, else queued in order.
        Raises :class:`ConnectionClosed` when the connection no longer takes requests."""
        if not self.available:
            raise ConnectionClosed(f"HTTP/2 connection to {self.authority} is draining or closed: use a new one")
        hdrs = [(k.lower(), v) for k, v in headers if k.lower() not in ("connection", "host", "keep-alive",
                                                                          "transfer-encoding", "upgrade")]
        if body and not any(k == "content-length" for k, _ in hdrs):
            hdrs.append(("content-length", str(len(body))))
        req = H2Request(method, path, hdrs, body, deadline, on_done, Body(self.limits.max_body_size))
        self._queued.append(req)
        self._start_queued()
        self._write()
        return req

    def _start_queued(self) -> None:
        h2c = self._h2
        limit = self.max_concurrent
        while self._queued and len(self._open) < limit and not self.draining:
            req = self._queued.popleft()
            sid = h2c.get_next_available_stream_id()
            req.stream_id = sid
            pseudo = [(":method", req.method), (":scheme", self.scheme), (":authority", self.authority),
                      (":path", req.path)]
            h2c.send_headers(sid, pseudo + req.headers, end_stream=not req.body)
            self._open[sid] = req
            if req.body:
                self._sending[sid] = req
        if self._sending:
            self._send_bodies()

    def _send_bodies(self) -> None:
        h2c = self._h2
        for sid, req in list(self._sending.items()):
            while req.sent < len(req.body):
                window = min(h2c.local_flow_control_window(sid), h2c.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk = req.body[req.sent : req.sent + window]
                req.sent += len(chunk)
                h2c.send_data(sid, chunk, end_stream=req.sent == len(req.body))
            if req.sent == len(req.body):
                del self._sending[sid]

    # --- I/O --------------------------------------------------------------------------------

    def _write(self) -> None:
        data = self._h2.data_to_send()
        try:
            if data:
                self._stream.write(data)
            elif self._stream.pending:
                self._stream.flush()
        except ConnectionClosed as exc:
            self._dead(exc)

    def poll(self) -> list[H2Request]:
        """Read what arrived, advance every stream; returns the requests that finished now."""
        if self.closed_error is None:
            try:
                budget = _READ_BUDGET  # per poll, so one busy connection cannot starve the loop
                while budget > 0:
                    # a short read is not "drained" over TLS (one record per read): read until
                    # nothing is there now or the budget is spent
                    n = self._stream.recv_into(self._view)
                    if n <= 0:
                        break
                    self._demux.feed(self._view[:n])
                    budget -= n
            except ConnectionClosed as exc:
                self._dead(exc)
            except h2.exceptions.ProtocolError as exc:
                self._write()  # h2's GOAWAY (with its error code) first: the server learns why
                self._dead(HttpProtocolError(f"HTTP/2 protocol error from {self.authority}: {exc}"))
            else:
                if self._queued or self._sending:  # (a download's polls have neither: skip the call)
                    self._start_queued()
                self._write()
        if self._open or self._queued:
            self._expire()
        done, self._finished = self._finished, []
        for req in done:
            if req.on_done is not None:
                req.on_done(req)
        return done

    # --- the demultiplexer's sink (see :mod:`.demux`) -----------------------------------------

    def body_for(self, sid: int, most: int) -> tuple[Body, int] | None:
        req = self._open.get(sid)
        if req is None or not req.status or req.response is not None or req.error is not None:
            return None
        if not req.fast:
            req.fast = True
            # h2 counts DATA bytes against content-length, and these bypass it: the length is
            # checked here instead (the body's ``most``, and when the stream ends: _complete)
            stream = self._h2.streams.get(sid)
            if stream is not None:
                stream._expected_content_length = None
        body = req.received
        room = body.most - body.filled
        body.reserve(min(most, room))
        return body, room

    def to_h2(self, data: bytes) -> None:
        self._events(self._h2.receive_data(data))

    def over_limit(self, sid: int) -> None:
        req = self._open.get(sid)
        if req is not None:
            declared = req.received.most
            if declared < self.limits.max_body_size:  # bound by the response's content-length
                error: BaseException = HttpProtocolError(f"HTTP/2 DATA past the content-length {declared}")
            else:
                error = BodyTooLarge(f"HTTP/2 body over {self.limits.max_body_size} bytes")
            self._fail(req, error, reset=True)

    def consumed(self, sid: int, n: int) -> None:
        # flow control for bytes h2 never saw: give the credit back ourselves, in big steps (one
        # call per stream and read, not per frame)
        self._unacked += n
        if self._unacked >= _WINDOW // 2:
            self._window_update(0, self._unacked)
            self._unacked = 0
        pending = self._stream_unacked.get(sid, 0) + n
        if pending >= _WINDOW // 2:
            req = self._open.get(sid)
            if req is not None and not req.done:
                self._window_update(sid, pending)
                pending = 0
        self._stream_unacked[sid] = pending

    def _window_update(self, sid: int, increment: int) -> None:
        self._write()  # h2's own frames first: frames are never interleaved inside one another
        frame = b"\x00\x00\x04\x08\x00" + sid.to_bytes(4, "big") + increment.to_bytes(4, "big")
        try:
            self._stream.write(frame)
        except ConnectionClosed as exc:
            self._dead(exc)

    def _events(self, events: list[h2.events.Event]) -> None:
        h2c = self._h2
        limits = self.limits
        for ev in events:
            if isinstance(ev, h2.events.DataReceived):
                req = self._open.get(ev.stream_id)
                h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if req is None:
                    continue
                if req.received.filled + len(ev.data) > limits.max_body_size:
                    self._fail(req, BodyTooLarge(f"HTTP/2 body over {limits.max_body_size} bytes"), reset=True)
                    continue
                req.received.append(ev.data)
            elif isinstance(ev, h2.events.ResponseReceived):
                req = self._open.get(ev.stream_id)
                if req is not None:
                    self._headers(req, ev.headers, trailers=False)
            elif isinstance(ev, h2.events.TrailersReceived):
                req = self._open.get(ev.stream_id)
                if req is not None:
                    self._headers(req, ev.headers, trailers=True)
            elif isinstance(ev, h2.events.StreamEnded):
                self._stream_unacked.pop(ev.stream_id, None)
                req = self._open.pop(ev.stream_id, None)
                if req is not None and not req.done:
                    self._complete(req)
            elif isinstance(ev, h2.events.StreamReset):
                req = self._open.pop(ev.stream_id, None)
                self._sending.pop(ev.stream_id, None)
                if req is not None and not req.done:
                    refused = ev.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                    self._fail(req, HttpProtocolError(f"stream {ev.stream_id} reset by the server ({ev.error_code!r})"),
                               retry=refused)
            elif isinstance(ev, h2.events.WindowUpdated):
                if self._sending:
                    self._send_bodies()
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self._settings_seen = True  # the limit itself is read from h2's remote settings
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self._goaway(ev)

    def _headers(self, req: H2Request, headers: list[tuple[bytes, bytes]], *, trailers: bool) -> None:
        if not req.take_headers(headers, trailers, self.limits):
            self._fail(req, HeaderTooLarge("HTTP/2 header block over the limit"), reset=True)

    def _complete(self, req: H2Request) -> None:
        headers = Headers(req.resp_headers)
        length = headers.get("content-length")
        got = req.received.filled
        if length is not None and req.method != "HEAD" and req.status not in (204, 304) and (
                not length.isdigit() or int(length) != got):
            self._fail(req, HttpProtocolError(f"HTTP/2 body of {got} bytes, content-length {length}"), reset=False)
            return
        # as HTTP/1.1 does: small bodies as bytes, large ones as the bytearray they were received
        # into (no second copy of a 10 MB download)
        req.response = Response(req.status, "", "2", headers, req.received.take(), req.method, True)
        self.requests_done += 1
        self._finished.append(req)

    def _fail(self, req: H2Request, error: BaseException, *, reset: bool = False, retry: bool = False) -> None:
        if req.done:
            return
        req.error = error
        req.retry = retry
        if reset and req.stream_id and self.closed_error is None:
            self._open.pop(req.stream_id, None)
            self._sending.pop(req.stream_id, None)
            try:
                self._h2.reset_stream(req.stream_id, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.StreamClosedError:
                pass
        self._finished.append(req)

    def _goaway(self, ev: h2.events.ConnectionTerminated) -> None:
        last = ev.last_stream_id or 0
        graceful = ev.error_code == h2.errors.ErrorCodes.NO_ERROR
        log.info("%s: GOAWAY (%s, last stream %s, %d open, %d queued)", self.authority, ev.error_code, last,
                 len(self._open), len(self._queued))
        self.draining = True
        not_processed = ConnectionClosed(f"{self.authority} sent GOAWAY before processing this request")
        for sid in [s for s in self._open if s > last]:
            req = self._open.pop(sid)
            self._sending.pop(sid, None)
            self._fail(req, not_processed, retry=True)
        while self._queued:
            self._fail(self._queued.popleft(), not_processed, retry=True)
        if graceful and self._open:
            # h2 closed its state machine; the server still owes the streams <= last: reopen it
            self._h2.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        elif not graceful:
            self._dead(HttpProtocolError(f"{self.authority} ended the connection: GOAWAY {ev.error_code!r}"))

    def _dead(self, error: BaseException) -> None:
        if self.closed_error is None:
            self.closed_error = error
        for req in list(self._open.values()):
            self._fail(req, error, retry=False)
        self._open.clear()
        self._sending.clear()
        while self._queued:
            self._fail(self._queued.popleft(), error, retry=True)  # never sent: safe to retry
        self._stream.close()

    def _expire(self) -> None:
        now = self._clock()
        for req in [r for r in self._open.values() if r.deadline is not None and now > r.deadline]:
            self._fail(req, DeadlineExceeded(f"{req.method} {req.path}: no response in time"), reset=True)
        for req in [r for r in self._queued if r.deadline is not None and now > r.deadline]:
            self._queued.remove(req)
            self._fail(req, DeadlineExceeded(f"{req.method} {req.path}: not started in time"), retry=False)
        if self._finished:
            self._write()
