"""HTTP/1.1 and HTTP/2 clients over any boomnet stream, the protocol chosen per origin.

Layers: :class:`ResponseParser` (sans-I/O, one reusable buffer) -> :class:`HttpConnection`
(HTTP/1.1, non-blocking, any stream; pipelining optional) and :mod:`boomnet.http.h2` (HTTP/2 over
the ``h2`` package) -> :mod:`~boomnet.http.negotiate` (ALPN / prior knowledge decides which) ->
:class:`HttpClient` / :func:`request` (blocking, over connector stacks and the one generic
:class:`boomnet.connect.Pool`) and :class:`HttpEndpoint` (the IOService endpoint).
"""

from ..errors import InvalidHttpRequest
from ..url import Url, parse_url  # the one URL type and parser of boomnet, re-exported
from .client import HttpClient, Session, open_connection, request
from .connection import HttpConnection
from .headers import Headers, header_pairs
from .limits import DEFAULT_LIMITS, HttpLimits
from .options import DEFAULT_OPTIONS, HttpOptions
from .parser import ResponseParser
from .request import encode_request
from .response import Response

__all__ = [
    "request",
    "HttpClient",
    "Session",
    "HttpConnection",
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
