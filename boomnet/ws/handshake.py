"""The client side of the WebSocket opening handshake (RFC 6455 §4.1), sans-I/O.

URLs are :class:`boomnet.url.Url` (one URL type for every protocol). ``parse_response`` is the
HTTP helper's to rewrite over ``boomnet.http.head``; the rest is the WebSocket layer's.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import HandshakeError
from ..url import Url, parse_url
from .deflate import DeflateParams, parse_response_extensions
from .options import Headers

__all__ = ["WS_SCHEMES", "parse_ws_url", "build_request", "parse_response", "accept_for", "MAX_RESPONSE_HEAD", "Headers"]

#: the schemes a WebSocket URL may have
WS_SCHEMES = ("ws", "wss")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: the largest HTTP response head accepted during the upgrade
MAX_RESPONSE_HEAD = 64 * 1024
#: the most header lines accepted during the upgrade
MAX_RESPONSE_HEADERS = 100


def parse_ws_url(url: str) -> Url:
    """Parse a ``ws://`` or ``wss://`` URL with the one URL parser (:func:`boomnet.url.parse_url`);
    raises :class:`~boomnet.errors.InvalidUrl` for anything else."""
    return parse_url(url, WS_SCHEMES)


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def _header_items(headers: Headers | None) -> Iterable[tuple[str, str]]:
    if not headers:
        return ()
    return headers.items() if isinstance(headers, Mapping) else headers


def _check_token(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"{what} contains CR, LF or NUL: {value!r}")


def build_request(
    url: Url,
    key: str,
    *,
    headers: Headers | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
) -> bytes:
    """The upgrade request. Extra ``headers`` may not override the handshake's own."""
    _check_token(url.target, "request target")
    lines = [
        f"GET {url.target} HTTP/1.1",
        f"Host: {url.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        _check_token(origin, "Origin")
        lines.append(f"Origin: {origin}")
    if subprotocols:
        for p in subprotocols:
            _check_token(p, "subprotocol")
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    reserved = {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    for name, value in _header_items(headers):
        _check_token(name, "header name")
        _check_token(value, "header value")
        if not name or ":" in name or " " in name:
            raise ValueError(f"bad header name {name!r}")
        if name.lower() in reserved:
            raise ValueError(f"header {name!r} is set by the handshake itself")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class Response:
    """The accepted 101 response."""

    status: int
    headers: list[tuple[str, str]]
    subprotocol: str | None
    deflate: DeflateParams | None = None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def parse_response(
    data: bytes | bytearray | memoryview, key: str, subprotocols: Sequence[str] = (), deflate_offered: bool = False
) -> tuple[Response, int] | None:
    """Parse and validate the response head in ``data``.

    Returns ``None`` if the head is not complete yet, else ``(response, head_length)``; bytes past
    ``head_length`` are already WebSocket frames. Raises :class:`HandshakeError` for any refusal.
    The head itself is parsed by boomnet's one HTTP head parser (:mod:`boomnet.http.head`), so
    the upgrade refuses exactly what the HTTP client refuses (bare CR/LF, obs-fold, bad names).
    """
    from ..errors import HttpProtocolError
    from ..http.head import find_head, parse_head  # the one head parser (board contract 6)
    from ..http.limits import HttpLimits

    limits = HttpLimits(max_header_bytes=MAX_RESPONSE_HEAD, max_header_count=MAX_RESPONSE_HEADERS)
    try:
        end = find_head(data, limits)
        if end < 0:
            return None
        _version, status, _reason, headers = parse_head(str(bytes(data[: end - 4]), "latin-1"), limits)
    except HttpProtocolError as exc:  # HttpProtocolError / HeaderTooLarge from the head parser
        raise HandshakeError(f"malformed upgrade response: {exc}") from exc
    if status != 101:
        body = bytes(data[end : end + 1024])
        raise HandshakeError("server refused the WebSocket upgrade", status, headers, body)
    response = Response(status, headers, None)

    upgrade = response.header("upgrade")
    if upgrade is None or upgrade.lower() != "websocket":
        raise HandshakeError(f"missing or wrong Upgrade header: {upgrade!r}", status, headers)
    connection = response.header("connection") or ""
    if "upgrade" not in [t.strip().lower() for t in connection.split(",")]:
        raise HandshakeError(f"Connection header lacks 'upgrade': {connection!r}", status, headers)
    accept = response.header("sec-websocket-accept")
    if accept != accept_for(key):
        raise HandshakeError(f"wrong Sec-WebSocket-Accept: {accept!r}", status, headers)
    extensions = [v for k, v in headers if k.lower() == "sec-websocket-extensions"]
    try:
        deflate = parse_response_extensions(", ".join(extensions) if extensions else None, deflate_offered)
    except HandshakeError as exc:
        raise HandshakeError(str(exc), status, headers) from None
    chosen = response.header("sec-websocket-protocol")
    if chosen is not None and chosen not in subprotocols:
        raise HandshakeError(f"server chose a subprotocol the client did not offer: {chosen!r}", status, headers)
    return Response(status, headers, chosen, deflate), end
