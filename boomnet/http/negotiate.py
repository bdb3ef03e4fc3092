"""Which HTTP version a connection speaks, decided one way for the client and the endpoint.

:attr:`HttpOptions.http2 <boomnet.http.HttpOptions>` says what is offered and accepted:

* ``"alpn"`` (the default): over TLS the client offers ``h2`` and ``http/1.1`` (in that order)
  and speaks what the server picked; a server that picks nothing, or ``http/1.1``, gets
  HTTP/1.1. Plain ``http://`` speaks HTTP/1.1, or HTTP/2 with prior knowledge (h2c, RFC 9113
  3.3) when ``h2c=True``. Without the ``h2`` package (``pip install 'boomnet[http2]'``) only
  ``http/1.1`` is offered -- the server can still answer, and every response says which version
  carried it (``response.http_version``: ``"2"``, ``"1.1"`` or ``"1.0"``).
* ``"off"``: HTTP/1.1 only (ALPN offers ``http/1.1``).
* ``"require"``: HTTP/2 only: ALPN offers ``h2`` alone and any other answer is an
  :class:`~boomnet.errors.HttpProtocolError`; plain ``http://`` speaks h2c.

ALPN protocols named explicitly in :class:`~boomnet.stream.options.TlsOptions` are offered as
given. The choice is read from the stream (``Stream.alpn_protocol``, forwarded by wrapping
layers such as a recorder), after the handshake.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from ..errors import HttpProtocolError, LocalError, MissingExtra
from ..stream.base import Stream
from ..stream.options import TlsOptions
from .options import HttpOptions

__all__ = ["H2_AVAILABLE", "ALPN_H2_H1", "ALPN_H1", "alpn_offer", "tls_with_alpn", "check_http2", "choose"]

#: whether the ``h2`` package (the http2 extra) is importable
H2_AVAILABLE = importlib.util.find_spec("h2") is not None
#: ALPN offered by default: HTTP/2 first, HTTP/1.1 as the fallback
ALPN_H2_H1 = ("h2", "http/1.1")
#: ALPN offered when HTTP/2 is off (or not installed)
ALPN_H1 = ("http/1.1",)

Version = Literal["1.1", "2"]


def check_http2(options: HttpOptions) -> None:
    """Fail at construction (``MissingExtra``) when the options need HTTP/2 and h2 is missing."""
    if (options.http2 == "require" or options.h2c) and not H2_AVAILABLE:
        raise MissingExtra("HTTP/2 needs the h2 package: pip install 'boomnet[http2]'")


def alpn_offer(options: HttpOptions) -> tuple[str, ...]:
    """The ALPN protocols offered over TLS under ``options``."""
    if options.http2 == "require":
        return ("h2",)
    if options.http2 == "alpn" and H2_AVAILABLE:
        return ALPN_H2_H1
    return ALPN_H1


def tls_with_alpn(tls: TlsOptions, options: HttpOptions) -> TlsOptions:
    """``tls`` offering :func:`alpn_offer` unless it names protocols itself."""
    if tls.alpn is None:
        return tls.replace(alpn=alpn_offer(options))
    if options.http2 == "require" and "h2" not in tls.alpn:
        raise LocalError(f"http2='require' but TlsOptions.alpn {tls.alpn!r} does not offer h2")
    return tls


def choose(stream: Stream, secure: bool, options: HttpOptions) -> Version:
    """The version an *established* ``stream`` speaks under ``options``."""
    if not secure:
        return "2" if options.http2 == "require" or options.h2c else "1.1"
    picked = stream.alpn_protocol
    if picked == "h2" and options.http2 != "off":
        return "2"
    if options.http2 == "require":
        raise HttpProtocolError(f"the server did not negotiate h2 (ALPN chose {picked!r}) and http2='require'")
    return "1.1"
