"""Blocking convenience API: :class:`HttpClient` (alias ``Session``), HTTP/1.1 or HTTP/2 per
origin over one generic connection pool, and the one-shot :func:`request`.

    with HttpClient(tls=TlsOptions(ca_file="ca.pem")) as http:
        r = http.get("https://api.example.com/v1/time")        # r.http_version: "2" or "1.1"
        many = http.gather([("GET", f"https://api.example.com/v1/ticker?s={s}") for s in symbols])

Per origin (scheme, host, port) a connector stack makes the connection -- by default
``TcpConnector`` -> ``TlsConnector`` offering ALPN ``h2`` and ``http/1.1``, or one you pass
(``connector=``: insert a recorder, a proxy CONNECT, a socket option) -- and the server's ALPN
answer decides the protocol (:mod:`boomnet.http.negotiate`; ``http2="off"`` / ``"require"``,
``h2c=True`` for prior knowledge on ``http://``). One :class:`~boomnet.connect.Pool` keeps both
kinds (:mod:`boomnet.http.pooled`): an HTTP/1.1 connection carries one request at a time, an
HTTP/2 connection is shared by concurrent requests (``gather``) up to the server's
``MAX_CONCURRENT_STREAMS``; beyond it they wait on that connection, in order.

The same on both protocols: :class:`HttpLimits`, the request deadline (``timeout``, default
``HttpOptions.request_timeout``) for connect + send + the whole response, the error classes
(``DeadlineExceeded``, ``ConnectTimeout``, ``ConnectionClosed``, ``HttpProtocolError``,
``BodyTooLarge``, ``HeaderTooLarge``, ``LimitExceeded`` beyond ``max_per_key``). A connection is
given back to the pool only if it is clean: an HTTP/1.1 connection whose request failed, timed out
or was interrupted (any exception, ``KeyboardInterrupt`` too) is closed; on HTTP/2 a late stream
is reset (RST_STREAM, so the connection stays clean for the others) and an interrupted wait
closes the connection. Retries: a pooled connection found closed by the server before any byte
of the response (stale keep-alive) is retried once on a fresh one for idempotent methods; a
request the server certainly did not process (HTTP/2 GOAWAY above its last stream,
``REFUSED_STREAM``) up to ``retries`` times. Nothing else is ever sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..connect import Connector, Origin, Pool, TcpConnector, TlsConnector
from ..errors import ConnectionClosed, LocalError
from ..stream.options import TcpOptions, TlsOptions
from ..url import Url, parse_url
from . import negotiate, transport
from .blocking import establish_stream, exchange, wait_h2
from .connection import HttpConnection
from .headers import header_pairs
from .options import HttpOptions, http_options, split_overrides
from .pooled import PooledConnection
from .request import IDEMPOTENT_METHODS, BodyArg, HeadersArg, encode_request
from .response import Response

__all__ = ["HttpClient", "Session", "request", "open_connection", "HTTP_SCHEMES"]

#: the URL schemes the client accepts
HTTP_SCHEMES = frozenset({"http", "https"})

#: ``(method, url)``, ``(method, url, headers)`` or ``(method, url, headers, body)``
Item = tuple[str, str] | tuple[str, str, HeadersArg] | tuple[str, str, HeadersArg, BodyArg]


class _Prepared(NamedTuple):
    method: str
    url: str
    parsed: Url
    origin: Origin
    head: bytes  # the encoded HTTP/1.1 head (also the validation of the request)
    body: bytes
    headers: list[tuple[str, str]]  # the same fields as pairs, for HTTP/2


def open_connection(
    url: Url,
    *,
    tcp: TcpOptions | None = None,
    tls: TlsOptions | None = None,
    http: HttpOptions | None = None,
    key: object = None,
) -> HttpConnection:
    """Start a non-blocking HTTP/1.1 connection for ``url`` (TCP, plus TLS for https); not yet established."""
    stream = transport.connect(url.host, url.port, tcp)
    if url.secure:
        stream = transport.wrap_tls(stream, url.host, tls)
    return HttpConnection(stream, url.host_header, http, key=key)


class HttpClient:
    """A blocking HTTP/1.1 + HTTP/2 client over one connection pool (see the module doc). Not
    thread-safe.

    ``tcp`` / ``tls``: options of the default connector stack (https verifies certificates
    unless ``TlsOptions(verify=False)``; ALPN as :mod:`~boomnet.http.negotiate` says).
    ``connector``: your own stack instead (``tcp`` / ``tls`` then go to its layers, not here;
    offer ALPN in its ``TlsConnector(alpn=ALPN_H2_H1)`` to speak HTTP/2 over TLS).
    ``http`` / ``**overrides``: :class:`HttpOptions` -- ``request_timeout``, ``headers`` sent with
    every request, ``max_per_key`` / ``idle_timeout`` for the pool, ``http2`` / ``h2c`` /
    ``retries``. A keyword naming a ``TcpOptions`` / ``TlsOptions`` field (``ca_file=``,
    ``verify=``, ``connect_timeout=``, ...) changes that field; a misspelt one is a ``TypeError``.
    """

    def __init__(
        self,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        http: HttpOptions | None = None,
        connector: Connector | None = None,
        **overrides: Any,
    ) -> None:
        http_changes, tcp_changes, tls_changes = split_overrides(type(self).__name__, overrides)
        options = http_options(http, http_changes)
        negotiate.check_http2(options)
        self.options = options
        if connector is not None and (tcp is not None or tls is not None or tcp_changes or tls_changes):
            raise LocalError("pass TCP/TLS options to the layers of your connector, not to HttpClient too")
        tcp = tcp or transport.DEFAULT_TCP
        self.tcp = tcp.replace(**tcp_changes) if tcp_changes else tcp
        tls = tls or transport.DEFAULT_TLS
        self.tls = negotiate.tls_with_alpn(tls.replace(**tls_changes) if tls_changes else tls, options)
        self.connector: Connector = connector or TlsConnector(TcpConnector(self.tcp), self.tls)
        self._own_stack = connector is None
        self.timeout = options.request_timeout
        self.limits = options.limits
        self.pool: Pool[Origin, PooledConnection] = Pool(
            self._open, max_idle_per_key=options.max_per_key, idle_timeout=options.idle_timeout,
            max_per_key=options.max_per_key)
        self.default_headers: tuple[tuple[str, str], ...] = options.headers  # fixed: heads are cached
        self._bare: dict[tuple[str, str], _Prepared] = {}
        #: connections established so far (tests and tuning)
        self.connections_opened = 0

    # --- requests --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: HeadersArg = None,
        body: BodyArg = None,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and return the complete response (any status; no redirects)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if headers is None and body is None:
            # the same bare request again (polling an API): reuse its parsed URL and encoded head
            prepared = self._bare.get((method, url))
            if prepared is None:
                prepared = self._prepare(method, url, None, None)
                if len(self._bare) < 1024:
                    self._bare[(method, url)] = prepared
        else:
            prepared = self._prepare(method, url, headers, body)
        pooled = self._acquire(prepared.origin, deadline)
        if pooled.h1 is not None:
            return self._h1(pooled, prepared, deadline)  # the common case, without the batch bookkeeping
        return self._run([prepared], deadline, pooled)[0]

    def gather(self, items: Sequence[Item], *, timeout: float | None = None) -> list[Response]:
        """Send ``(method, url[, headers[, body]])`` requests; the responses in order. Requests
        to an HTTP/2 origin run concurrently on one connection, HTTP/1.1 ones in turn. Every
        request is validated before anything is sent; the first failure is raised."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        prepared = [self._prepare(it[0], it[1], it[2] if len(it) > 2 else None, it[3] if len(it) > 3 else None)
                    for it in items]
        return self._run(prepared, deadline)

    def _prepare(self, method: str, url: str, headers: HeadersArg, body: BodyArg) -> _Prepared:
        """Parse ``url`` and encode the request (validating it) before any connection is touched."""
        parsed = parse_url(url, HTTP_SCHEMES)
        pairs = header_pairs(headers)
        if self.default_headers:
            pairs = [*self.default_headers, *pairs]
        head, payload = encode_request(method, parsed.target, parsed.host_header, pairs, body)
        return _Prepared(method, url, parsed, Origin(parsed.scheme, parsed.host, parsed.port), head, payload, pairs)

    def _run(self, todo: list[_Prepared], deadline: float, first: PooledConnection | None = None) -> list[Response]:
        """Run ``todo`` (``first``: a connection already acquired for the first one's origin)."""
        results: list[Response | None] = [None] * len(todo)
        tries = [0] * len(todo)  # sends the server certainly did not process, per request
        pending = list(range(len(todo)))
        while pending:
            by_origin: dict[Origin, list[int]] = {}
            for i in pending:
                by_origin.setdefault(todo[i].origin, []).append(i)
            pending = []
            for origin, idx in by_origin.items():
                pending += self._origin(origin, idx, todo, results, tries, deadline, first)
                first = None
        return [r for r in results if r is not None]

    def _origin(self, origin: Origin, idx: list[int], todo: list[_Prepared], results: list[Response | None],
                tries: list[int], deadline: float, first: PooledConnection | None) -> list[int]:
        """Run ``idx`` on connections to ``origin``; returns the requests to send again."""
        again: list[int] = []
        while idx:
            pooled = first or self._acquire(origin, deadline)
            first = None
            if pooled.h2 is not None:
                again += self._h2(pooled, idx, todo, results, tries, deadline)
                return again
            i = idx.pop(0)
            results[i] = self._h1(pooled, todo[i], deadline)
        return again

    # --- connections -----------------------------------------------------------------------------

    def _open(self, origin: Origin) -> PooledConnection:
        return PooledConnection(origin, self.connector.connect(origin), self.options)

    def _acquire(self, origin: Origin, deadline: float) -> PooledConnection:
        pooled = self.pool.acquire(origin)
        pooled.leased = True
        if pooled.h1 is None and pooled.h2 is None:  # new: still connecting
            try:
                # the default stack's connect timeout bounds connect + handshake, as a stream's does
                until = min(deadline, time.monotonic() + self.tcp.connect_timeout) if self._own_stack else deadline
                establish_stream(pooled.stream, until, str(origin))
                pooled.establish()  # ALPN (or prior knowledge) picks HTTP/2 or HTTP/1.1 now
            except BaseException:
                self._release(pooled, clean=False)
                raise
            self.connections_opened += 1
        return pooled

    def _release(self, pooled: PooledConnection, *, clean: bool) -> None:
        try:
            self.pool.release(pooled.origin, pooled, clean=clean)
        finally:
            pooled.leased = False

    # --- HTTP/1.1 --------------------------------------------------------------------------------

    def _h1(self, pooled: PooledConnection, p: _Prepared, deadline: float) -> Response:
        for attempt in (0, 1):
            if attempt:
                pooled = self._acquire(p.origin, deadline)
                if pooled.h2 is not None:  # the new connection's ALPN chose HTTP/2 this time
                    return self._run([p], deadline, pooled)[0]
            conn = pooled.h1
            assert conn is not None
            reused = pooled.uses > 0
            pooled.uses += 1
            try:
                response = exchange(conn, p.method, p.head, p.body, deadline)
            except ConnectionClosed:
                stale = reused and not conn.parser.mid_response
                self._release(pooled, clean=False)
                if stale and attempt == 0 and p.method in IDEMPOTENT_METHODS:
                    continue  # the server closed the idle connection under us: once more, fresh
                raise
            except BaseException:
                self._release(pooled, clean=False)  # failed, timed out, interrupted: never reused
                raise
            self._release(pooled, clean=conn.idle)
            response.url = p.url
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # --- HTTP/2 ----------------------------------------------------------------------------------

    def _h2(self, pooled: PooledConnection, idx: list[int], todo: list[_Prepared], results: list[Response | None],
            tries: list[int], deadline: float) -> list[int]:
        """Every request of ``idx`` on one HTTP/2 connection; returns those to send again."""
        conn = pooled.h2
        assert conn is not None
        reused = pooled.uses > 0
        started = []
        try:
            for i in idx:
                p = todo[i]
                pooled.uses += 1
                started.append((i, conn.request(p.method, p.parsed.target, p.headers, p.body, deadline=deadline)))
            wait_h2(conn, [r for _, r in started], deadline, grace=1.0)
        except BaseException:
            self._release(pooled, clean=False)  # streams may still be open: never reuse it
            raise
        self._release(pooled, clean=conn.closed_error is None)
        again: list[int] = []
        first_error: BaseException | None = None
        for i, req in started:
            p = todo[i]
            if req.response is not None:
                req.response.url = p.url
                results[i] = req.response
            elif req.retry and req.stream_id == 0:
                again.append(i)  # never written (queued behind the stream limit): not a send
            elif req.retry and tries[i] < self.options.retries:
                tries[i] += 1  # the server certainly did not process it: safe to send again
                again.append(i)
            elif (reused and tries[i] == 0 and isinstance(req.error, ConnectionClosed) and not req.status
                  and p.method in IDEMPOTENT_METHODS):
                tries[i] += 1  # a pooled connection the server had closed: once more, fresh
                again.append(i)
            elif first_error is None:
                first_error = req.error
        if first_error is not None:
            raise first_error
        return again

    # --- verbs -----------------------------------------------------------------------------------

    def get(self, url: str, headers: HeadersArg = None, **kw: Any) -> Response:
        return self.request("GET", url, headers, **kw)

    def head(self, url: str, headers: HeadersArg = None, **kw: Any) -> Response:
        return self.request("HEAD", url, headers, **kw)

    def post(self, url: str, body: BodyArg = None, headers: HeadersArg = None, **kw: Any) -> Response:
        return self.request("POST", url, headers, body, **kw)

    def put(self, url: str, body: BodyArg = None, headers: HeadersArg = None, **kw: Any) -> Response:
        return self.request("PUT", url, headers, body, **kw)

    def delete(self, url: str, headers: HeadersArg = None, **kw: Any) -> Response:
        return self.request("DELETE", url, headers, **kw)

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Session = HttpClient


def request(
    method: str,
    url: str,
    headers: HeadersArg = None,
    body: BodyArg = None,
    *,
    tcp: TcpOptions | None = None,
    tls: TlsOptions | None = None,
    http: HttpOptions | None = None,
    **overrides: Any,
) -> Response:
    """One request on a fresh connection, closed afterwards. For many requests use ``HttpClient``."""
    with HttpClient(tcp=tcp, tls=tls, http=http, **overrides) as client:
        return client.request(method, url, headers, body)
