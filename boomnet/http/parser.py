"""Sans-I/O HTTP/1.1 response parser over one reusable receive buffer.

Usage (by a connection, or by a test feeding bytes)::

    parser.expect("GET")                 # a request went out; its response comes in order
    n = stream.recv_into(parser.recv_view())
    for response in parser.commit(n):    # parse everything now available
        ...
    parser.feed_eof()                    # the peer closed (ends an EOF-delimited body)

The parser never touches a socket. It is an explicit state machine (``HEAD``, ``LENGTH``,
``CHUNK_SIZE``, ``CHUNK_DATA``, ``CHUNK_END``, ``TRAILERS``, ``UNTIL_EOF``, ``CLOSED``,
``FAILED``); every limit is a field of :class:`HttpLimits`. After any error the parser stays
failed: the connection it served must be closed.
"""

from __future__ import annotations

import re
from collections import deque

from ..errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError
from .head import Framing, body_framing, parse_head, _FIELDS_RE
from .headers import Headers
from .limits import DEFAULT_LIMITS, HttpLimits
from .response import Response

__all__ = ["ResponseParser"]

HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, UNTIL_EOF, CLOSED, FAILED = range(9)
_NONE, _LENGTH, _CHUNKED = Framing.NONE, Framing.LENGTH, Framing.CHUNKED
_STATE_NAMES = ("HEAD", "LENGTH", "CHUNK_SIZE", "CHUNK_DATA", "CHUNK_END", "TRAILERS", "UNTIL_EOF", "CLOSED", "FAILED")

# chunk-size [ BWS ; chunk-ext ] -- the extension is tolerated and ignored
_CHUNK_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t \x21-\x7e\x80-\xff]*)?")

#: bodies at least this large are received straight into their own bytearray (no buffer copy)
_DIRECT_BODY_MIN = 16 * 1024
#: the buffer is compacted (or grown) when less than this much room is left for a read
_MIN_READ = 4096


class ResponseParser:
    """Turns received bytes into :class:`Response` objects, in request order."""

    def __init__(self, limits: HttpLimits = DEFAULT_LIMITS, buffer_size: int = 64 * 1024) -> None:
        self.limits = limits
        self._max_head = limits.max_header_bytes
        self._buf = bytearray(max(buffer_size, 1024))
        self._view = memoryview(self._buf)
        self._start = 0  # first byte not yet parsed
        self._end = 0  # end of received bytes
        self._scan = 0  # where the search for the end of the head resumes
        self._state = HEAD
        self._expected: deque[str] = deque()
        self._ready: list[Response] = []
        self._error: Exception | None = None
        # response under construction
        self._version = "1.1"
        self._status = 0
        self._reason = ""
        self._headers: Headers | None = None
        self._keep_alive = True
        self._body = bytearray()
        self._filled = 0  # LENGTH: bytes of the preallocated body already received
        self._remaining = 0  # LENGTH / CHUNK_DATA: bytes still due
        self._direct = False  # recv_view() handed out a slice of the body itself
        #: interim (1xx) responses skipped for the response now awaited
        self.informational = 0
        #: interim responses seen over the parser's life (lets a caller notice "100 Continue")
        self.interim_total = 0

    # --- requests ------------------------------------------------------------------------------

    def expect(self, method: str) -> None:
        """Note that a request with ``method`` was sent; responses are matched in this order."""
        self._expected.append(method)

    @property
    def outstanding(self) -> int:
        """Requests whose responses have not been completed yet."""
        return len(self._expected)

    @property
    def state(self) -> str:
        return _STATE_NAMES[self._state]

    @property
    def mid_response(self) -> bool:
        """``True`` once any byte of the awaited response (interim ones included) has arrived."""
        state = self._state
        return (state != HEAD and state != CLOSED) or self._end > self._start or self.informational > 0

    @property
    def closed(self) -> bool:
        """No further response can be parsed (EOF seen, a ``close`` response, or a failure)."""
        return self._state >= CLOSED

    # --- receiving -----------------------------------------------------------------------------

    def recv_view(self) -> memoryview:
        """Writable space for the next read. Valid until the next ``commit``/``feed`` call."""
        if self._state == LENGTH and self._end == self._start and self._remaining >= _DIRECT_BODY_MIN:
            # a large body with nothing buffered: read it straight into place
            self._direct = True
            return memoryview(self._body)[self._filled :]
        start, end = self._start, self._end
        if start == end:
            self._start = self._end = self._scan = 0
        elif len(self._buf) - end < _MIN_READ:
            self._make_room()
        return self._view[self._end :]

    def _make_room(self) -> None:
        start, end = self._start, self._end
        if start > 0:  # compact: move the unparsed tail to the front (via a copy: regions overlap)
            self._buf[: end - start] = bytes(self._view[start:end])
            self._scan -= start
            self._start, self._end = 0, end - start
            return
        # full of one unit (a head or a chunk line) still below its limit: grow; limits bound this
        grown = bytearray(len(self._buf) * 2)
        grown[:end] = self._view[:end]
        self._buf, self._view = grown, memoryview(grown)

    def commit(self, n: int) -> list[Response]:
        """``n`` bytes were written into the last ``recv_view``; return the responses completed."""
        if self._direct:
            self._direct = False
            if n:
                self._filled += n
                self._remaining -= n
                if not self._remaining:
                    self._finish(self._take_body())
        else:
            self._end += n
        if self._end > self._start:
            self._parse()
        return self._take_ready()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Response]:
        """Copy ``data`` in and parse it (for tests, replays and non-``recv_into`` sources)."""
        data = memoryview(data).cast("B")
        out: list[Response] = []
        pos, total = 0, len(data)
        while pos < total:
            view = self.recv_view()
            n = min(len(view), total - pos)
            view[:n] = data[pos : pos + n]
            pos += n
            out += self.commit(n)
        return out

    def feed_eof(self) -> list[Response]:
        """The peer closed the connection. Ends an EOF-delimited body; mid-message it is an error."""
        self._check_failed()
        state = self._state
        if state == UNTIL_EOF:
            self._finish(self._take_body())
        elif state == HEAD:
            if self._end > self._start:
                self._fail(HttpProtocolError("connection closed inside a response head"))
        elif state != CLOSED:
            self._fail(HttpProtocolError(f"connection closed before the response body was complete ({self.state})"))
        self._state = CLOSED
        return self._take_ready()

    def _take_ready(self) -> list[Response]:
        ready = self._ready
        if ready:
            self._ready = []
        return ready

    # --- the state machine ---------------------------------------------------------------------

    def _parse(self) -> None:
        try:
            while self._end > self._start:
                state = self._state
                if state == HEAD:
                    if not self._parse_head():
                        return
                elif state == LENGTH:
                    self._parse_length()
                elif state == CHUNK_DATA:
                    self._parse_chunk_data()
                elif state == CHUNK_SIZE:
                    if not self._parse_chunk_size():
                        return
                elif state == CHUNK_END:
                    if not self._parse_chunk_end():
                        return
                elif state == TRAILERS:
                    if not self._parse_trailers():
                        return
                elif state == UNTIL_EOF:
                    self._append_body(self._start, self._end)
                    self._start = self._end
                elif state == CLOSED:
                    # bytes after a response that ended the connection are meaningless; drop them
                    self._start = self._end
                else:
                    self._check_failed()
        except HttpProtocolError as exc:
            self._fail(exc)

    def _parse_head(self) -> bool:
        expected = self._expected
        if not expected:
            raise HttpProtocolError("received data while no request was outstanding")
        buf, start, end = self._buf, self._start, self._end
        scan = self._scan
        idx = buf.find(b"\r\n\r\n", scan if scan > start else start, end)
        limit = self._max_head
        if idx < 0:
            if end - start > limit:
                raise HeaderTooLarge(f"response head exceeds max_header_bytes {limit}")
            self._scan = end - 3 if end - 3 > start else start
            return False
        if idx + 4 - start > limit:
            raise HeaderTooLarge(f"response head exceeds max_header_bytes {limit}")
        text = str(self._view[start:idx], "latin-1")
        start = self._start = idx + 4
        limits = self.limits
        version, status, reason, pairs = parse_head(text, limits)
        method = expected[0]
        kind, length, keep_alive = body_framing(method, status, version, text, limits)
        if status < 200:
            return self._interim(status)
        if kind == _LENGTH and end - start >= length:
            # the common small response: the whole body is already here -- finish in place
            self._start = start + length
            body = bytes(self._view[start : start + length])
        elif kind == _NONE:
            body = b""
        else:
            self._version, self._status, self._reason = version, status, reason
            self._headers = Headers(pairs)
            self._keep_alive = keep_alive
            self._body = bytearray(length) if kind == _LENGTH else bytearray()
            if kind == _LENGTH:
                self._filled = 0
                self._remaining = length
                self._state = LENGTH
            elif kind == _CHUNKED:
                self._state = CHUNK_SIZE
            else:
                self._state = UNTIL_EOF
            return True
        expected.popleft()
        self._ready.append(Response(status, reason, version, Headers(pairs), body, method, keep_alive))
        self.informational = 0
        if not keep_alive:
            self._state = CLOSED
        return True

    def _interim(self, status: int) -> bool:
        if status == 101:
            raise HttpProtocolError("unexpected 101 Switching Protocols (no upgrade was requested)")
        self.informational += 1
        self.interim_total += 1
        if self.informational > self.limits.max_informational:
            raise HttpProtocolError(f"more than {self.limits.max_informational} interim (1xx) responses")
        return True

    def _parse_length(self) -> None:
        start = self._start
        n = min(self._end - start, self._remaining)
        filled = self._filled
        self._body[filled : filled + n] = self._view[start : start + n]
        self._filled = filled + n
        self._remaining -= n
        self._start = start + n
        if not self._remaining:
            self._finish(self._take_body())

    def _parse_chunk_size(self) -> bool:
        start, end = self._start, self._end
        idx = self._buf.find(b"\r\n", start, end)
        limit = self.limits.max_chunk_line
        if idx < 0:
            if end - start > limit:
                raise HttpProtocolError(f"chunk-size line exceeds max_chunk_line {limit}")
            return False
        if idx - start > limit:
            raise HttpProtocolError(f"chunk-size line exceeds max_chunk_line {limit}")
        m = _CHUNK_LINE_RE.fullmatch(self._buf, start, idx)
        if m is None:
            raise HttpProtocolError(f"invalid chunk-size line {bytes(self._view[start:idx][:40])!r}")
        size = int(m.group(1), 16)
        self._start = idx + 2
        if size == 0:
            self._state = TRAILERS
            return True
        if len(self._body) + size > self.limits.max_body_size:
            raise BodyTooLarge(f"chunked body exceeds max_body_size {self.limits.max_body_size}")
        self._remaining = size
        self._state = CHUNK_DATA
        return True

    def _parse_chunk_data(self) -> None:
        start = self._start
        n = min(self._end - start, self._remaining)
        self._body += self._view[start : start + n]
        self._remaining -= n
        self._start = start + n
        if not self._remaining:
            self._state = CHUNK_END

    def _parse_chunk_end(self) -> bool:
        start = self._start
        if self._end - start < 2:
            if self._buf[start] != 13:  # the first byte can already be judged
                raise HttpProtocolError("chunk data not followed by CRLF")
            return False
        if self._buf[start] != 13 or self._buf[start + 1] != 10:
            raise HttpProtocolError("chunk data not followed by CRLF")
        self._start = start + 2
        self._state = CHUNK_SIZE
        return True

    def _parse_trailers(self) -> bool:
        """Trailer fields are validated for syntax and limits, then ignored."""
        buf, start, end = self._buf, self._start, self._end
        limit = self.limits.max_header_bytes
        if buf.startswith(b"\r\n", start, end):
            self._start = start + 2
            self._finish(self._take_body())
            return True
        if end - start < 2:
            if buf[start] != 13 and not _is_token_byte(buf[start]):
                raise HttpProtocolError("malformed chunked trailer")
            return False
        idx = buf.find(b"\r\n\r\n", start, end)
        if idx < 0:
            if end - start > limit:
                raise HeaderTooLarge(f"chunked trailers exceed max_header_bytes {limit}")
            return False
        if idx + 4 - start > limit:
            raise HeaderTooLarge(f"chunked trailers exceed max_header_bytes {limit}")
        text = "\r\n" + str(self._view[start:idx], "latin-1")
        if _FIELDS_RE.fullmatch(text) is None:
            raise HttpProtocolError("malformed chunked trailer")
        if text.count("\r\n") > self.limits.max_header_count:
            raise HeaderTooLarge(f"more than {self.limits.max_header_count} trailer fields")
        self._start = idx + 4
        self._finish(self._take_body())
        return True

    def _append_body(self, start: int, end: int) -> None:
        if len(self._body) + (end - start) > self.limits.max_body_size:
            raise BodyTooLarge(f"body exceeds max_body_size {self.limits.max_body_size}")
        self._body += self._view[start:end]

    def _take_body(self) -> bytes:
        body = bytes(self._body)
        self._body = bytearray()
        return body

    def _finish(self, body: bytes) -> None:
        method = self._expected.popleft()
        self._ready.append(
            Response(self._status, self._reason, self._version, self._headers or Headers(), body, method, self._keep_alive)
        )
        self.informational = 0
        self._headers = None
        self._state = HEAD if self._keep_alive else CLOSED

    # --- failure -------------------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        self._state = FAILED
        self._error = exc
        self._start = self._end = self._scan = 0
        raise exc

    def _check_failed(self) -> None:
        if self._state == FAILED:
            raise HttpProtocolError(f"parser already failed: {self._error}")


def _is_token_byte(b: int) -> bool:
    return 0x21 <= b <= 0x7E and b not in b'"(),/:;<=>?@[\\]{}'
