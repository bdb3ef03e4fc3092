"""Blocking convenience API: :class:`HttpClient` (alias ``Session``) with a keep-alive pool, and
the one-shot :func:`request`.

A request takes a pooled connection for its (scheme, host, port, TLS settings) key, or opens
one (TCP, then TLS for https). A pooled connection that turns out stale -- the server closed it
and no byte of the response arrived -- is retried once on a fresh connection, for idempotent
methods only. Every wait is bounded by the request's ``timeout`` (DeadlineExceeded).
"""

from __future__ import annotations

import time
from typing import Any, Hashable

from ..errors import ConnectionClosed, LimitExceeded
from ..stream.options import TcpOptions, TlsOptions
from ..url import Url, parse_url
from . import transport
from .blocking import establish, exchange
from .connection import HttpConnection
from .headers import header_pairs
from .options import HttpOptions, http_options, split_overrides
from .pool import ConnectionPool
from .request import IDEMPOTENT_METHODS, BodyArg, HeadersArg, encode_request
from .response import Response

__all__ = ["HttpClient", "Session", "request", "open_connection", "HTTP_SCHEMES"]

#: the URL schemes the HTTP/1.1 client accepts
HTTP_SCHEMES = frozenset({"http", "https"})


def open_connection(
    url: Url,
    *,
    tcp: TcpOptions | None = None,
    tls: TlsOptions | None = None,
    http: HttpOptions | None = None,
    key: Hashable = None,
) -> HttpConnection:
    """Start a non-blocking connection for ``url`` (TCP, plus TLS for https); not yet established."""
    stream = transport.connect(url.host, url.port, tcp)
    if url.secure:
        stream = transport.wrap_tls(stream, url.host, tls)
    return HttpConnection(stream, url.host_header, http, key=key)


class HttpClient:
    """A blocking HTTP/1.1 client with keep-alive connection pooling. Not thread-safe.

    ``tcp`` / ``tls``: transport options (https verifies certificates unless
    ``TlsOptions(verify=False)``). ``http`` / ``**overrides``: :class:`HttpOptions` --
    ``request_timeout`` is the default whole-request deadline (connect + send + full response),
    ``headers`` are sent with every request (request headers of the same name are added too),
    ``max_per_key`` / ``idle_timeout`` size the keep-alive pool. A keyword naming a
    ``TcpOptions`` / ``TlsOptions`` field (``ca_file=``, ``verify=``, ``connect_timeout=``, ...)
    changes that field; a misspelt keyword is a ``TypeError`` here.
    """

    def __init__(
        self,
        *,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        http: HttpOptions | None = None,
        **overrides: Any,
    ) -> None:
        http_changes, tcp_changes, tls_changes = split_overrides(type(self).__name__, overrides)
        options = http_options(http, http_changes)
        self.options = options
        tcp = tcp or transport.DEFAULT_TCP
        self.tcp = tcp.replace(**tcp_changes) if tcp_changes else tcp
        tls = transport.http_tls(tls)
        self.tls = tls.replace(**tls_changes) if tls_changes else tls
        self.timeout = options.request_timeout
        self.limits = options.limits
        self.pool = ConnectionPool(max_per_key=options.max_per_key, idle_timeout=options.idle_timeout)
        self.default_headers: tuple[tuple[str, str], ...] = options.headers  # fixed: heads are cached
        self._bare: dict[tuple[str, str], tuple[Url, Hashable, bytes, bytes]] = {}
        #: connections opened so far (tests and tuning)
        self.connections_opened = 0

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
            cached = self._bare.get((method, url))
            if cached is None:
                cached = self._prepare(method, url, None, None)
                if len(self._bare) < 1024:
                    self._bare[(method, url)] = cached
            parsed, key, head, payload = cached
        else:
            parsed, key, head, payload = self._prepare(method, url, headers, body)
        pool = self.pool
        for attempt in (0, 1):
            conn = pool.acquire(key)
            reused = conn is not None
            if conn is None:
                conn = self._connect(parsed, key, deadline)
            try:
                response = exchange(conn, method, head, payload, deadline)
            except ConnectionClosed:
                stale = reused and not conn.parser.mid_response
                pool.discard(conn)
                if stale and attempt == 0 and method in IDEMPOTENT_METHODS:
                    continue  # the server closed the idle connection under us: once more, fresh
                raise
            except BaseException:
                pool.discard(conn)
                raise
            pool.release(conn)
            response.url = url
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare(self, method: str, url: str, headers: HeadersArg, body: BodyArg) -> tuple[Url, Hashable, bytes, bytes]:
        """Parse ``url`` and encode the request (validating it) before any connection is touched."""
        parsed = parse_url(url, HTTP_SCHEMES)
        if self.default_headers:
            headers = [*self.default_headers, *header_pairs(headers)]
        key: Hashable = (parsed.scheme, parsed.host, parsed.port)
        if parsed.secure:
            key = (parsed.scheme, parsed.host, parsed.port, self.tls)  # TlsOptions is frozen: hashable
        head, payload = encode_request(method, parsed.target, parsed.host_header, headers, body)
        return parsed, key, head, payload

    def _connect(self, url: Url, key: Hashable, deadline: float) -> HttpConnection:
        if not self.pool.can_open(key):
            raise LimitExceeded(f"{self.pool.max_per_key} connections to {url.host}:{url.port} already open (max_per_key)")
        remaining = max(0.001, min(self.tcp.connect_timeout, deadline - time.monotonic()))
        tcp = self.tcp if remaining == self.tcp.connect_timeout else self.tcp.replace(connect_timeout=remaining)
        conn = open_connection(url, tcp=tcp, tls=self.tls, http=self.options, key=key)
        self.pool.opened(conn)
        try:
            establish(conn, min(deadline, time.monotonic() + remaining))
        except BaseException:
            self.pool.discard(conn)
            raise
        self.connections_opened += 1
        return conn

    # --- verbs ---------------------------------------------------------------------------------

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

    def __enter__(self) -> "HttpClient":
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
