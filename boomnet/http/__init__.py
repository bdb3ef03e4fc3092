"""HTTP/1.1 client over any boomnet stream.

Layers: :class:`ResponseParser` (sans-I/O, one reusable buffer) -> :class:`HttpConnection`
(non-blocking, any stream; pipelining optional) -> :class:`ConnectionPool` (keep-alive reuse
per scheme/host/port/TLS key) -> :class:`HttpClient` / :func:`request` (blocking convenience).
"""

from ..errors import InvalidHttpRequest
from ..url import Url, parse_url  # the one URL type and parser of boomnet, re-exported
from .client import HttpClient, Session, open_connection, request
from .connection import HttpConnection
from .headers import Headers, header_pairs
from .limits import DEFAULT_LIMITS, HttpLimits
from .options import DEFAULT_OPTIONS, HttpOptions
from .parser import ResponseParser
from .pool import ConnectionPool
from .request import encode_request
from .response import Response

__all__ = [
    "request",
    "HttpClient",
    "Session",
    "HttpConnection",
    "ConnectionPool",
    "ResponseParser",
    "Response",
    "Headers",
    "header_pairs",
    "HttpOptions",
    "DEFAULT_OPTIONS",
    "HttpLimits",
    "DEFAULT_LIMITS",
    "InvalidHttpRequest",
    "encode_request",
    "open_connection",
    "parse_url",
    "Url",
    "HttpEndpoint",
    "HttpRequest",
]


def __getattr__(name: str) -> object:
    # the IOService endpoint kind pulls in boomnet.service: import it only when asked for
    if name in ("HttpEndpoint", "HttpRequest"):
        from . import endpoint

        return getattr(endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
