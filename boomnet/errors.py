"""The one exception hierarchy of boomnet.

Every failure the library reports is a :class:`BoomnetError`. The tree::

    BoomnetError
    ├── NetworkError                 a connection could not be made or was lost
    │   ├── ConnectError             refused, unreachable, bind/interface not permitted
    │   │   ├── DnsError             name did not resolve (or resolution timed out)
    │   │   └── ConnectTimeout       connect (or a whole handshake) missed its deadline
    │   ├── ConnectionClosed         the peer ended the stream (EOF)
    │   │   ├── ConnectionReset      ... abruptly (RST, broken pipe)
    │   │   └── WebSocketClosed      ... after a WebSocket close handshake (code, reason)
    │   └── TlsError                 TLS handshake or record failure
    │       ├── CertificateError     unknown CA, expired, wrong hostname
    │       └── KtlsUnavailable      kernel TLS demanded but not possible here
    ├── ProtocolError                the peer broke a protocol
    │   ├── HandshakeError           WebSocket upgrade refused or malformed (status, headers)
    │   ├── WebSocketProtocolError   RFC 6455 violation; carries the close code sent (1002, 1007, ...)
    │   │   ├── InvalidUtf8          1007
    │   │   └── MessageTooBig        1009 (also a LimitExceeded)
    │   └── HttpProtocolError        malformed HTTP/1.1 response
    │       └── InvalidHttpRequest   a request we were asked to send would be malformed (also ValueError)
    ├── LimitExceeded                a configured limit was hit (frame, message, header, body size)
    ├── DeadlineExceeded             a response or handshake deadline passed
    ├── SelectorUnavailable          a selector cannot work here (the message names the fallback)
    └── RecordingError               a recording is truncated, corrupt or missing

Limits that are also protocol failures inherit from both branches, so callers can catch either.
"""

from __future__ import annotations

from typing import Mapping, Sequence

__all__ = [
    "BoomnetError",
    "NetworkError",
    "ConnectError",
    "DnsError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionReset",
    "WebSocketClosed",
    "TlsError",
    "CertificateError",
    "KtlsUnavailable",
    "ProtocolError",
    "HandshakeError",
    "WebSocketProtocolError",
    "InvalidUtf8",
    "MessageTooBig",
    "HttpProtocolError",
    "InvalidHttpRequest",
    "HeaderTooLarge",
    "BodyTooLarge",
    "LimitExceeded",
    "DeadlineExceeded",
    "SelectorUnavailable",
    "RecordingError",
]


class BoomnetError(Exception):
    """Base of every error boomnet raises."""


# --- network -----------------------------------------------------------------------------------


class NetworkError(BoomnetError):
    """A connection could not be established or was lost."""


class ConnectError(NetworkError):
    """Connecting failed: refused, unreachable, or a local bind/interface was not permitted."""


class DnsError(ConnectError):
    """A host name did not resolve, or resolution timed out."""


class ConnectTimeout(ConnectError):
    """Connecting (or an opening handshake) did not complete before its deadline."""


class ConnectionClosed(NetworkError):
    """The peer ended the stream (EOF). Bytes already read were delivered before this is raised."""


class ConnectionReset(ConnectionClosed):
    """The peer ended the stream abruptly (RST, broken pipe)."""


class WebSocketClosed(ConnectionClosed):
    """The WebSocket close handshake has happened; ``code`` and ``reason`` are the peer's."""

    def __init__(self, code: int | None = None, reason: str = "", message: str | None = None):
        self.code = code
        self.reason = reason
        super().__init__(message or f"websocket closed (code={code}, reason={reason!r})")


class TlsError(NetworkError):
    """The TLS handshake or a TLS record failed."""


class CertificateError(TlsError):
    """The peer's certificate was rejected: unknown CA, expired, or wrong host name."""


class KtlsUnavailable(TlsError):
    """Kernel TLS offload was demanded but the kernel or OpenSSL cannot provide it here."""


# --- limits and deadlines ----------------------------------------------------------------------


class LimitExceeded(BoomnetError):
    """A configured size or count limit was exceeded."""


class DeadlineExceeded(BoomnetError):
    """A response or handshake deadline passed."""


class SelectorUnavailable(BoomnetError):
    """A selector cannot work on this machine (kernel, seccomp or library refuses it).

    The message names the fallback to use instead.
    """


# --- protocols ---------------------------------------------------------------------------------


class ProtocolError(BoomnetError):
    """The peer violated a protocol."""


class HandshakeError(ProtocolError):
    """The WebSocket opening handshake failed: non-101 status, missing or wrong headers."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        headers: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        body: bytes = b"",
    ):
        self.status = status
        self.headers = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
        self.body = body
        super().__init__(message if status is None else f"{message} (status {status})")


class WebSocketProtocolError(ProtocolError):
    """An RFC 6455 violation. ``close_code`` is the code boomnet sent when it failed the connection."""

    close_code = 1002

    def __init__(self, message: str, close_code: int | None = None):
        if close_code is not None:
            self.close_code = close_code
        super().__init__(f"{message} (close code {self.close_code})")


class InvalidUtf8(WebSocketProtocolError):
    """A text message or close reason was not valid UTF-8 (close code 1007)."""

    close_code = 1007


class MessageTooBig(WebSocketProtocolError, LimitExceeded):
    """A frame or message exceeded ``max_frame_size`` / ``max_message_size`` (close code 1009)."""

    close_code = 1009


class HttpProtocolError(ProtocolError):
    """A malformed HTTP/1.1 message: bad status line, bad chunk size, conflicting lengths, ..."""


class InvalidHttpRequest(HttpProtocolError, ValueError):
    """A request the caller asked for would be malformed HTTP: CR/LF or controls in the method,
    target or a header (injection), an unsupported URL, or conflicting body framing.

    Raised before any byte is sent. It is a :class:`ValueError` too, as the fault is the caller's.
    """


class HeaderTooLarge(HttpProtocolError, LimitExceeded):
    """The header block exceeded its size or count limit."""


class BodyTooLarge(HttpProtocolError, LimitExceeded):
    """A body exceeded its size limit."""


# --- recordings --------------------------------------------------------------------------------


class RecordingError(BoomnetError):
    """A recording is missing, truncated or corrupt."""
