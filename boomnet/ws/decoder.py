"""Sans-I/O WebSocket frame decoder over one reusable receive buffer (RFC 6455 §5).

The I/O layer asks for :meth:`Decoder.write_view`, reads into it, calls :meth:`commit` with the
byte count, then :meth:`decode` returns every complete frame in the buffer. Nothing here touches a
socket, so the decoder is tested on bytes and replays.

Hot-path notes: unfragmented FIN+TEXT / FIN+BINARY frames (all of a market-data feed) take a short
inline path; everything else (control frames, fragments, violations) goes through
:meth:`Decoder._slow`, which keeps the loop small. Frame records are pooled, so a batch allocates
only its payload memoryviews.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

from ..errors import InvalidUtf8, MessageTooBig, WebSocketProtocolError
from . import _native
from . import encoder as _encoder  # by module: tests swap its mask_payload for the pure one
from ..buffer import DEFAULT_BUFFER_SIZE, ReceiveBuffer
from .deflate import Inflater
from .frame import Frame, Opcode, is_valid_close_code
from .options import DEFAULT_LIMITS

__all__ = ["Decoder", "DEFAULT_MAX_FRAME_SIZE", "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_BUFFER_SIZE"]

DEFAULT_MAX_FRAME_SIZE = DEFAULT_LIMITS.max_frame_size
DEFAULT_MAX_MESSAGE_SIZE = DEFAULT_LIMITS.max_message_size

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONTINUATION
_CLOSE = Opcode.CLOSE
_PING = Opcode.PING
_PONG = Opcode.PONG
_OPCODES: dict[int, Opcode] = {int(op): op for op in Opcode}
# The optional C fast path (see _speedups.c and _native.py: gated on tested CPython versions,
# BOOMNET_PURE_PYTHON=1 forces pure Python). Tests swap this global to run both decoders.
_scan: Callable[..., int] | None = _native.speedups.scan if _native.speedups is not None else None
#: what the slow path hands back: a frame to deliver, or None (nothing to deliver, or a failure)
_Delivered = tuple[Opcode, bool, memoryview] | None
_utf8_decode = codecs.utf_8_decode  # (data, errors, final): a little cheaper than str(data, "utf-8")
_Utf8Decoder: Callable[..., codecs.IncrementalDecoder] = codecs.getincrementaldecoder("utf-8")


class Decoder(ReceiveBuffer):
    """Decodes server-to-client frames from a growable buffer.

    ``assemble`` delivers fragmented messages once, whole (opcode TEXT/BINARY, ``fin=True``);
    otherwise each fragment is delivered as received. ``validate_utf8`` checks text messages
    (incrementally across fragments, failing fast) and close reasons. ``allow_masked`` accepts
    masked frames; ``require_masked`` refuses unmasked ones (a server's decoder: every client
    frame must be masked, §5.1; a client's refuses masked frames).

    After :meth:`decode`, ``error`` holds a :class:`WebSocketProtocolError` if the input broke the
    protocol (frames before the violation were still returned), ``control`` lists ``(opcode,
    payload bytes)`` of PING, PONG and CLOSE frames for the protocol to act on, and
    ``close_seen`` is true once a CLOSE frame arrived (nothing after it is decoded).
    """

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        validate_utf8: bool = True,
        assemble: bool = True,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        allow_masked: bool = False,
        require_masked: bool = False,
    ) -> None:
        # A frame larger than a whole message may be is a too-big message already: checking the
        # smaller of the two limits from the header keeps single-frame messages within
        # max_message_size at no cost on the fast path.
        self.max_frame_size = min(max_frame_size, max_message_size)
        self.max_message_size = max_message_size
        self.validate_utf8 = validate_utf8
        self.assemble = assemble
        self.allow_masked = allow_masked or require_masked
        self.require_masked = require_masked
        super().__init__(buffer_size)
        self._pool: list[Frame] = []
        self._out: list[Frame] = []
        # fragmented-message state
        self._frag_op = 0  # opcode of the message being fragmented, 0 when none
        self._frag_buf: bytearray | None = None
        self._frag_len = 0
        self._frag_utf8: codecs.IncrementalDecoder | None = None
        self._frag_compressed = False
        #: set by the client when permessage-deflate was negotiated (see deflate.py)
        self.inflater: Inflater | None = None
        self._partial_utf8: codecs.IncrementalDecoder | None = None  # check of a text frame still arriving
        self._partial_done = 0
        self._partial_key = -1
        self.error: WebSocketProtocolError | None = None
        self.control: list[tuple[Opcode, bytes]] = []
        self.close_seen = False
        self.close_code: int | None = None
        self.close_reason = ""

    # --- decoding (the hot path) ---------------------------------------------------------------

    def decode(self) -> list[Frame]:
        """Every complete frame in the buffer. The list and its frames are reused by the next call."""
        out = self._out
        out.clear()
        error, close_seen = self.error, self.close_seen  # locals: the loop re-reads the attributes
        if error is not None or close_seen:
            return out
        if self.control:
            self.control = []
        buf = self._buf
        mv = self._mv
        pos = self._head
        end = self._tail
        pool = self._pool
        npool = len(pool)
        count = 0
        max_frame = self.max_frame_size
        validate = self.validate_utf8
        frag = self._frag_op
        utf8 = _utf8_decode
        require_masked = self.require_masked
        # b1 below this takes the inline fast path: unmasked frames for a client; none for a
        # server (its frames are all masked and unmasked into a copy on the slow path)
        fast_b1 = 0 if require_masked else 0x80
        scan = None if require_masked else _scan
        self.need = 0
        while True:
            if scan is not None and not frag:
                # C loop over the run of whole text/binary frames; Python handles whatever stops it.
                pos = scan(buf, mv, pos, end, max_frame, validate, pool, out, Frame, _TEXT, _BINARY)
                count = len(out)
                npool = len(pool)
            if end - pos < 2:
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            if length < 126:
                start = pos + 2
            elif length == 126:
                if end - pos < 4:  # equivalent-mutant: Lt -> LtE, 4 -> 5: at exactly 4 bytes no payload byte is here yet; stopping a step early only leaves need unset until the next decode() (write_view keeps MIN_FREE free, so that read comes): same frames, same verdicts
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if end - pos < 10:
                    break
                length = int.from_bytes(mv[pos + 2 : pos + 10], "big")
                start = pos + 10
            if b1 & 0x80:
                if not self.allow_masked:
                    self._fail("masked frame from server")
                    break
                start += 4
            elif require_masked:
                self._fail("unmasked frame from a client")
                break
            stop = start + length
            if length > max_frame:
                if length >> 63:
                    self._fail("64-bit frame length with the most significant bit set (RFC 6455 §5.2)")
                else:
                    self._fail_big(f"frame of {length} bytes exceeds the frame/message size limit {max_frame}")
                break
            if stop > end:
                self.need = stop - pos
                # a text frame (or a text message's continuation) still arriving: check its UTF-8 so
                # far; masked payloads are checked once unmasked, compressed ones once inflated. A
                # new text frame inside an unfinished message is not checked: it is a protocol
                # error (1002) once complete, whatever its bytes, so its verdict cannot depend on
                # how the bytes were split
                if validate and not b1 & 0x80 and not b0 & 0x70:
                    op = b0 & 0x0F
                    if (op == 1 and not self._frag_op) or (op == 0 and self._frag_utf8 and not self._frag_compressed):
                        self._check_partial_text(op, pos, start, end)
                break
            if (b0 == 0x81 or b0 == 0x82) and not frag and b1 < fast_b1:  # equivalent-mutant: Lt -> LtE: b1 == fast_b1 is a client's masked empty frame (0x80, allow_masked only: the inline path gives the same empty payload the slow path unmasks) or a server's unmasked one (0, refused above)
                # Fast path: a whole unmasked text or binary message in one frame.
                payload = mv[start:stop]
                if b0 == 0x81:
                    if validate:
                        try:
                            utf8(payload, None, True)
                        except UnicodeDecodeError:
                            self._fail_utf8("invalid UTF-8 in text message")
                            break
                    opcode = _TEXT
                else:
                    opcode = _BINARY
                if count < npool:
                    f = pool[count]
                else:
                    f = Frame()
                    pool.append(f)
                    npool += 1
                f.opcode = opcode
                f.fin = True
                f.payload = payload
                out.append(f)
                count += 1
                pos = stop
                continue
            delivered = self._slow(b0, b1, start, stop)
            if self.error is not None:
                break
            pos = stop
            frag = self._frag_op
            if delivered is not None:
                f = self._pooled(count)
                npool = len(pool)
                f.opcode, f.fin, f.payload = delivered
                out.append(f)
                count += 1
            if self.close_seen:
                break
        self._stream_offset += pos - self._head
        self._head = pos
        return out

    def _pooled(self, index: int) -> Frame:
        """The pooled frame at ``index``, created on first need (the fast path inlines this)."""
        pool = self._pool
        if index < len(pool):
            return pool[index]
        frame = Frame()
        pool.append(frame)
        return frame

    def _check_partial_text(self, op: int, pos: int, start: int, end: int) -> None:
        """Fail fast on invalid UTF-8 in a text frame still arriving (Autobahn 6.4.x): only the
        bytes new since the last read are checked, once per read, never per frame."""
        key = self._stream_offset + (pos - self._head)  # identifies this frame across compactions
        if self._partial_key != key:
            checker = _Utf8Decoder()
            if op == 0:  # the caller checks only the continuations of an open text message
                assert self._frag_utf8 is not None
                checker.setstate(self._frag_utf8.getstate())  # continue the message, do not disturb it
            self._partial_utf8, self._partial_done, self._partial_key = checker, 0, key
        assert self._partial_utf8 is not None
        done = self._partial_done
        try:
            self._partial_utf8.decode(self._mv[start + done : end], False)
        except UnicodeDecodeError:
            self._fail_utf8("invalid UTF-8 in text frame (detected before the frame completed)")
        self._partial_done = end - start

    # --- everything that is not a whole text/binary frame ---------------------------------------

    def _slow(self, b0: int, b1: int, start: int, stop: int) -> tuple[Opcode, bool, memoryview] | None:
        op = b0 & 0x0F
        fin = bool(b0 & 0x80)
        rsv = b0 & 0x70
        if rsv and (rsv != 0x40 or self.inflater is None or op not in (1, 2) or self._frag_op):
            # RSV1 marks the first frame of a compressed message, and only with permessage-deflate
            return self._fail("reserved bits set without a negotiated extension")
        payload = self._mv[start:stop]
        if b1 & 0x80:  # masked (only when allow_masked): unmask into a private copy
            key = bytes(self._mv[start - 4 : start])
            payload = memoryview(_encoder.mask_payload(payload, key))
        if op >= 8:
            return self._control(op, fin, payload)
        if op == 0:
            return self._continuation(fin, payload)
        if op > 2:
            return self._fail(f"reserved opcode {op:#x}")
        if self._frag_op:
            return self._fail("new data frame while a fragmented message is unfinished")
        opcode = _OPCODES[op]
        if rsv:
            self._frag_compressed = not fin
            inflated = self._inflate(payload, fin)
            if inflated is None:
                return None
            payload = inflated
        if fin:  # masked or compressed whole messages reach here
            if op == 1 and self.validate_utf8 and not self._valid_utf8(payload):
                return None
            return opcode, True, payload
        # first fragment
        self._frag_op = op
        self._frag_len = len(payload)
        if self._frag_len > self.max_message_size:
            return self._fail_big("message exceeds max_message_size")
        self._frag_utf8 = _Utf8Decoder() if op == 1 and self.validate_utf8 else None
        if self._frag_utf8 is not None and not self._feed_utf8(payload, False):
            return None
        if self.assemble:
            self._frag_buf = bytearray(payload)
            return None
        return opcode, False, payload

    def _continuation(self, fin: bool, payload: memoryview) -> tuple[Opcode, bool, memoryview] | None:
        if not self._frag_op:
            return self._fail("continuation frame without a message to continue")
        if self._frag_compressed:
            self._frag_compressed = not fin
            inflated = self._inflate(payload, fin)
            if inflated is None:
                return None
            payload = inflated
        self._frag_len += len(payload)
        if self._frag_len > self.max_message_size:
            return self._fail_big("message exceeds max_message_size")
        if self._frag_utf8 is not None and not self._feed_utf8(payload, fin):
            return None
        if self.assemble:
            assert self._frag_buf is not None
            self._frag_buf += payload
            if not fin:
                return None
            whole = memoryview(self._frag_buf)
            opcode = _OPCODES[self._frag_op]
            self._frag_op, self._frag_buf, self._frag_utf8 = 0, None, None
            return opcode, True, whole
        if fin:
            self._frag_op, self._frag_utf8 = 0, None
        return _CONT, fin, payload

    def _control(self, op: int, fin: bool, payload: memoryview) -> tuple[Opcode, bool, memoryview] | None:
        if op not in (8, 9, 10):
            return self._fail(f"reserved control opcode {op:#x}")
        if not fin:
            return self._fail("fragmented control frame")
        if len(payload) > 125:
            return self._fail("control frame payload longer than 125 bytes")
        if op == 9:
            self.control.append((_PING, bytes(payload)))
            return _PING, True, payload
        if op == 10:
            self.control.append((_PONG, bytes(payload)))  # liveness: the protocol matches our pings
            return _PONG, True, payload
        # CLOSE
        n = len(payload)
        if n == 1:
            return self._fail("close frame with a 1-byte payload")
        code = None
        reason = ""
        if n:  # 0 (no code) or at least 2: a 1-byte payload was refused above
            code = (payload[0] << 8) | payload[1]
            if not is_valid_close_code(code):
                return self._fail(f"invalid close code {code}")
            try:
                reason = str(payload[2:], "utf-8")
            except UnicodeDecodeError:
                return self._fail_utf8("invalid UTF-8 in close reason")
        self.close_seen = True
        self.close_code = code
        self.close_reason = reason
        self.control.append((_CLOSE, bytes(payload)))
        return _CLOSE, True, payload

    # --- helpers ---------------------------------------------------------------------------------

    def _inflate(self, payload: memoryview, fin: bool) -> memoryview | None:
        assert self.inflater is not None
        try:
            return memoryview(self.inflater.inflate(payload, fin, self.max_message_size))
        except WebSocketProtocolError as exc:
            self.error = exc
            return None

    def _valid_utf8(self, payload: memoryview) -> bool:
        try:
            str(payload, "utf-8")
        except UnicodeDecodeError:
            self._fail_utf8("invalid UTF-8 in text message")
            return False  # equivalent-mutant: return False -> True: decode() stops on self.error before it looks at what _slow returns
        return True

    def _feed_utf8(self, payload: memoryview, final: bool) -> bool:
        assert self._frag_utf8 is not None
        try:
            self._frag_utf8.decode(payload, final)
        except UnicodeDecodeError:
            self._fail_utf8("invalid UTF-8 in fragmented text message")
            return False  # equivalent-mutant: return False -> True: decode() stops on self.error before it looks at what _slow returns
        return True

    def _fail(self, message: str) -> _Delivered:
        self.error = WebSocketProtocolError(message)
        return None

    def _fail_utf8(self, message: str) -> _Delivered:
        self.error = InvalidUtf8(message)
        return None

    def _fail_big(self, message: str) -> _Delivered:
        self.error = MessageTooBig(message)
        return None
