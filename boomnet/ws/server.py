"""The server role: answer a client's upgrade request (RFC 6455 §4.2), then the shared driver.

``ServerWebSocket(stream)`` runs over an *accepted* stream (e.g. from ``boomnet.stream.listener``
or a plain ``SocketStream`` around ``socket.accept()``): :meth:`~ServerWebSocket.establish` reads
the request, validates it and answers ``101``; after that it is the same driver and protocol as
the client, with the roles' masking rules (every client frame must be masked; ours are not).

The request parser here is deliberately minimal (request line, header fields, the four
headers the handshake needs) until ``boomnet.http.head`` offers a request-head parser; then this
module should delegate to it. permessage-deflate offers are declined (the response names no
extension, which RFC 7692 allows), so inbound frames are never compressed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConnectionClosed, ConnectTimeout, HandshakeError
from ..stream.base import Stream
from .driver import Driver
from .frame import OPEN
from .handshake import accept_for
from .options import WsOptions, build_options
from .protocol import Protocol, Role

__all__ = ["ServerWebSocket", "Request", "parse_request", "build_response", "MAX_REQUEST_HEAD"]

log = logging.getLogger("boomnet.ws")

#: the largest request head accepted
MAX_REQUEST_HEAD = 16 * 1024
_MAX_REQUEST_HEADERS = 100


@dataclass(frozen=True)
class Request:
    """An upgrade request that passed validation."""

    target: str
    headers: list[tuple[str, str]]
    key: str
    subprotocols: tuple[str, ...]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def parse_request(data: bytes | bytearray | memoryview) -> tuple[Request, int] | None:
    """``(request, head_length)`` once the head is complete, ``None`` before; raises
    :class:`HandshakeError` (status 400 or 426 in ``.status``) for a request to refuse."""
    raw = bytes(data[: MAX_REQUEST_HEAD + 4])
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        if len(raw) > MAX_REQUEST_HEAD:
            raise HandshakeError(f"request head exceeds {MAX_REQUEST_HEAD} bytes", 431)
        return None
    lines = raw[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1" or not parts[1].startswith("/"):
        raise HandshakeError(f"not a WebSocket upgrade request line: {lines[0]!r}", 400)
    if len(lines) - 1 > _MAX_REQUEST_HEADERS:
        raise HandshakeError(f"more than {_MAX_REQUEST_HEADERS} request headers", 431)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in line for c in "\r\n\0"):
            raise HandshakeError(f"malformed header line {line!r}", 400)
        headers.append((name, value.strip()))
    req = Request(parts[1], headers, "", ())
    if "websocket" not in _tokens(req.header("upgrade")):
        raise HandshakeError(f"missing or wrong Upgrade header: {req.header('upgrade')!r}", 426)
    if "upgrade" not in _tokens(req.header("connection")):
        raise HandshakeError(f"Connection header lacks 'upgrade': {req.header('connection')!r}", 400)
    if req.header("sec-websocket-version") != "13":
        raise HandshakeError(f"unsupported Sec-WebSocket-Version {req.header('sec-websocket-version')!r}", 426)
    key = req.header("sec-websocket-key") or ""
    try:
        ok = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise HandshakeError(f"bad Sec-WebSocket-Key {key!r}", 400)
    offered = tuple(t.strip() for v in (v for k, v in headers if k.lower() == "sec-websocket-protocol")
                    for t in v.split(",") if t.strip())
    return Request(parts[1], headers, key, offered), end + 4


def build_response(request: Request, subprotocol: str | None = None) -> bytes:
    """The ``101 Switching Protocols`` answer to ``request``."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_for(request.key)}",
    ]
    if subprotocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _refusal(status: int) -> bytes:
    reason = {400: "Bad Request", 426: "Upgrade Required", 431: "Request Header Fields Too Large"}.get(status, "Bad Request")
    extra = "Sec-WebSocket-Version: 13\r\n" if status == 426 else ""
    return f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1")


class ServerWebSocket(Driver):
    """The server end of a WebSocket over an accepted ``stream``.

    ``subprotocols``: the ones this server speaks, in preference order; the first the client
    offers is chosen. ``options``/``overrides`` as for :class:`~boomnet.ws.WebSocket` (limits,
    liveness, ``handshake_timeout``; ``mask``/``compression`` do not apply to a server).
    """

    def __init__(
        self,
        stream: Stream,
        options: WsOptions | None = None,
        *,
        subprotocols: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
        name: str = "server",
        **overrides: Any,
    ) -> None:
        opts = build_options(options, overrides)
        super().__init__(stream, Protocol(Role.SERVER, opts, name), clock)
        self._supported = tuple(subprotocols)
        self._deadline: float | None = None
        self.request: Request | None = None
        self.subprotocol: str | None = None

    def establish(self) -> bool:
        """Read and answer the upgrade request without blocking; ``True`` once open. A refused
        request is answered (400/426) before :class:`HandshakeError` is raised."""
        proto = self._proto
        if proto.state >= OPEN:
            return True
        timeout = proto.options.handshake_timeout
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + timeout
        elif now > self._deadline:
            self._abort()
            raise ConnectTimeout(f"WebSocket upgrade request not received within {timeout}s")
        stream = self._stream
        dec = self._dec
        try:
            if not stream.establish():
                return False
            view = dec.write_view()
            try:
                n = self._recv_into(view)
            finally:
                view.release()
            if n:
                dec.commit(n)
            parsed = parse_request(dec.peek())
        except HandshakeError as exc:
            try:
                stream.write(_refusal(exc.status or 400))
                stream.flush()
            except ConnectionClosed:
                pass
            self._abort()
            raise
        except BaseException:
            self._abort()
            raise
        if parsed is None:
            return False
        request, head_length = parsed
        dec.consume(head_length)
        chosen = next((p for p in self._supported if p in request.subprotocols), None)
        self.request, self.subprotocol = request, chosen
        stream.write(build_response(request, chosen))
        self._opened()
        log.debug("websocket accepted: %s %s", self._proto.name, request.target)
        return True
