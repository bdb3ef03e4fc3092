"""HTTP as an IOService endpoint kind: non-blocking requests with callbacks, one keep-alive
connection per endpoint, kept warm and re-made by the service; HTTP/2 or HTTP/1.1 as the
server's ALPN answer decides (:mod:`boomnet.http.negotiate`: ``http2="alpn"`` by default,
``"off"``, ``"require"``; ``h2c=True`` for prior knowledge on ``http://``).

    class Prices(HttpEndpoint):
        def on_connected(self, conn, ctx):
            super().on_connected(conn, ctx)
            self.get("/api/v3/ticker/price?symbol=BTCUSDT", on_response=ctx.on_price)

    io = IOService()
    io.register(Prices("https://api.binance.com"))

``request()`` may be called at any time: the request is encoded (and validated) at once, queued,
and written as soon as the connection can take it (immediately if it is idle). Responses are
handed to the request's ``on_response`` (or :meth:`HttpEndpoint.on_response`); failures to its
``on_error``. Deadlines and the ``Expect: 100-continue`` wait are checked by an endpoint timer.
Every response says which protocol carried it (``response.http_version``: ``"2"``, ``"1.1"``).

Over HTTP/2 (:mod:`boomnet.http.h2.driver`) every queued request goes on the one connection at
once (beyond the server's ``MAX_CONCURRENT_STREAMS`` they wait inside it, in order); a late or
failed stream is reset alone; after a graceful GOAWAY the requests the server never processed go
out again on a new connection, made at once: the old one finishes its streams on the side
(:mod:`boomnet.http.h2.handover`) while new requests use the new one (one that has answered
nothing drains in place until it does, and gets the service's back-off if it ends unanswered);
requests in flight on a connection that died may have been processed: idempotent ones are
re-sent once, others fail with ``ConnectionClosed``. Over HTTP/1.1:

When a connection ends, what it did is decided per request (RFC 9112 9.3.2, 9.6):

* responses already received are read and delivered before the socket is dropped (also when a
  write failed because the server had closed);
* requests behind a response that ended the connection (``Connection: close``, HTTP/1.0, an
  EOF-delimited body) were never processed by the server: they are re-sent on the next
  connection whatever their method, with no cap (each new connection answers at least one);
* requests in flight when the connection died without such a signal may have been processed:
  idempotent ones are re-sent, others fail with ``ConnectionClosed``. The first unanswered one
  may be what made the server close: it is re-sent once only; those behind it are not blamed;
* a connection that carries re-sent requests is not pipelined until it has answered one (each
  new connection, again); so every connection answers at least one request or uses up the
  retry of the one that may be at fault: re-sending always ends;
* non-idempotent requests are never pipelined, neither behind nor ahead of another request.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConnectionClosed, DeadlineExceeded, NetworkError
from ..service.endpoint import Address, C, Disconnect, DisconnectKind, StreamEndpoint
from ..service.options import Backoff
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from ..url import parse_url
from .connection import HttpConnection
from .headers import header_pairs
from .negotiate import check_http2, tls_with_alpn
from .options import HttpOptions, http_options, split_overrides
from .pending import HttpRequest
from .request import IDEMPOTENT_METHODS, BodyArg, HeadersArg, encode_request
from .response import Response
from .target import HttpTarget
from .transport import DEFAULT_TLS

if TYPE_CHECKING:
    from .h2.driver import H2Driver
    from .h2.handover import Draining

__all__ = ["HttpEndpoint", "HttpRequest"]

log = logging.getLogger(__name__)

#: a connection closed within this many seconds, unused, counts as refused (service back-off)
_FRESH = 1.0
HTTP_SCHEMES = frozenset({"http", "https"})


class HttpEndpoint(StreamEndpoint[HttpTarget, C]):
    """An endpoint whose target is an :class:`~boomnet.http.target.HttpTarget` to the origin of
    ``url`` (``target.h1``: an :class:`HttpConnection`, or ``target.h2``: an HTTP/2 connection).

    ``url``'s path (if any) prefixes every request path. ``tcp`` / ``tls``: the transport's
    options (:class:`~boomnet.stream.options.TcpOptions`, :class:`~boomnet.stream.options.TlsOptions`;
    https verifies certificates unless ``TlsOptions(verify=False)``). ``http`` / ``**overrides``:
    :class:`HttpOptions` -- ``pipelining`` lets up to ``max_pipeline`` idempotent requests share
    the wire before their responses (otherwise one at a time); ``request_timeout`` is each
    request's deadline from submission, checked every ``check_interval`` seconds;
    ``expect_continue_timeout`` bounds the wait for ``100 Continue``. A keyword naming a
    ``TcpOptions`` / ``TlsOptions`` field (``ca_file=``, ``connect_timeout=``, ...) changes that
    field; a misspelt keyword is a ``TypeError`` here.
    """

    def __init__(
        self,
        url: str,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        http: HttpOptions | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Backoff | None = None,
        **overrides: Any,
    ) -> None:
        http_changes, tcp_changes, tls_changes = split_overrides(type(self).__name__, overrides)
        options = http_options(http, http_changes)
        check_http2(options)
        parsed = parse_url(url, HTTP_SCHEMES)
        # ALPN set here, so the context StreamEndpoint.prepare() builds off the loop is the one used
        super().__init__(
            parsed.host, parsed.port, secure=parsed.secure, tcp=tcp, tls=tls_with_alpn(tls or DEFAULT_TLS, options),
            auto_disconnect=auto_disconnect, backoff=backoff, **tcp_changes, **tls_changes,
        )
        self.url = url
        self.options = options
        self.host_header = parsed.host_header
        self.prefix = "" if parsed.target == "/" else parsed.target.rstrip("/")
        self.limits = options.limits
        self.pipelining = options.pipelining
        self.max_pipeline = options.max_pipeline
        self.request_timeout = options.request_timeout
        self.default_headers = list(options.headers)
        self._queue: deque[HttpRequest] = deque()  # not yet written
        self._in_flight: deque[HttpRequest] = deque()  # written, response not complete
        self._http: HttpConnection | None = None  # the connected HTTP/1.1 connection, if any
        self._h2: H2Driver | None = None  # or the HTTP/2 one
        self._draining: list[Draining[C]] = []  # old HTTP/2 connections finishing after a GOAWAY
        self.scheme = parsed.scheme
        #: connections made so far
        self.connections = 0
        self._closing: HttpConnection | None = None  # the target we asked the service to drop
        # re-sent requests go out one at a time until the new connection answered one
        self._probation = False
        self.every(options.check_interval, self._check_timers)

    # --- submitting -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        headers: HeadersArg = None,
        body: BodyArg = None,
        *,
        on_response: Callable[[Response], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        timeout: float | None = None,
    ) -> HttpRequest:
        """Queue a request (validated now: raises :class:`InvalidHttpRequest`); send when possible."""
        target = self.prefix + path
        if self.default_headers:
            headers = self.default_headers + header_pairs(headers)
        head, payload = encode_request(method, target, self.host_header, headers, body)
        deadline = time.monotonic() + (self.request_timeout if timeout is None else timeout)
        req = HttpRequest(method, target, head, payload, on_response, on_error, deadline, header_pairs(headers))
        self._queue.append(req)
        if self._http is not None:
            self._pump(self._http)
        elif self._h2 is not None:
            self._pump_h2(self._h2)
        return req

    def get(self, path: str, headers: HeadersArg = None, **kw: Any) -> HttpRequest:
        return self.request("GET", path, headers, **kw)

    def post(self, path: str, body: BodyArg = None, headers: HeadersArg = None, **kw: Any) -> HttpRequest:
        return self.request("POST", path, headers, body, **kw)

    @property
    def queued(self) -> int:
        """Requests waiting to be written."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Requests written whose responses are not complete (on draining connections too)."""
        own = self._h2.in_flight if self._h2 is not None else len(self._in_flight)
        return own + sum(d.in_flight for d in self._draining) if self._draining else own

    @property
    def draining(self) -> int:
        """Old HTTP/2 connections still finishing their streams after a GOAWAY."""
        return len(self._draining)

    @property
    def http_version(self) -> str | None:
        """The protocol of the current connection (``"2"``, ``"1.1"``), ``None`` if none (yet)."""
        return "2" if self._h2 is not None else "1.1" if self._http is not None else None

    # --- outcome hooks (override, or pass per-request callbacks) ---------------------------------

    def on_response(self, request: HttpRequest, response: Response, ctx: C) -> None:
        """A response is complete. The default calls the request's ``on_response``."""
        if request.on_response is not None:
            request.on_response(response)

    def on_error(self, request: HttpRequest, error: BaseException, ctx: C) -> None:
        """A request failed. The default calls its ``on_error`` (or logs at WARNING)."""
        if request.on_error is not None:
            request.on_error(error)
        else:
            log.warning("%r: %s %s failed: %s", self, request.method, request.target, error)

    # --- the endpoint protocol --------------------------------------------------------------------

    def create_target(self, addr: Address | None, ctx: C) -> HttpTarget:
        return self._target(self.create_stream(addr), self.secure)

    def create_replay_target(self, stream: Stream, ctx: C) -> HttpTarget:
        return self._target(stream, False)  # a recording is plaintext: h2c if the options say so

    def _target(self, stream: Stream, secure: bool) -> HttpTarget:
        return HttpTarget(stream, secure=secure, authority=self.host_header, scheme=self.scheme, options=self.options)

    def on_connected(self, target: HttpTarget, ctx: C) -> None:
        """The connection is up: queued requests go out. Subclasses: call ``super()`` first."""
        self.connections += 1
        if target.h2 is not None:
            from .h2.driver import H2Driver

            self._h2 = H2Driver(target.h2)
            self._pump_h2(self._h2)
            return
        conn = target.h1
        assert conn is not None  # established: one of the two
        self._http = conn
        # re-sent requests go one at a time until this connection has answered one (9112 9.3.2)
        self._probation = any(req.sends for req in self._queue)
        self._pump(conn)

    def poll(self, target: HttpTarget, ctx: C) -> None:
        if self._h2 is not None:
            self._poll_h2(target, self._h2, ctx)
            return
        conn = target.h1
        if conn is None:
            return
        try:
            responses = conn.poll()
        except ConnectionClosed:
            if self._served(conn):
                # a keep-alive close racing our request; re-send at once on a fresh connection
                self._reconnect()
                return
            raise  # a server that closes fresh connections unanswered: let the service back off
        if responses:
            self._probation = False  # this connection has answered: pipelining may resume
            in_flight = self._in_flight
            for response in responses:
                req = in_flight.popleft()
                req.response = response
                self.on_response(req, response, ctx)
        if not conn.reusable:
            # keep-alive ended (server's "close", EOF, a failed write, or our own "Connection:
            # close" answered); once no further response can come, start a fresh connection
            if not conn.outstanding or conn.parser.closed:
                if self._served(conn):
                    self._reconnect()
                else:
                    raise ConnectionClosed("server closed a fresh connection before answering anything")
            return
        if self._queue:
            self._pump(conn)

    def on_disconnect(self, reason: Disconnect, ctx: C) -> bool:
        """Re-queue what the dead connection never answered (see the module docstring); fail the rest."""
        if self._h2 is not None:
            from .h2.handover import settle

            lost = reason.error or ConnectionClosed(f"connection lost ({reason.kind.value})")
            self._queue.extendleft(reversed(settle(self, self._h2, self._h2.end(), lost, ctx)))
            self._h2 = None
        conn = self._http or self._closing
        self._http = self._closing = None
        now = time.monotonic()
        in_flight, self._in_flight = self._in_flight, deque()
        # the server ended the connection by a response: nothing behind it was processed
        unprocessed = conn is not None and conn.parser.closed_by_response
        retry: list[HttpRequest] = []
        for index, req in enumerate(in_flight):
            first = index == 0
            answered_partly = first and conn is not None and conn.parser.mid_response
            if req.deadline <= now:
                self._fail(req, DeadlineExceeded(f"{req.method} {req.target}: no response before the deadline"), ctx)
            elif unprocessed:
                retry.append(req)  # behind a response that ended the connection: never processed
            elif req.method in IDEMPOTENT_METHODS and not answered_partly and (not first or not req.blamed):
                if first:
                    req.blamed += 1
                retry.append(req)
            else:
                self._fail(req, reason.error or ConnectionClosed(f"connection lost ({reason.kind.value})"), ctx)
        self._queue.extendleft(reversed(retry))
        if reason.kind is DisconnectKind.CONNECT_FAILED:
            queue, self._queue = self._queue, deque()
            for req in queue:  # nobody can answer them now; callers decide about retrying
                self._fail(req, reason.error or ConnectionClosed("could not connect"), ctx)
        return True

    # --- internals ------------------------------------------------------------------------------

    def _pump(self, conn: HttpConnection) -> None:
        """Write queued requests while the connection may take them."""
        queue, in_flight = self._queue, self._in_flight
        while queue and conn.reusable:
            req = queue[0]
            if in_flight:
                # pipeline only idempotent requests, never behind a non-idempotent one, and not
                # on a connection that still has to prove itself after re-sends
                if not self.pipelining or self._probation or len(in_flight) >= self.max_pipeline:
                    return
                if not req.pipelinable or not in_flight[-1].pipelinable:
                    return
            try:
                conn.send_encoded(req.method, req.head, req.body)
            except NetworkError as exc:
                # The server is gone for writing; this request never went out (it stays queued).
                # Responses to those in flight may already be in the socket: the connection is
                # kept for reading, and poll() drains it before it is dropped.
                log.debug("%r: write failed: %s", self, exc)
                if not conn.outstanding:
                    self._reconnect()
                return
            queue.popleft()
            req.sends += 1
            in_flight.append(req)

    @staticmethod
    def _served(conn: HttpConnection) -> bool:
        """Did ``conn`` work normally before closing (answered, or idled a while)? Then a quick
        reconnect is right; a server closing fresh connections at once gets back-off instead."""
        return conn.requests_sent > conn.outstanding or time.monotonic() - conn.opened_at > _FRESH

    def _fail(self, req: HttpRequest, error: BaseException, ctx: C) -> None:
        req.error = error
        self.on_error(req, error, ctx)

    def _reconnect(self) -> None:
        if self._http is not None:  # new requests queue until the next connection is up
            self._closing, self._http = self._http, None
        self.disconnect("requested")  # REQUESTED: reconnects without back-off

    def _check_timers(self, target: HttpTarget, ctx: C) -> None:
        now = time.monotonic()
        conn = target.h1
        if conn is not None and conn.waiting_for_continue:
            conn.check_continue(now)  # the server never answered Expect: 100-continue
        if self._queue and any(req.deadline <= now for req in self._queue):
            keep: deque[HttpRequest] = deque()
            for req in self._queue:
                if req.deadline <= now:
                    self._fail(req, DeadlineExceeded(f"{req.method} {req.target}: not sent before the deadline"), ctx)
                else:
                    keep.append(req)
            self._queue = keep
        if any(req.deadline <= now for req in self._in_flight):
            # a late response would desynchronise the connection: drop it; on_disconnect fails
            # the expired requests and re-sends the others
            self._reconnect()
        if self._h2 is not None and self._h2.in_flight:
            self._poll_h2(target, self._h2, ctx)  # late streams are reset (alone) even when nothing arrives

    # --- HTTP/2 (the driver's module doc) ----------------------------------------------------------

    def _pump_h2(self, driver: H2Driver) -> None:
        queue = self._queue
        if queue and driver.conn.available:
            self._queue = deque()
            driver.submit(req for req in queue if not req.done)

    def _poll_h2(self, target: HttpTarget, driver: H2Driver, ctx: C) -> None:
        outcomes = driver.poll()
        if outcomes:  # (most polls of a download finish nothing: no import, no call)
            from .h2.handover import settle
            self._queue.extendleft(reversed(settle(self, driver, outcomes, None, ctx)))
        conn = driver.conn
        if conn.available:  # neither draining nor dead: the usual case
            if self._queue:
                self._pump_h2(driver)
        elif conn.draining and driver.answered and (conn.closed_error is not None or not driver.in_flight):
            self._reconnect()  # drained after a graceful GOAWAY (or closed then, as nginx does): a new one
        elif conn.closed_error is not None:
            raise conn.closed_error
        elif not driver.in_flight:  # GOAWAY before answering anything: the service backs off
            raise ConnectionClosed("the server ended a fresh HTTP/2 connection (GOAWAY) unanswered")
        elif driver.answered and self._replay is None:
            from .h2.handover import hand_over
            if hand_over(self, target, driver):  # it finishes its streams on the side: connect again now
                self._h2 = None
                self._reconnect()

    def _requeue(self, again: list[HttpRequest]) -> None:
        """Requests a draining connection never got processed: first in line on the current one."""
        self._queue.extendleft(reversed(again))
        if self._h2 is not None:
            self._pump_h2(self._h2)
        elif self._http is not None:
            self._probation = True  # re-sent requests go one at a time (as after on_connected)
            self._pump(self._http)
