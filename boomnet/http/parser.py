"""Sans-I/O HTTP/1.1 response parser over one reusable receive buffer.

Usage (by a connection, or by a test feeding bytes)::

    parser.expect("GET")                 # a request went out; its response comes in order
    view = parser.recv_view()
    n = stream.recv_into(view)
    del view                             # drop the view before commit (the body may grow)
    for response in parser.commit(n):    # parse everything now available
        ...
    parser.feed_eof()                    # the peer closed (ends an EOF-delimited body)

The parser never touches a socket. It is an explicit state machine (``HEAD``, ``LENGTH``,
``CHUNK_SIZE``, ``CHUNK_DATA``, ``CHUNK_END``, ``TRAILERS``, ``UNTIL_EOF``, ``CLOSED``,
``FAILED``); every limit is a field of :class:`HttpLimits`.

Failures: responses completed before a malformed byte are still handed out; the error is raised
by the *next* call (``commit``, ``feed``, ``feed_eof`` or ``recv_view``), so nothing finished is
lost. After an error the parser stays failed: the connection it served must be closed.

Bodies: a small body that arrived with its head is copied out of the shared buffer once
(``bytes``). A body larger than :data:`SMALL_BODY` is received into its own ``bytearray`` that
grows with the data -- never preallocated from the server's Content-Length beyond
:data:`BODY_FIRST_ALLOC`, since that number is untrusted -- and handed out as that ``bytearray``
without a second copy.
"""

from __future__ import annotations

import re
from collections import deque

from ..errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError
from .head import _BARE_EOL_RE, _FIELDS_RE, Framing, body_framing, parse_head
from .headers import Headers
from .limits import DEFAULT_LIMITS, HttpLimits
from .response import Response

__all__ = ["ResponseParser", "SMALL_BODY", "BODY_FIRST_ALLOC"]

HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, UNTIL_EOF, CLOSED, FAILED = range(9)
_NONE, _LENGTH, _CHUNKED = Framing.NONE, Framing.LENGTH, Framing.CHUNKED
_STATE_NAMES = ("HEAD", "LENGTH", "CHUNK_SIZE", "CHUNK_DATA", "CHUNK_END", "TRAILERS", "UNTIL_EOF", "CLOSED", "FAILED")

# chunk-size [ BWS ; chunk-ext ] -- the extension is tolerated and ignored
_CHUNK_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t \x21-\x7e\x80-\xff]*)?")
# _BARE_EOL_RE (a CR not followed by LF, an LF not preceded by CR) is searched only while a
# head / chunk line / trailer block is incomplete, so a bare-LF response is refused at once
# instead of waiting for a CRLFCRLF that never comes.

#: bodies up to this size are handed out as ``bytes``; larger ones as their own ``bytearray``
SMALL_BODY = 64 * 1024
#: the most a body buffer is allocated ahead of the data, whatever Content-Length says
BODY_FIRST_ALLOC = 64 * 1024
#: a growing body's capacity at most doubles, and grows by at most this much per step
_BODY_STEP_MAX = 8 * 1024 * 1024
#: bodies with at least this much still due are received straight into their own buffer
_DIRECT_BODY_MIN = 16 * 1024
#: the buffer is compacted (or grown) when less than this much room is left for a read
_MIN_READ = 4096
# zero bytes to grow a body's capacity from (calloc'd: costs no memory until written)
_ZEROS = memoryview(bytes(1024 * 1024))  # equivalent-mutant: 1024 -> 1025, 1024 -> 1023: the block's size only sets in how many pieces a growth is appended; any positive size gives the same capacity


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
        self._error: HttpProtocolError | None = None
        self._error_raised = False
        # response under construction
        self._version = "1.1"
        self._status = 0
        self._reason = ""
        self._headers: Headers | None = None
        self._keep_alive = True
        self._body = bytearray()  # LENGTH: capacity = len(); valid bytes = _filled
        self._filled = 0
        self._remaining = 0  # LENGTH / CHUNK_DATA: bytes still due
        self._direct = False  # recv_view() handed out a slice of the body itself
        #: interim (1xx) responses skipped for the response now awaited
        self.informational = 0
        #: interim responses seen over the parser's life (lets a caller notice "100 Continue")
        self.interim_total = 0
        #: a final response ended the connection by its own framing (``Connection: close``,
        #: HTTP/1.0 without keep-alive, EOF-delimited body): requests behind it were never
        #: processed by the server (RFC 9112 9.6) and may be re-sent, whatever their method
        self.closed_by_response = False

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

    @property
    def failed(self) -> bool:
        """A malformed response was seen; :attr:`error` is (or was) raised by the next call."""
        return self._state == FAILED

    @property
    def error(self) -> HttpProtocolError | None:
        """The failure, once there is one."""
        return self._error

    # --- receiving -----------------------------------------------------------------------------

    def recv_view(self) -> memoryview:
        """Writable space for the next read. Drop it before the next ``commit``/``feed`` call."""
        state = self._state
        if state == LENGTH and self._end == self._start and self._remaining >= _DIRECT_BODY_MIN:
            # a large body with nothing buffered: read it straight into place
            self._grow_body(1)
            self._direct = True
            return memoryview(self._body)[self._filled :]
        if state == FAILED:
            self._check_failed()
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
            self._scan -= start  # may go below 0: _parse_head never searches before its start
            self._start, self._end = 0, end - start
            return
        # full of one unit (a head or a chunk line) still below its limit: grow; limits bound this
        grown = bytearray(len(self._buf) * 2)
        grown[:end] = self._view[:end]
        self._buf, self._view = grown, memoryview(grown)

    def _grow_body(self, need: int) -> None:
        """Room for ``need`` more body bytes: capacity follows the data received, doubling,
        never past the declared length (so a complete body is exactly full) and never more than
        :data:`BODY_FIRST_ALLOC` ahead of the first byte."""
        body = self._body
        cap, filled = len(body), self._filled
        target = filled + need
        if target <= cap:
            return
        step = min(max(cap, BODY_FIRST_ALLOC), _BODY_STEP_MAX)
        new = min(filled + self._remaining, max(target, cap + step))
        grow = new - cap
        zeros = _ZEROS
        # bytearray growth is a realloc (in place for large blocks, via mremap)
        while grow > 0:  # equivalent-mutant: 0 -> 1: grow == 1 comes only from _parse_length (the direct path grows by >= 16 KiB), whose slice assignment then appends that byte itself: same length, same bytes
            k = min(grow, len(zeros))
            body += zeros[:k]
            grow -= k

    def commit(self, n: int) -> list[Response]:
        """``n`` bytes were written into the last ``recv_view``; return the responses completed."""
        if self._direct:
            self._direct = False
            if n:
                self._filled += n
                self._remaining -= n
                if not self._remaining:
                    self._finish(self._take_body())
        elif self._state == FAILED:
            self._check_failed()
        else:
            self._end += n
        self._parse()
        return self._take_ready()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Response]:
        """Copy ``data`` in and parse it (for tests, replays and non-``recv_into`` sources)."""
        data = memoryview(data).cast("B")
        out: list[Response] = []
        pos, total = 0, len(data)
        self._check_failed()
        while pos < total:
            view = self.recv_view()
            n = min(len(view), total - pos)
            view[:n] = data[pos : pos + n]
            view.release()  # the body may be resized by commit
            pos += n
            out += self.commit(n)
            if self._state == FAILED:
                break  # what completed is returned; the error comes with the next call
        return out

    def feed_eof(self, truncated: bool = False) -> list[Response]:
        """The peer closed the connection. Ends an EOF-delimited body; mid-message it is an error.

        ``truncated``: the transport could not prove the close was the peer's (a TLS connection
        cut without ``close_notify``): an EOF-delimited body is then *not* accepted as complete.
        Content-Length and chunked bodies are judged by their own framing either way.
        """
        self._check_failed()
        state = self._state
        try:
            if state == UNTIL_EOF:
                if truncated:
                    raise HttpProtocolError(
                        "the TLS connection ended without close_notify inside a body delimited by "
                        "the connection's end: it may be truncated, so it is not accepted"
                    )
                self._finish(self._take_body())
            elif state == HEAD:
                if self._end > self._start:
                    raise HttpProtocolError("connection closed inside a response head")
            elif state != CLOSED:
                raise HttpProtocolError(f"connection closed before the response body was complete ({self.state})")
        except HttpProtocolError as exc:
            self._fail(exc)
            self._check_failed()
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
                else:
                    # CLOSED: bytes after a response that ended the connection are meaningless
                    self._start = self._end
        except HttpProtocolError as exc:
            self._fail(exc)
            if not self._ready:  # nothing finished to hand out first: raise now
                self._check_failed()

    def _check_bare_eol(self, start: int, scan: int, end: int, what: str) -> None:
        """Refuse a bare CR or LF in an incomplete block at once (searched from ``scan``: the
        bytes before it were checked by an earlier read; only incomplete reads pay for this)."""
        buf = self._buf
        if buf[start] == 10 or _BARE_EOL_RE.search(buf, scan, end) is not None:
            raise HttpProtocolError(f"bare CR or LF in {what} (HTTP/1.1 lines end with CRLF)")

    def _parse_head(self) -> bool:
        expected = self._expected
        if not expected:
            raise HttpProtocolError("received data while no request was outstanding")
        buf, start, end = self._buf, self._start, self._end
        scan = self._scan
        if scan < start:  # equivalent-mutant: Lt -> LtE: scan == start assigns the value scan already has
            scan = start
        idx = buf.find(b"\r\n\r\n", scan, end)
        limit = self._max_head
        if idx < 0:
            self._check_bare_eol(start, scan, end, "response head")
            if end - start > limit:
                raise HeaderTooLarge(f"response head exceeds max_header_bytes {limit}")
            # a CRLFCRLF may straddle the next read (clamped to start above)
            self._scan = end - 3  # equivalent-mutant: 3 -> 4: a CRLFCRLF starting at end - 4 lies in bytes already searched, where there was none
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
        # the common small response: the whole body is already here -- finish in place (the
        # LENGTH state would copy the same bytes and hand them out by the same size rule)
        if kind == _LENGTH and end - start >= length:  # equivalent-mutant: GtE -> Gt: with exactly the body buffered the LENGTH state copies the same bytes and _take_body applies the same bytes/bytearray rule
            self._start = start + length
            chunk = self._view[start : start + length]
            # the size rule of _take_body; a large body arrives whole only in a buffer grown by a head
            body: bytes | bytearray = bytes(chunk) if length <= SMALL_BODY else bytearray(chunk)
        elif kind == _NONE:
            body = b""
        else:
            self._version, self._status, self._reason = version, status, reason
            self._headers = Headers(pairs)
            self._keep_alive = keep_alive
            self._body = bytearray()
            self._filled = 0
            if kind == _LENGTH:
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
            self.closed_by_response = True
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
        self._grow_body(n)
        self._body[filled : filled + n] = self._view[start : start + n]
        self._filled = filled + n
        self._remaining -= n
        self._start = start + n
        if not self._remaining:
            self._finish(self._take_body())

    def _parse_chunk_size(self) -> bool:
        start, end = self._start, self._end
        buf = self._buf
        idx = buf.find(b"\r\n", start, end)
        limit = self.limits.max_chunk_line
        if idx < 0:
            self._check_bare_eol(start, start, end, "chunk-size line")
            # a final CR may be the first half of the line's CRLF: it does not count
            if end - start - (buf[end - 1] == 13) > limit:
                raise HttpProtocolError(f"chunk-size line exceeds max_chunk_line {limit}")
            return False
        if idx - start > limit:
            raise HttpProtocolError(f"chunk-size line exceeds max_chunk_line {limit}")
        m = _CHUNK_LINE_RE.fullmatch(buf, start, idx)
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
        """Chunk data must be followed by exactly CRLF: both bytes are checked."""
        buf, start = self._buf, self._start
        if buf[start] != 13:  # the first byte can be judged alone
            raise HttpProtocolError("chunk data not followed by CRLF")
        if self._end - start < 2:
            return False
        if buf[start + 1] != 10:
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
        first = buf[start]  # a field name or the final CRLF: any other first byte is refused at once
        if first != 13 and not _is_token_byte(first):
            raise HttpProtocolError("malformed chunked trailer")
        idx = buf.find(b"\r\n\r\n", start, end)
        if idx < 0:  # equivalent-mutant: Lt -> LtE, 0 -> 1: both only add idx == 0, i.e. a CRLFCRLF at start == 0, which the startswith(CRLF) branch above took
            self._check_bare_eol(start, start, end, "chunked trailers")
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

    def _take_body(self) -> bytes | bytearray:
        body = self._body
        if self._state == LENGTH:
            del body[self._filled :]  # no-op for a complete body: its capacity is exactly its length
        self._body = bytearray()
        self._filled = 0
        # small bodies as bytes (the usual API answer); large ones without a second copy
        return bytes(body) if len(body) <= SMALL_BODY else body

    def _finish(self, body: bytes | bytearray) -> None:
        method = self._expected.popleft()
        self._ready.append(
            Response(self._status, self._reason, self._version, self._headers or Headers(), body, method, self._keep_alive)
        )
        self.informational = 0
        self._headers = None
        if self._keep_alive:
            self._state = HEAD
        else:
            self._state = CLOSED
            self.closed_by_response = True

    # --- failure -------------------------------------------------------------------------------

    def _fail(self, exc: HttpProtocolError) -> None:
        self._state = FAILED
        self._error = exc
        self._start = self._end = self._scan = 0

    def _check_failed(self) -> None:
        """Raise the failure: the original error the first time, a reminder after that."""
        if self._state == FAILED:
            error = self._error
            assert error is not None
            if not self._error_raised:
                self._error_raised = True
                raise error
            raise HttpProtocolError(f"parser already failed: {error}") from error


def _is_token_byte(b: int) -> bool:
    return 0x21 <= b <= 0x7E and b not in b'"(),/:;<=>?@[\\]{}'
