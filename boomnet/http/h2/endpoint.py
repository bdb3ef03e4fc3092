"""``Http2Endpoint``: :class:`~boomnet.http.HttpEndpoint` that speaks HTTP/2 only.

    class Rest(Http2Endpoint):
        def on_connected(self, target, ctx):
            super().on_connected(target, ctx)
            for s in symbols:
                self.request("GET", f"/api/v3/depth?symbol={s}", on_response=ctx.on_book)

    io.register(Rest("https://api.example.com", tls=TlsOptions(ca_file=...)))

The same endpoint as ``HttpEndpoint(url, http2="require")`` -- ALPN offers ``h2`` alone and a
server that does not pick it is a clear :class:`~boomnet.errors.HttpProtocolError`; ``http://``
needs ``prior_knowledge=True`` (h2c) -- with the keywords this class always had. Everything
else (requests made while disconnected wait and go out in order, GOAWAY, deadlines) is
``HttpEndpoint``'s: see :mod:`boomnet.http.endpoint`, :mod:`boomnet.http.h2.driver` and
:mod:`boomnet.http.h2.handover`. For an origin that may speak either version, use
``HttpEndpoint`` itself (ALPN decides).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import LocalError
from ...service import Backoff
from ...stream.options import TcpOptions, TlsOptions
from ...url import parse_url
from ..endpoint import HttpEndpoint, HttpRequest
from ..limits import HttpLimits
from ..options import HttpOptions

__all__ = ["Http2Endpoint", "Pending"]

#: what ``request()`` returns (the endpoint's request object, as for HTTP/1.1)
Pending = HttpRequest


class Http2Endpoint(HttpEndpoint[Any]):
    """See the module doc. ``prior_knowledge``: h2c on ``http://``; ``limits`` /
    ``request_timeout`` / ``check_interval``: as :class:`~boomnet.http.HttpOptions` fields."""

    def __init__(self, url: str, *, tcp: TcpOptions | None = None, tls: TlsOptions | None = None,
                 http: HttpOptions | None = None, prior_knowledge: bool = False, limits: HttpLimits | None = None,
                 request_timeout: float | None = None, check_interval: float | None = None,
                 auto_disconnect: float | Callable[[], float] | None = None, backoff: Backoff | None = None,
                 **overrides: Any) -> None:
        if not parse_url(url, ("http", "https")).secure and not prior_knowledge:
            raise LocalError("http:// speaks HTTP/2 only with prior_knowledge=True (h2c)")
        named = {"limits": limits, "request_timeout": request_timeout, "check_interval": check_interval}
        overrides.update({k: v for k, v in named.items() if v is not None})
        if tls is not None and tls.alpn is not None and tls.alpn != ("h2",):
            tls = tls.replace(alpn=("h2",))
        super().__init__(url, tcp=tcp, tls=tls, http=http, auto_disconnect=auto_disconnect, backoff=backoff,
                         http2="require", **overrides)
