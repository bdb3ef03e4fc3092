"""``Http2Endpoint``: HTTP/2 on the IOService — many requests in flight on one connection.

    class Rest(Http2Endpoint):
        def on_connected(self, conn, ctx):
            super().on_connected(conn, ctx)
            for s in symbols:
                self.request("GET", f"/api/v3/depth?symbol={s}", on_response=ctx.on_book)

    io.register(Rest("https://api.example.com", tls=TlsOptions(ca_file=...)))

The target is an :class:`~boomnet.http.h2.H2Connection` (TLS with ALPN ``h2``, or h2c with
``prior_knowledge=True`` on ``http://``). Requests may be made at any time: made while
disconnected they wait and go out, in order, on the next connection. When the server ends the
connection gracefully (GOAWAY), the requests it never processed are sent again on the next
connection and every other one completes on the old one; requests that were in flight on a
connection that *died* fail with their error (they may have been processed: boomnet does not
guess). The server's refusal of h2 in ALPN is a clear error (use :class:`~boomnet.http.HttpEndpoint`
for HTTP/1.1-only origins, or :class:`~boomnet.http.auto.AutoClient` to choose per origin).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ...errors import DeadlineExceeded, HttpProtocolError, LocalError
from ...service import Address, Backoff, Disconnect, StreamEndpoint
from ...stream.base import Stream
from ...stream.options import TcpOptions, TlsOptions
from ...url import parse_url
from ..limits import DEFAULT_LIMITS, HttpLimits
from ..response import Response
from .connection import H2Connection, H2Request

__all__ = ["Http2Endpoint", "Pending"]

log = logging.getLogger("boomnet.http.h2")


class Pending:
    """A request submitted to the endpoint: ``response`` / ``error`` once done."""

    __slots__ = ("method", "path", "headers", "body", "deadline", "on_response", "on_error", "response", "error",
                 "sends")

    def __init__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, deadline: float,
                 on_response: Callable[[Response], object] | None,
                 on_error: Callable[[BaseException], object] | None) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.deadline = deadline
        self.on_response = on_response
        self.on_error = on_error
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.sends = 0

    @property
    def done(self) -> bool:
        return self.response is not None or self.error is not None


class Http2Endpoint(StreamEndpoint[H2Connection, Any]):
    """See the module doc. ``request_timeout``: each request's deadline from submission."""

    def __init__(self, url: str, *, tcp: TcpOptions | None = None, tls: TlsOptions | None = None,
                 prior_knowledge: bool = False, limits: HttpLimits = DEFAULT_LIMITS, request_timeout: float = 10.0,
                 check_interval: float = 0.01, auto_disconnect: float | Callable[[], float] | None = None,
                 backoff: Backoff | None = None) -> None:
        u = parse_url(url, ("http", "https"))
        if not u.secure and not prior_knowledge:
            raise LocalError("http:// speaks HTTP/2 only with prior_knowledge=True (h2c)")
        if request_timeout <= 0:
            raise LocalError("request_timeout must be positive")
        tls = (tls or TlsOptions()).replace(alpn=("h2",))
        super().__init__(u.host, u.port, secure=u.secure, tcp=tcp, tls=tls, auto_disconnect=auto_disconnect,
                         backoff=backoff)
        self.url = url
        self.prefix = u.target.rstrip("/") if u.target != "/" else ""
        self.authority = u.host_header
        self.scheme = u.scheme
        self.limits = limits
        self.request_timeout = request_timeout
        self._waiting: deque[Pending] = deque()  # not on any connection yet
        self._by_stream: dict[int, Pending] = {}
        self._h2conn: H2Connection | None = None
        self.connections = 0  # connections made so far
        self.every(check_interval, lambda conn, ctx: self._expire_waiting())

    # --- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"", *,
                on_response: Callable[[Response], object] | None = None,
                on_error: Callable[[BaseException], object] | None = None, timeout: float | None = None) -> Pending:
        from ..request import encode_request

        encode_request(method, self.prefix + path, self.authority, headers, body)  # validates, or InvalidHttpRequest
        p = Pending(method, self.prefix + path, list(headers or ()), body,
                    time.monotonic() + (timeout or self.request_timeout), on_response, on_error)
        self._waiting.append(p)
        conn = self._h2conn
        if conn is not None and conn.available:
            self._send_waiting(conn)
        return p

    def get(self, path: str, **kw: Any) -> Pending:
        return self.request("GET", path, **kw)

    def _send_waiting(self, conn: H2Connection) -> None:
        while self._waiting and conn.available:
            p = self._waiting.popleft()
            if p.done:
                continue
            p.sends += 1
            req = conn.request(p.method, p.path, p.headers, p.body, deadline=p.deadline, on_done=self._done)
            self._by_stream[id(req)] = p

    def _done(self, req: H2Request) -> None:
        p = self._by_stream.pop(id(req), None)
        if p is None:
            return
        if req.response is not None:
            req.response.url = self.url.rstrip("/") + p.path
            self._finish(p, response=req.response)
        elif req.retry and not p.done:
            self._waiting.appendleft(p)  # never processed: goes out again on the next connection
        else:
            self._finish(p, error=req.error or HttpProtocolError("HTTP/2 request failed"))

    def _finish(self, p: Pending, *, response: Response | None = None, error: BaseException | None = None) -> None:
        if p.done:
            return
        p.response, p.error = response, error
        try:
            if response is not None:
                (p.on_response or self.on_response)(response)
            elif error is not None:
                (p.on_error or self.on_error)(error)
        except Exception:
            log.exception("%r: a request callback raised", self)

    def on_response(self, response: Response) -> None:
        """A response for a request without its own ``on_response``."""

    def on_error(self, error: BaseException) -> None:
        """A failure for a request without its own ``on_error``."""
        log.warning("%r: request failed: %s", self, error)

    def _expire_waiting(self) -> None:
        now = time.monotonic()
        if any(p.deadline < now for p in self._waiting):
            keep: deque[Pending] = deque()
            for p in self._waiting:
                if p.deadline < now:
                    self._finish(p, error=DeadlineExceeded(f"{p.method} {p.path}: not sent in time"))
                else:
                    keep.append(p)
            self._waiting = keep
        conn = self._h2conn
        if conn is not None and conn.draining and not conn.in_flight:
            self.disconnect("drained after GOAWAY")  # the replacement connection takes the rest

    # --- endpoint ---------------------------------------------------------------------------

    def create_target(self, addr: Address | None, ctx: Any) -> H2Connection:
        stream: Stream = self.create_stream(addr)
        conn = H2Connection(stream, self.authority, scheme=self.scheme, limits=self.limits)
        self._h2conn = conn
        return conn

    def on_connected(self, conn: H2Connection, ctx: Any) -> None:
        self.connections += 1
        if self.secure:
            alpn = getattr(conn._stream, "alpn_protocol", None)
            if alpn != "h2":
                raise HttpProtocolError(f"{self.authority} did not negotiate h2 (ALPN chose {alpn!r})")
        self._send_waiting(conn)

    def poll(self, conn: H2Connection, ctx: Any) -> None:
        conn.poll()
        if conn.closed_error is not None:
            raise conn.closed_error
        if self._waiting and conn.available:
            self._send_waiting(conn)

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        conn, self._h2conn = self._h2conn, None
        if conn is not None:
            conn.poll()  # deliver what finished; the rest fail below
        for key, p in list(self._by_stream.items()):
            del self._by_stream[key]
            if not p.done:
                self._finish(p, error=reason.error or HttpProtocolError(f"connection ended: {reason}"))
        return True

    @property
    def queued(self) -> int:
        return len(self._waiting)
