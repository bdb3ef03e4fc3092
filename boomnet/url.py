"""The one URL type of boomnet: what a client needs to connect and to address a resource.

Every protocol package parses its URLs here (``http``/``https``, ``ws``/``wss``, ``tcp``/``tls``
for message connections, ``fix``/``fixs``, ``nats``), so bracketing of IPv6 literals, default ports, IDNA
and the rejection of control characters are written once. A malformed URL raises
:class:`~boomnet.errors.InvalidUrl` (a :class:`~boomnet.errors.LocalError`): it is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .errors import InvalidUrl

__all__ = ["Url", "parse_url", "host_port", "DEFAULT_PORTS", "SECURE_SCHEMES"]

#: scheme -> default port (None: the URL must name one)
DEFAULT_PORTS: dict[str, int | None] = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "tcp": None,
    "tls": None,
    "fix": None,
    "fixs": None,
    "nats": 4222,
}
SECURE_SCHEMES = frozenset({"https", "wss", "tls", "fixs"})
# everything printable in ASCII stays as written; only spaces, controls and non-ASCII are escaped
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + "%"


def host_port(host: str, port: int | None = None) -> str:
    """``host:port`` with an IPv6 literal in brackets (``[::1]:443``); just the host if no port."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return shown if port is None else f"{shown}:{port}"


@dataclass(frozen=True, slots=True)
class Url:
    """A parsed absolute URL. ``host`` is without brackets; ``target`` is path + query as sent."""

    scheme: str
    host: str
    port: int
    target: str

    @property
    def secure(self) -> bool:
        """Whether the scheme runs over TLS."""
        return self.scheme in SECURE_SCHEMES

    @property
    def host_header(self) -> str:
        """The value of an HTTP ``Host`` header: the port only when it is not the default."""
        default = DEFAULT_PORTS.get(self.scheme)
        return host_port(self.host, None if self.port == default else self.port)

    @property
    def authority(self) -> str:
        """``host:port`` (IPv6 bracketed), always with the port."""
        return host_port(self.host, self.port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"


def parse_url(url: str, schemes: frozenset[str] | set[str] | tuple[str, ...] | None = None) -> Url:
    """Parse ``url``; ``schemes`` restricts which schemes are accepted (default: all known).

    Refuses whitespace and control characters, credentials in the URL, fragments, a missing
    host, a missing port where the scheme has no default, and unknown schemes.
    """
    if not isinstance(url, str):
        raise InvalidUrl(f"a URL must be a str, not {type(url).__name__}")
    if any(c in url for c in "\r\n\0\t ") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidUrl(f"URL contains whitespace or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    allowed = DEFAULT_PORTS.keys() if schemes is None else schemes
    if scheme not in allowed or scheme not in DEFAULT_PORTS:
        names = ", ".join(sorted(allowed))
        raise InvalidUrl(f"unsupported URL scheme {parts.scheme!r} in {url!r} (expected {names})")
    host = parts.hostname
    if not host:
        raise InvalidUrl(f"URL has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("credentials in the URL are not supported; send them in a header or logon")
    if parts.fragment:
        raise InvalidUrl(f"URL must not have a fragment: {url!r}")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidUrl(f"invalid host name {host!r}: {exc}") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
        if port is None:
            raise InvalidUrl(f"URL needs a port for scheme {scheme!r}: {url!r}")
    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    return Url(scheme, host, port, target)
