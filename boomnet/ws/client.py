"""The WebSocket client: the opening handshake (RFC 6455 §4.1) over any boomnet stream, then the
shared I/O driver (driver.py) over the sans-I/O protocol (protocol.py) in the client role."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConnectionClosed, ConnectTimeout, HandshakeError
from ..stream.base import Stream
from .deflate import OFFER as DEFLATE_OFFER
from .deflate import Inflater
from .driver import Driver
from .frame import CONNECTING, HANDSHAKE, OPEN
from .handshake import build_request, new_key, parse_response, parse_ws_url
from .options import WsOptions, build_options
from .protocol import Protocol, Role

__all__ = ["WebSocket"]

log = logging.getLogger("boomnet.ws")


class WebSocket(Driver):
    """An RFC 6455 client over ``stream`` (any :class:`~boomnet.stream.base.Stream`).

    Non-blocking throughout: call :meth:`establish` until it returns ``True`` (it advances the
    stream's connect/TLS handshake and then the HTTP upgrade), then poll :meth:`read_batch`.
    ``url`` supplies the Host header and request target only; the stream is already aimed.

    Options: ``options`` (a :class:`~boomnet.ws.WsOptions`) and/or keyword ``overrides`` of its
    fields (``max_message_size=``, ``handshake_timeout=``, ``ping_interval=``, ...); an unknown
    keyword is a ``TypeError`` here. Limits are on by default (16 MiB frames and messages,
    exceeding closes with 1009), and so is liveness (ping every 20 s, pong within 10 s, 60 s
    of silence is a :class:`~boomnet.errors.PeerTimeout`).

    ``compression="deflate"`` offers permessage-deflate (RFC 7692): compressed messages from the
    server are inflated (within ``max_message_size``); boomnet's own messages go uncompressed.
    ``clock`` is for tests.

    **Zero-copy:** frames returned by :meth:`read_batch` (and their ``payload`` views) are valid
    until the next ``read_batch()`` only; see :class:`~boomnet.ws.Frame`.
    """

    def __init__(
        self,
        stream: Stream,
        url: str,
        options: WsOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Any,
    ) -> None:
        opts = build_options(options, overrides)
        super().__init__(stream, Protocol(Role.CLIENT, opts, url), clock)
        self.url = url
        self._target = parse_ws_url(url)
        self._key = opts.key or new_key()
        self._offer_deflate = opts.compression == "deflate"
        self._request = build_request(
            self._target,
            self._key,
            headers=opts.headers,
            origin=opts.origin,
            subprotocols=opts.subprotocols,
            extensions=DEFLATE_OFFER if self._offer_deflate else None,
        )
        self._deadline: float | None = None
        self.subprotocol: str | None = None
        #: "deflate" once permessage-deflate was negotiated (inbound messages may be compressed)
        self.compression: str | None = None
        self.response_headers: list[tuple[str, str]] = []

    def establish(self) -> bool:
        """Advance connect, TLS and the upgrade without blocking; ``True`` once open.

        Raises :class:`HandshakeError` (refused or malformed upgrade), :class:`ConnectTimeout`
        (``handshake_timeout`` passed) or the stream's own :class:`NetworkError`.
        """
        proto = self._proto
        state = proto.state
        if state >= OPEN:
            return True
        timeout = proto.options.handshake_timeout
        if self._deadline is None:
            self._deadline = self._clock() + timeout
        elif self._clock() > self._deadline:
            self._abort()
            raise ConnectTimeout(f"WebSocket handshake with {self.url} exceeded {timeout}s")
        stream = self._stream
        try:
            if state == CONNECTING:
                if not stream.establish():
                    return False
                stream.write(self._request)
                proto.state = HANDSHAKE
            if stream.pending:
                try:
                    stream.flush()
                except ConnectionClosed as exc:
                    self._write_error = exc  # the response may still be readable; decide below
            dec = self._dec
            view = dec.write_view()
            try:
                n = self._recv_into(view)
            except ConnectionClosed as exc:
                raise HandshakeError(f"connection closed before the upgrade response from {self.url}") from exc
            finally:
                view.release()
            if n:
                dec.commit(n)
            parsed = parse_response(dec.peek(), self._key, proto.options.subprotocols, self._offer_deflate)
        except BaseException:
            self._abort()
            raise
        if parsed is None:
            if self._write_error is not None:
                self._abort()
                raise HandshakeError(f"connection to {self.url} lost during the upgrade") from self._write_error
            return False
        response, head_length = parsed
        dec.consume(head_length)
        self.subprotocol = response.subprotocol
        self.response_headers = response.headers
        if response.deflate is not None:
            dec.inflater = Inflater(response.deflate)
        self.compression = "deflate" if response.deflate is not None else None
        self._opened()
        log.debug("websocket open: %s", self.url)
        return True
