"""The WebSocket client: the sans-I/O decoder and encoder driven over any boomnet stream."""

from __future__ import annotations

import logging
import select
import time
from typing import Callable, NoReturn, Sequence

from ..errors import (
    ConnectionClosed,
    ConnectTimeout,
    HandshakeError,
    WebSocketClosed,
    WebSocketProtocolError,
)
from ..stream.base import Stream
from .decoder import DEFAULT_BUFFER_SIZE, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_MESSAGE_SIZE, Decoder
from .deflate import OFFER as DEFLATE_OFFER
from .deflate import Inflater
from .encoder import MaskKeys, close_payload
from .frame import CLOSED, CLOSING, CONNECTING, HANDSHAKE, OPEN, STATE_NAMES, Frame, Opcode
from .handshake import Headers, build_request, new_key, parse_response, parse_ws_url
from .sender import Sender

__all__ = ["WebSocket"]

log = logging.getLogger("boomnet.ws")


_NO_FRAMES: list[Frame] = []  # returned when a read found nothing; callers must not mutate it


class WebSocket(Sender):
    """An RFC 6455 client over ``stream`` (any :class:`~boomnet.stream.base.Stream`).

    Non-blocking throughout: call :meth:`establish` until it returns ``True`` (it advances the
    stream's connect/TLS handshake and then the HTTP upgrade), then poll :meth:`read_batch`.
    ``url`` supplies the Host header and request target only; the stream is already aimed.

    Limits are on by default: ``max_frame_size`` and ``max_message_size`` (16 MiB; exceeding
    closes with 1009), ``handshake_timeout`` seconds for the whole opening handshake,
    ``close_timeout`` seconds for the peer to answer a close we started.

    ``compression="deflate"`` offers permessage-deflate (RFC 7692): compressed messages from the
    server are inflated (within ``max_message_size``); boomnet's own messages go uncompressed.

    ``key`` fixes the ``Sec-WebSocket-Key`` (only for replaying a recorded session, whose recorded
    101 answers the recorded key); by default every connection draws a fresh random key.
    """

    def __init__(
        self,
        stream: Stream,
        url: str,
        *,
        headers: Headers | None = None,
        origin: str | None = None,
        subprotocols: Sequence[str] = (),
        handshake_timeout: float = 10.0,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        auto_pong: bool = True,
        validate_utf8: bool = True,
        mask: bool = True,
        assemble: bool = True,
        read_buffer_size: int = DEFAULT_BUFFER_SIZE,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        key: str | None = None,
        compression: str | None = None,
    ) -> None:
        self.url = url
        self._stream = stream
        self._recv_into = stream.recv_into  # bound once: read_batch is the hot path
        self._target = parse_ws_url(url)
        self._key = key or new_key()
        if compression not in (None, "deflate"):
            raise ValueError(f"compression must be None or 'deflate', not {compression!r}")
        self._offer_deflate = compression == "deflate"
        self._request = build_request(
            self._target,
            self._key,
            headers=headers,
            origin=origin,
            subprotocols=subprotocols,
            extensions=DEFLATE_OFFER if self._offer_deflate else None,
        )
        self._subprotocols = tuple(subprotocols)
        self._handshake_timeout = handshake_timeout
        self._deadline: float | None = None
        self._clock = clock
        self._dec = Decoder(
            max_frame_size=max_frame_size,
            max_message_size=max_message_size,
            validate_utf8=validate_utf8,
            assemble=assemble,
            buffer_size=read_buffer_size,
        )
        self.auto_pong = auto_pong
        self._mask_keys = MaskKeys() if mask else None
        self._state = CONNECTING
        self._fresh = False  # frames arrived with the handshake response and are not decoded yet
        self._sending_fragments = False
        self._error: BaseException | None = None
        self._write_error: ConnectionClosed | None = None
        self._deferred: tuple[Opcode | None, object] | None = None  # close echo or failure for the next read
        self._close_timeout = close_timeout
        self._close_deadline = 0.0
        self.subprotocol: str | None = None
        #: "deflate" once permessage-deflate was negotiated (inbound messages may be compressed)
        self.compression: str | None = None
        self.response_headers: list[tuple[str, str]] = []
        self.close_code: int | None = None
        self.close_reason = ""

    # --- state -----------------------------------------------------------------------------------

    @property
    def stream(self) -> Stream:
        return self._stream

    @property
    def open(self) -> bool:
        """True after the handshake and until a close frame is sent or received."""
        return self._state == OPEN

    @property
    def closed(self) -> bool:
        """True once the close handshake is done, the connection failed, or the stream ended."""
        return self._state == CLOSED

    @property
    def pending(self) -> int:
        """Outbound bytes not yet taken by the transport."""
        return self._stream.pending

    def fileno(self) -> int:
        return self._stream.fileno()

    def read_hint(self) -> int:
        """Non-zero when this websocket must be polled again without new readiness: decodable
        bytes, a deferred close/failure, pending output, or closed with its reason unreported."""
        return self.buffered() or self._stream.pending or (1 if self._state == CLOSED else 0)

    def buffered(self) -> int:
        """Inbound bytes that can be decoded without waiting for the descriptor.

        Non-zero also while a close or failure deferred from the last batch awaits the next
        :meth:`read_batch` (nothing will make the descriptor readable for it), so a readiness
        selector polls this websocket again."""
        extra = self._dec.undecoded if self._fresh else 0
        if self._deferred is not None or self._state == CLOSING:
            # A deferred close/failure, or our close awaiting its answer or its timeout: nothing
            # may make the descriptor readable, so ask to be polled again.
            extra += 1
        return self._stream.buffered() + extra

    def __repr__(self) -> str:
        return f"<WebSocket {self.url} {STATE_NAMES[self._state]}>"

    # --- opening handshake -------------------------------------------------------------------------

    def establish(self) -> bool:
        """Advance connect, TLS and the upgrade without blocking; ``True`` once open.

        Raises :class:`HandshakeError` (refused or malformed upgrade), :class:`ConnectTimeout`
        (``handshake_timeout`` passed) or the stream's own :class:`NetworkError`.
        """
        state = self._state
        if state >= OPEN:
            return True
        if self._deadline is None:
            self._deadline = self._clock() + self._handshake_timeout
        elif self._clock() > self._deadline:
            self._abort()
            raise ConnectTimeout(f"WebSocket handshake with {self.url} exceeded {self._handshake_timeout}s")
        stream = self._stream
        try:
            if state == CONNECTING:
                if not stream.establish():
                    return False
                stream.write(self._request)
                self._state = HANDSHAKE
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
            parsed = parse_response(dec.peek(), self._key, self._subprotocols, self._offer_deflate)
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
        self._fresh = dec.undecoded > 0
        self._state = OPEN
        log.debug("websocket open: %s", self.url)
        return True

    def _abort(self) -> None:
        self._state = CLOSED
        self._stream.close()

    # --- reading (hot path) ------------------------------------------------------------------------

    def read_batch(self) -> list[Frame]:
        """Read what the stream has now and return every complete frame (possibly none).

        The returned list and its :class:`Frame` objects are reused: consume them before the next
        call. Raises :class:`WebSocketClosed` after the close handshake, the stream's
        :class:`ConnectionClosed` if it ended without one, and the
        :class:`WebSocketProtocolError` that failed the connection on the call after the frames
        that preceded the violation were returned.

        A CLOSE frame or a violation that arrives in the same batch as data frames takes effect on
        the *next* call, so the application can still answer the frames before it (RFC 6455
        §5.5.1 allows the delay); alone in its batch it takes effect at once.
        """
        if self._state != OPEN:
            if self._state != CLOSING:
                self._raise_not_open()
            if self._clock() > self._close_deadline:
                log.info("websocket %s: peer did not answer our close within %ss", self.url, self._close_timeout)
                self._finish()
                return _NO_FRAMES
        if self._deferred is not None:
            return self._run_deferred()
        stream = self._stream
        if stream.pending:
            try:
                stream.flush()
            except ConnectionClosed as exc:
                # Keep reading: bytes already in the kernel are still owed to the application.
                self._write_error = exc
        dec = self._dec
        if self._fresh:
            # Frames that came with the handshake response: decode them before touching the stream,
            # so an EOF right behind them cannot hide them.
            self._fresh = False
            return self._decode(dec)
        try:
            n = self._recv_into(dec.write_view())
        except ConnectionClosed as exc:
            self._lost(exc)
            raise
        if not n:
            if self._write_error is not None:
                self._lost(self._write_error)
                raise self._write_error
            return _NO_FRAMES
        dec.commit(n)
        return self._decode(dec)

    def _decode(self, dec: Decoder) -> list[Frame]:
        frames = dec.decode()
        if dec.control or dec.error is not None:
            self._after_batch(frames)
        return frames

    def _after_batch(self, frames: list[Frame]) -> None:
        dec = self._dec
        for opcode, data in dec.control:
            if opcode is Opcode.PING:
                if self.auto_pong and self._state == OPEN:
                    self._send_quietly(Opcode.PONG, data)
            elif opcode is Opcode.CLOSE:
                self.close_code = dec.close_code if dec.close_code is not None else 1005
                self.close_reason = dec.close_reason
                if self._state == OPEN and len(frames) > 1:
                    self._deferred = (Opcode.CLOSE, data)
                else:
                    self._answer_close(data)
        if dec.error is not None and self._state == OPEN:
            if frames:
                self._deferred = (None, dec.error)
            else:
                self._fail(dec.error)
                raise dec.error
        if self._write_error is not None and not frames:
            self._lost(self._write_error)
            raise self._write_error

    def _run_deferred(self) -> NoReturn:
        kind, arg = self._deferred  # type: ignore[misc]
        self._deferred = None
        if kind is Opcode.CLOSE:
            # The application has seen the CLOSE frame in the previous batch; now complete the
            # handshake and report it exactly as a later read would.
            self._answer_close(arg)
            raise WebSocketClosed(self.close_code, self.close_reason)
        self._fail(arg)
        raise arg

    def _answer_close(self, data: bytes) -> None:
        if self._state == OPEN:
            # Echo the peer's code (§5.5.1); an empty close is answered with an empty close.
            self._send_quietly(Opcode.CLOSE, data[:2])
        self._finish()

    def _fail(self, error: WebSocketProtocolError) -> None:
        """Fail the connection (§7.1.7): send a close with the error's code, then drop the stream."""
        log.warning("failing websocket %s: %s", self.url, error)
        if self._state == OPEN:
            self._send_quietly(Opcode.CLOSE, close_payload(error.close_code))
        self.close_code = error.close_code
        self._error = error
        self._finish()

    def _lost(self, exc: ConnectionClosed) -> None:
        self._state = CLOSED
        if self.close_code is None:
            self.close_code = 1006
        self._error = exc
        self._stream.close()

    def _finish(self) -> None:
        self._state = CLOSED
        stream = self._stream
        try:
            stream.flush()
        except ConnectionClosed:
            pass
        stream.close()

    def _raise_not_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._state == CLOSED:
            raise WebSocketClosed(self.close_code, self.close_reason)
        if self._state == CLOSING:
            raise WebSocketClosed(message="the close handshake has started; no more data may be sent")
        raise WebSocketProtocolError(f"websocket is not open yet ({STATE_NAMES[self._state]})", 1011)

    # --- closing ---------------------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; keep calling :meth:`read_batch` until :attr:`closed`.

        Before the connection is open, or after it closed, this just releases the stream.
        """
        if self._deferred is not None and self._deferred[0] is Opcode.CLOSE:
            self._answer_close(self._deferred[1])  # the peer closed first: complete its handshake
            self._deferred = None
        elif self._state == OPEN:
            self._state = CLOSING
            self._close_deadline = self._clock() + self._close_timeout
            self._send(Opcode.CLOSE, close_payload(code, reason), True)
            try:
                self._stream.flush()
            except ConnectionClosed:
                self._finish()
        elif self._state != CLOSING:
            self._abort()

    def flush(self) -> bool:
        """Retry pending outbound bytes; ``True`` once none are pending."""
        return self._stream.flush()

    # --- blocking helpers for scripts and tests ------------------------------------------------------

    def wait_io(self, timeout: float) -> bool:
        """Block up to ``timeout`` s until :meth:`read_batch` may find data, or pending output can
        move. For scripts and tests; an IOService loop never blocks."""
        if self.buffered():
            return True
        fd = self.fileno()
        if fd < 0:
            return True
        readable, writable, _ = select.select([fd], [fd] if self.pending else [], [], timeout)
        return bool(readable or writable)
