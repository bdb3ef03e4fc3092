"""A blocking client that speaks HTTP/2 or HTTP/1.1 per origin, as ALPN decides, over stackable
connectors and the generic pool.

    with AutoClient(tls=TlsOptions(ca_file="ca.pem")) as http:
        r = http.get("https://api.example.com/v1/time")      # r.http_version: "2" or "1.1"
        many = http.gather([("GET", f"https://api.example.com/v1/ticker?s={s}") for s in symbols])

Per origin the connector stack (``TcpConnector`` -> ``TlsConnector(alpn=("h2", "http/1.1"))``, or
one you pass) makes the connection; the server's ALPN choice decides the protocol. ``http://``
origins use HTTP/1.1, or h2c with ``h2c_prior_knowledge=True``. One :class:`~boomnet.connect.Pool`
holds both kinds: an HTTP/2 connection is shared by every concurrent request until its
``MAX_CONCURRENT_STREAMS``, an HTTP/1.1 connection carries one request at a time. ``gather``
sends a batch concurrently (all streams of one HTTP/2 connection; HTTP/1.1 requests in turn) and
returns the responses in order.

Requests the server certainly did not process (above a GOAWAY's last stream, ``REFUSED_STREAM``,
never sent) are retried on a new connection, up to ``retries`` times; nothing is sent twice
otherwise. A request that failed or timed out releases its connection as dirty (closed, never
reused). Limits, deadlines and error classes are those of the HTTP/1.1 client.
"""

from __future__ import annotations

import select
import time
from collections.abc import Hashable, Sequence
from typing import Any

from ..connect import Connector, Origin, Pool, TcpConnector, TlsConnector
from ..errors import DeadlineExceeded, LocalError
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from ..url import parse_url
from .connection import HttpConnection
from .headers import header_pairs
from .limits import DEFAULT_LIMITS, HttpLimits
from .request import encode_request
from .response import Response

__all__ = ["AutoClient"]

Item = tuple[str, str] | tuple[str, str, Any] | tuple[str, str, Any, Any]


class _H1:
    """An HTTP/1.1 connection as the pool sees it."""

    def __init__(self, conn: HttpConnection) -> None:
        self.conn = conn

    def reusable(self) -> bool:
        return self.conn.idle and not self.conn.closed

    def capacity(self) -> int:
        return 1 if self.conn.idle else 0

    def close(self) -> None:
        self.conn.close()


class _H2:
    """An HTTP/2 connection as the pool sees it (shared until its stream limit)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def reusable(self) -> bool:
        return bool(self.conn.available)

    def capacity(self) -> int:
        return int(self.conn.max_concurrent - self.conn.in_flight)

    def close(self) -> None:
        self.conn.close()


class AutoClient:
    """See the module doc. ``tcp`` / ``tls``: the options of the default stack (TCP -> TLS with
    ALPN; verification on); ``connector``: a stack of your own instead."""

    def __init__(self, *, tcp: TcpOptions | None = None, tls: TlsOptions | None = None, timeout: float = 10.0,
                 limits: HttpLimits = DEFAULT_LIMITS, connector: Connector | None = None,
                 h2c_prior_knowledge: bool = False, retries: int = 2, max_idle_per_key: int = 4,
                 idle_timeout: float = 30.0) -> None:
        if timeout <= 0 or retries < 0:
            raise LocalError("timeout must be positive and retries >= 0")
        self.timeout = timeout
        self.limits = limits
        self.retries = retries
        self.h2c = h2c_prior_knowledge
        self.connector = connector or TlsConnector(TcpConnector(tcp), tls, alpn=("h2", "http/1.1"))
        self.pool: Pool[Hashable, Any] = Pool(self._open, max_idle_per_key=max_idle_per_key, idle_timeout=idle_timeout)
        self._deadline = 0.0

    # --- connections ------------------------------------------------------------------------

    def _open(self, origin: Any) -> _H1 | _H2:
        stream: Stream = self.connector.connect(origin)
        while not stream.establish():
            if time.monotonic() > self._deadline:
                stream.close()
                raise DeadlineExceeded(f"connecting to {origin} took too long")
            time.sleep(0.0001)
        alpn = getattr(stream, "alpn_protocol", None) if origin.secure else None
        host = parse_url(str(origin) + "/").host_header
        if alpn == "h2" or (not origin.secure and self.h2c):
            from .h2 import H2Connection

            conn = H2Connection(stream, host, scheme=origin.scheme, limits=self.limits)
            conn.establish()
            return _H2(conn)
        return _H1(HttpConnection(stream, host, limits=self.limits))

    # --- requests ---------------------------------------------------------------------------

    def request(self, method: str, url: str, headers: Any = None, body: Any = None) -> Response:
        return self.gather([(method, url, headers, body)])[0]

    def get(self, url: str, headers: Any = None) -> Response:
        return self.request("GET", url, headers)

    def post(self, url: str, body: Any = None, headers: Any = None) -> Response:
        return self.request("POST", url, headers, body)

    def gather(self, items: Sequence[Item]) -> list[Response]:
        """Run ``(method, url[, headers[, body]])`` requests concurrently; responses in order."""
        self._deadline = time.monotonic() + self.timeout
        todo = []
        for item in items:
            method, url = item[0], item[1]
            headers = item[2] if len(item) > 2 else None
            body = item[3] if len(item) > 3 else None
            u = parse_url(url, ("http", "https"))
            head, payload = encode_request(method, u.target, u.host_header, headers, body)  # validates
            todo.append((Origin(u.scheme, u.host, u.port), method, u, headers, payload, url))
        results: list[Response | None] = [None] * len(todo)
        attempts = [0] * len(todo)
        pending = list(range(len(todo)))
        while pending:
            pending = self._round(todo, pending, results, attempts)
        return [r for r in results if r is not None]

    def _round(self, todo: list[Any], pending: list[int], results: list[Response | None], attempts: list[int]) -> list[int]:
        retry: list[int] = []
        by_origin: dict[Origin, list[int]] = {}
        for i in pending:
            by_origin.setdefault(todo[i][0], []).append(i)
        for origin, idx in by_origin.items():
            while idx:
                pooled = self.pool.acquire(origin)
                if isinstance(pooled, _H2):
                    idx = self._h2_batch(origin, pooled, todo, idx, results, attempts, retry)
                else:
                    i = idx.pop(0)
                    self._h1_one(origin, pooled, todo[i], i, results)
        return retry

    def _h2_batch(self, origin: Origin, pooled: _H2, todo: list[Any], idx: list[int], results: list[Response | None],
                  attempts: list[int], retry: list[int]) -> list[int]:
        from .h2 import run_until_done

        conn = pooled.conn
        started = []
        rest = list(idx)
        while rest and conn.available:
            i = rest.pop(0)
            _, method, u, headers, payload, _ = todo[i]
            hdrs = header_pairs(headers)
            started.append((i, conn.request(method, u.target, hdrs, payload, deadline=self._deadline)))
        try:
            run_until_done(conn, [r for _, r in started], timeout=max(0.0, self._deadline - time.monotonic()))
        except DeadlineExceeded:
            self.pool.release(origin, pooled, clean=False)  # streams still open: never reuse it
            raise
        first_error: BaseException | None = None
        for i, req in started:
            if req.response is not None:
                req.response.url = todo[i][5]
                results[i] = req.response
            elif req.retry and attempts[i] < self.retries:
                attempts[i] += 1  # never processed by the server: safe to send again
                retry.append(i)
            elif first_error is None:
                first_error = req.error
        self.pool.release(origin, pooled, clean=conn.closed_error is None)
        if first_error is not None:
            raise first_error
        return rest

    def _h1_one(self, origin: Origin, pooled: _H1, item: Any, i: int, results: list[Response | None]) -> None:
        _, method, u, headers, payload, url = item
        conn = pooled.conn
        ok = False
        try:
            conn.send_request(method, u.target, headers, payload)
            while True:
                done = conn.poll()
                if done:
                    resp = done[0]
                    resp.url = url
                    results[i] = resp
                    ok = True
                    return
                if time.monotonic() > self._deadline:
                    raise DeadlineExceeded(f"{method} {url}: no response in time")
                if conn.pending:
                    conn.flush()
                else:
                    select.select([conn.fileno()], [], [], 0.001)  # nothing to do: wait for bytes
        finally:
            self.pool.release(origin, pooled, clean=ok and conn.idle)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> AutoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
