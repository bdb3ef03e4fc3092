"""The one exception hierarchy of boomnet.

Every failure the library reports is a :class:`BoomnetError`. Like h11, the tree says *whose
fault* it was: :class:`ProtocolError` and its children mean the **peer** (remote) broke a
protocol; :class:`LocalError` means the **caller** asked for something invalid (a malformed
request, a bad URL, an option value out of range) and nothing was sent. The tree::

    BoomnetError
    ├── NetworkError                 a connection could not be made or was lost
    │   ├── ConnectError             refused, unreachable, bind/interface not permitted
    │   │   ├── DnsError             name did not resolve (or resolution timed out)
    │   │   └── ConnectTimeout       connect (or a whole handshake) missed its deadline
    │   ├── ConnectionClosed         the peer ended the stream (EOF)
    │   │   ├── ConnectionReset      ... abruptly (RST, broken pipe)
    │   │   ├── TruncatedStream      ... TLS: the TCP connection ended without close_notify
    │   │   └── WebSocketClosed      ... after a WebSocket close handshake (code, reason)
    │   ├── PeerTimeout              the peer went silent (no pong, no data, no heartbeat)
    │   └── TlsError                 TLS handshake or record failure
    │       ├── CertificateError     unknown CA, expired, wrong hostname
    │       └── KtlsUnavailable      kernel TLS demanded but not possible here
    ├── ProtocolError                REMOTE: the peer broke a protocol
    │   ├── HandshakeError           WebSocket upgrade refused or malformed (status, headers)
    │   ├── WebSocketProtocolError   RFC 6455 violation; carries the close code sent (1002, 1007, ...)
    │   │   ├── InvalidUtf8          1007
    │   │   └── MessageTooBig        1009 (also a LimitExceeded)
    │   ├── HttpProtocolError        malformed HTTP response (HTTP/1.1 framing, HTTP/2 stream/conn)
    │   │   ├── HeaderTooLarge       (also a LimitExceeded)
    │   │   └── BodyTooLarge         (also a LimitExceeded)
    │   ├── FramingError             boomnet.msg: a malformed message frame
    │   │   └── FrameTooLarge        ... larger than the codec's max_size (also a LimitExceeded)
    │   ├── FixError                 boomnet.fix: malformed tag=value (checksum, length, header)
    │   │   ├── FixGarbled           ... framing lost (BeginString, BodyLength, CheckSum, garbage)
    │   │   │   └── FixMessageTooLarge  BodyLength above FixLimits.max_message_size (also a LimitExceeded)
    │   │   └── FixSessionError      the peer broke the FIX session rules (sequence too low, ...)
    │   │       └── FixLoggedOut     the session ended with a Logout (also a ConnectionClosed)
    │   ├── RpcProtocolError         boomnet.rpc: a malformed envelope
    │   ├── NatsProtocolError        boomnet.bus: a malformed NATS server line, or a fatal -ERR
    │   └── VenueMessageError        a venue (e.g. Binance) sent a message of the wrong shape
    ├── LocalError                   LOCAL: the caller's misuse; raised before anything is sent (a ValueError)
    │   ├── InvalidUrl               not a URL boomnet can connect to
    │   ├── InvalidHttpRequest       a request we were asked to send would be malformed HTTP
    │   ├── InvalidMessage           a message we were asked to send cannot be encoded
    │   └── InvalidState             an operation the connection's state does not allow (send after close)
    ├── LimitExceeded                a configured limit was hit (frame, message, header, body size)
    │   └── SendBufferFull           a sender's budget is used up: the peer is not reading
    ├── DeadlineExceeded             a response, call or handshake deadline passed
    ├── CallFailed                   boomnet.rpc: a call ended without a result
    │   ├── CallCancelled            ... because it was cancelled
    │   └── CallLost                 ... because the connection ended (maybe_executed says if it was sent)
    ├── SelectorUnavailable          a selector cannot work here (the message names the fallback)
    ├── MissingExtra                 an optional dependency is not installed (names the extra)
    └── RecordingError               a recording is truncated, corrupt or missing

Limits that are also protocol failures inherit from both branches, so callers can catch either.
Layers add their classes under their own section below; ``__all__`` is computed at the end.
"""

from __future__ import annotations

from typing import Mapping, Sequence


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


class TruncatedStream(ConnectionClosed):
    """A TLS stream's TCP connection ended without the peer's ``close_notify``.

    Every byte decrypted before it was delivered; whether the data is complete is for the
    protocol to judge (an HTTP body delimited by EOF is *not* complete in this case).
    """


class WebSocketClosed(ConnectionClosed):
    """The WebSocket close handshake has happened; ``code`` and ``reason`` are the peer's."""

    def __init__(self, code: int | None = None, reason: str = "", message: str | None = None):
        self.code = code
        self.reason = reason
        super().__init__(message or f"websocket closed (code={code}, reason={reason!r})")


class PeerTimeout(NetworkError):
    """The peer went silent: no pong in time, no inbound data for ``idle_timeout``, no heartbeat."""


class TlsError(NetworkError):
    """The TLS handshake or a TLS record failed."""


class CertificateError(TlsError):
    """The peer's certificate was rejected: unknown CA, expired, or wrong host name."""


class KtlsUnavailable(TlsError):
    """Kernel TLS offload was demanded but the kernel or OpenSSL cannot provide it here."""


# --- limits and deadlines ----------------------------------------------------------------------


class LimitExceeded(BoomnetError):
    """A configured size or count limit was exceeded."""


class SendBufferFull(LimitExceeded):
    """A connection's send budget is used up (the peer is not reading); nothing was queued."""


class DeadlineExceeded(BoomnetError):
    """A response, call or handshake deadline passed."""


class SelectorUnavailable(BoomnetError):
    """A selector cannot work on this machine (kernel, seccomp or library refuses it).

    The message names the fallback to use instead.
    """


class MissingExtra(BoomnetError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


# --- local: the caller's misuse ----------------------------------------------------------------


class LocalError(BoomnetError, ValueError):
    """The caller asked for something invalid; nothing was sent. Also a :class:`ValueError`."""


class InvalidUrl(LocalError):
    """Not a URL boomnet can connect to (scheme, host, port or characters)."""


class InvalidHttpRequest(LocalError):
    """A request the caller asked for would be malformed HTTP: CR/LF or controls in the method,
    target or a header (injection), an unsupported URL, or conflicting body framing.

    Raised before any byte is sent.
    """


class InvalidMessage(LocalError):
    """A message the caller asked to send cannot be encoded (too large, wrong type, bad field)."""


class InvalidState(LocalError):
    """The connection's state does not allow the operation (e.g. sending after close)."""


# --- protocols (remote: the peer's fault) ------------------------------------------------------


class ProtocolError(BoomnetError):
    """The peer violated a protocol."""


class VenueMessageError(ProtocolError):
    """A venue sent a message of the wrong shape (missing field, wrong type, unknown event)."""


# --- ws ------------------------------------------------------------------------------------------


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


# --- http ----------------------------------------------------------------------------------------


class HttpProtocolError(ProtocolError):
    """A malformed HTTP message: bad status line, bad chunk size, conflicting lengths, a broken
    HTTP/2 stream or connection."""


class HeaderTooLarge(HttpProtocolError, LimitExceeded):
    """The header block exceeded its size or count limit."""


class BodyTooLarge(HttpProtocolError, LimitExceeded):
    """A body exceeded its size limit."""


# --- msg -----------------------------------------------------------------------------------------


class FramingError(ProtocolError):
    """A message frame is malformed (bad length, bad version, undecodable payload)."""


class FrameTooLarge(FramingError, LimitExceeded):
    """A frame's length field exceeds the codec's ``max_size`` (checked before buffering)."""


# --- rpc -----------------------------------------------------------------------------------------


class RpcProtocolError(ProtocolError):
    """A malformed RPC envelope."""


class CallFailed(BoomnetError):
    """An RPC call ended without a result (the connection dropped, the peer failed it)."""


class CallCancelled(CallFailed):
    """An RPC call was cancelled."""


class CallLost(CallFailed):
    """The connection ended before the call's reply. ``maybe_executed``: the request had been
    handed to the connection, so the server may have run it; ``False``: it was never sent."""

    def __init__(self, message: str, maybe_executed: bool) -> None:
        self.maybe_executed = maybe_executed
        super().__init__(message)


# --- fix -----------------------------------------------------------------------------------------


class FixError(ProtocolError):
    """Malformed FIX tag=value: wrong CheckSum or BodyLength, missing header fields, garbage."""


class FixSessionError(FixError):
    """The peer broke FIX session rules (sequence number too low, logon refused, ...)."""


class FixGarbled(FixError):
    """A FIX frame could not be delimited: wrong BeginString, BodyLength or CheckSum, garbage.

    The byte stream's framing is lost; the session disconnects (resend recovers the data).
    """


class FixMessageTooLarge(FixGarbled, LimitExceeded):
    """A FIX message's BodyLength exceeds ``FixLimits.max_message_size`` (checked before buffering)."""


class FixLoggedOut(FixSessionError, ConnectionClosed):
    """The FIX session ended with a Logout (``text`` is the Logout's Text(58), if any)."""

    def __init__(self, message: str, text: str = ""):
        self.text = text
        super().__init__(message)


# --- bus -----------------------------------------------------------------------------------------


class NatsProtocolError(ProtocolError):
    """The NATS server sent something the client protocol does not allow (or a fatal -ERR)."""


# --- recordings ----------------------------------------------------------------------------------


class RecordingError(BoomnetError):
    """A recording is missing, truncated or corrupt."""


__all__ = sorted(
    name
    for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, BoomnetError)
)
