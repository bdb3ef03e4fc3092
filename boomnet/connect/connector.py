"""Stackable connectors: how a connection to an origin is built, one layer per connector.

    tcp = TcpConnector(TcpOptions(connect_timeout=3))
    tls = TlsConnector(tcp, TlsOptions(ca_file="ca.pem"), alpn=("h2", "http/1.1"))
    rec = RecordingConnector(tls, "api")                 # insert your own layer anywhere
    stream = rec.connect(Origin("https", "api.example.com", 443))   # establish() it until True

The same composition boomnet's streams have (TCP / Unix -> TLS -> recorded), expressed as
objects a pool can call again for every new connection of an origin. A connector returns a
stream that is *connecting* (non-blocking): call ``establish()`` until it is ready (the blocking
clients do it with a deadline; the IOService does it across polls). A user layer is any object
with ``connect(origin) -> Stream`` and a ``key`` (what distinguishes the connections it makes, for
pooling): a proxy CONNECT, a socket option, a custom recording.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from ..errors import LocalError
from ..stream import TcpStream, UnixStream
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from ..url import Url, host_port, parse_url

__all__ = ["Origin", "Connector", "TcpConnector", "UnixConnector", "TlsConnector", "RecordingConnector"]


class Origin(NamedTuple):
    """Where a connection goes: scheme, host, port (RFC 6454's origin). A named tuple: pools
    key by it on every request, and a tuple hashes in C (a dataclass's ``__hash__`` is Python)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str | Url) -> Origin:
        u = parse_url(url) if isinstance(url, str) else url
        return cls(u.scheme, u.host, u.port)

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss", "tls", "fixs")

    def __str__(self) -> str:
        return f"{self.scheme}://{host_port(self.host, self.port)}"


@runtime_checkable
class Connector(Protocol):
    """Builds connecting streams to an origin. ``key``: hashable, equal for connectors that make
    interchangeable connections (the pool keys idle connections by origin and connector key)."""

    @property
    def key(self) -> object: ...

    def connect(self, origin: Origin) -> Stream: ...


class TcpConnector:
    """TCP to the origin's host and port (DNS with the connect timeout; every address tried)."""

    def __init__(self, options: TcpOptions | None = None) -> None:
        self.options = options or TcpOptions()

    @property
    def key(self) -> object:
        return ("tcp", self.options)

    def connect(self, origin: Origin) -> Stream:
        return TcpStream.connect(origin.host, origin.port, self.options)


class UnixConnector:
    """A Unix-domain socket at ``path`` whatever the origin (e.g. a local proxy or sidecar)."""

    def __init__(self, path: str) -> None:
        if not path:
            raise LocalError("UnixConnector needs a socket path")
        self.path = path

    @property
    def key(self) -> object:
        return ("unix", self.path)

    def connect(self, origin: Origin) -> Stream:
        return UnixStream.connect(self.path)


class TlsConnector:
    """TLS over ``inner``'s stream when the origin is secure (verification on by default);
    plain origins pass through. ``alpn``: protocols offered, in order of preference."""

    def __init__(self, inner: Connector, options: TlsOptions | None = None, *, alpn: tuple[str, ...] | None = None) -> None:
        self.inner = inner
        self.options = options or TlsOptions()
        self.alpn = alpn if alpn is not None else self.options.alpn

    @property
    def key(self) -> object:
        return ("tls", self.inner.key, self.options, self.alpn)

    def connect(self, origin: Origin) -> Stream:
        stream = self.inner.connect(origin)
        if not origin.secure:
            return stream
        return stream.into_tls(self.options.server_hostname or origin.host, self.options.replace(alpn=self.alpn))


class RecordingConnector:
    """Records every connection ``inner`` makes under ``name`` (plaintext above TLS, secrets
    redacted by the recorder's default rules)."""

    def __init__(self, inner: Connector, name: str, directory: str = "recordings") -> None:
        self.inner = inner
        self.name = name
        self.directory = directory
        self.count = 0

    @property
    def key(self) -> object:
        return ("record", self.inner.key, self.name, self.directory)

    def connect(self, origin: Origin) -> Stream:
        self.count += 1
        return self.inner.connect(origin).into_recorded(f"{self.name}-{self.count}", directory=self.directory)
