"""Split a URL into what the client needs: scheme, host, port, Host header and request target."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote, urlsplit

from ..errors import InvalidHttpRequest

__all__ = ["Url", "parse_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# everything printable in ASCII stays as written; only spaces, controls and non-ASCII are escaped
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + "%"


class Url(NamedTuple):
    scheme: str  # "http" or "https"
    host: str  # name or IP literal, without brackets
    port: int
    target: str  # origin-form: path and query
    host_header: str  # value of the Host header

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def parse_url(url: str) -> Url:
    """Parse an absolute ``http://`` / ``https://`` URL. Raises :class:`InvalidHttpRequest`."""
    if any(c in url for c in "\r\n\0\t "):
        raise InvalidHttpRequest(f"URL contains whitespace or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidHttpRequest(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidHttpRequest(f"unsupported URL scheme {parts.scheme!r} (http and https only)")
    host = parts.hostname
    if not host:
        raise InvalidHttpRequest(f"URL has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidHttpRequest("credentials in the URL are not supported; send an Authorization header")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidHttpRequest(f"invalid host name {host!r}: {exc}") from None
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return Url(scheme, host, port, target, host_header)
