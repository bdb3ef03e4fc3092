"""The one HTTP/1.x response-head parser of boomnet: status line + header fields, and how the
body is framed.

Used by the HTTP client's :class:`~boomnet.http.parser.ResponseParser` and by the WebSocket
upgrade (``boomnet.ws.handshake.parse_response``), so both refuse the same malformed heads.

The head arrives as one latin-1 decoded string without the final blank line. It is validated
in one regular-expression pass (C speed) before being split, so every later step may trust it:
no bare CR or LF, no obs-fold continuation lines, no control characters, names are tokens.
"""

from __future__ import annotations

import re

from ..errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError
from .limits import HttpLimits

__all__ = ["parse_head", "find_head", "Framing", "body_framing", "TOKEN_RE", "FIELD_VALUE_RE"]

_TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# field-value: visible ASCII, obs-text, SP and HTAB; everything else (CR, LF, NUL, DEL, ...) is refused
_VALUE = r"[\t \x21-\x7e\x80-\xff]*"

TOKEN_RE = re.compile(_TOKEN)
FIELD_VALUE_RE = re.compile(_VALUE)
# the status line must end at CRLF or at the end of the head (the reason admits no CR/LF)
_STATUS_RE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: (" + _VALUE + r"))?(?=\r\n|\Z)")
# every line after the status line; a line starting with SP/HTAB (obs-fold) fails the token
_FIELDS_RE = re.compile(r"(?:\r\n" + _TOKEN + ":" + _VALUE + r")*")
# extraction, run only on a head _FIELDS_RE accepted: leading OWS dropped, trailing OWS kept
_PAIR_RE = re.compile(r"\r\n([^:]*):[ \t]*([^\r]*)")
# the three fields that decide framing and keep-alive, found in the lower-cased head
_FRAMING_RE = re.compile(r"\r\n(content-length|transfer-encoding|connection):[ \t]*([^\r]*)")
_DIGITS_RE = re.compile(r"[0-9]+")
# a CR not followed by LF, or an LF not preceded by CR (bytes)
_BARE_EOL_RE = re.compile(rb"\r[^\n]|(?<!\r)\n")


def find_head(data: bytes | bytearray | memoryview, limits: HttpLimits) -> int:
    """Where the head in ``data`` ends (the index after its CRLFCRLF), or -1 if incomplete.

    Raises :class:`HeaderTooLarge` past ``limits.max_header_bytes`` and
    :class:`HttpProtocolError` at once for a bare CR or LF (which would otherwise wait for a
    terminator that never comes). For one-shot heads (the WebSocket upgrade); the response
    parser does the same incrementally.
    """
    limit = limits.max_header_bytes
    buf = bytes(data[: limit + 1])  # equivalent-mutant: 1 -> 2: one more byte cannot change a verdict: a terminator ending past limit and a buffer longer than limit are both refused
    idx = buf.find(b"\r\n\r\n")
    if idx >= 0 and idx + 4 <= limit:
        return idx + 4
    # a terminator found past the limit lies inside buf, so buf is longer than limit then too
    if len(buf) > limit:
        raise HeaderTooLarge(f"response head exceeds max_header_bytes {limit}")
    # (an LF at offset 0 is bare too: the look-behind sees no CR before the start of buf)
    if _BARE_EOL_RE.search(buf) is not None:
        raise HttpProtocolError("bare CR or LF in response head (HTTP/1.1 lines end with CRLF)")
    return -1


def parse_head(text: str, limits: HttpLimits) -> tuple[str, int, str, list[tuple[str, str]]]:
    """Return ``(http_version, status, reason, [(name, value), ...])`` of a response head.

    Raises :class:`HttpProtocolError` for anything malformed, :class:`HeaderTooLarge` for too
    many fields. Two C-speed passes: validate every field line, then extract the pairs.
    """
    m = _STATUS_RE.match(text)
    if m is None:
        raise HttpProtocolError(f"malformed status line {text.partition(chr(13))[0][:80]!r}")
    eol = m.end()
    if eol == len(text):
        pairs: list[tuple[str, str]] = []
    else:
        if _FIELDS_RE.fullmatch(text, eol) is None:
            raise HttpProtocolError(_describe_bad_field(text[eol + 2 :]))
        pairs = _PAIR_RE.findall(text, eol)
        if len(pairs) > limits.max_header_count:
            raise HeaderTooLarge(f"more than {limits.max_header_count} header fields")
        if " \r" in text or "\t\r" in text or text[-1] in " \t":  # rare: trailing whitespace
            pairs = [(name, value.rstrip(" \t")) for name, value in pairs]
    status = int(m.group(2))
    if status < 100:  # 000-099 is no status class (RFC 9110 15); never treat it as interim
        raise HttpProtocolError(f"invalid status code {m.group(2)}")
    return ("1.1" if m.group(1) == "1" else "1.0"), status, m.group(3) or "", pairs


def _describe_bad_field(block: str) -> str:
    """A precise message for the first invalid field line (cold path)."""
    for line in block.split("\r\n"):
        if line[:1] in (" ", "\t"):
            return f"obsolete line folding in header block: {line[:80]!r}"
        if "\r" in line or "\n" in line:
            return f"bare CR or LF in header field: {line[:80]!r}"
        name, colon, value = line.partition(":")
        if not colon:
            return f"header line without colon: {line[:80]!r}"
        if TOKEN_RE.fullmatch(name) is None:
            return f"invalid header name {name[:80]!r}"
        if FIELD_VALUE_RE.fullmatch(value) is None:
            return f"invalid character in value of header {name[:80]!r}"
    return "malformed header block"


class Framing:
    """How a response body ends. ``kind`` is one of the class constants; ``length`` for LENGTH."""

    NONE = 0  # no body: HEAD, 1xx, 204, 304, or Content-Length: 0
    LENGTH = 1  # exactly ``length`` bytes
    CHUNKED = 2  # Transfer-Encoding: chunked
    EOF = 3  # until the server closes the connection

    __slots__ = ()


def body_framing(method: str, status: int, http_version: str, head: str, limits: HttpLimits) -> tuple[int, int, bool]:
    """Return ``(kind, length, keep_alive)`` for a validated response ``head`` (RFC 9112 6.3).

    Conflicting framing (differing Content-Length values, Content-Length with chunked,
    unknown transfer codings, non-digit lengths) is an :class:`HttpProtocolError`.
    """
    length = -1
    lengths: list[str] | None = None
    chunked = False
    codings: list[str] | None = None
    connection = ""
    for name, value in _FRAMING_RE.findall(head.lower()):
        if name == "content-length":
            if lengths is None:
                lengths = [value]
            else:
                lengths.append(value)
        elif name == "connection":
            connection = f"{connection},{value}" if connection else value
        elif codings is None:
            codings = [value]
        else:
            codings.append(value)

    if not connection:
        keep_alive = http_version == "1.1"
    elif connection == "keep-alive":
        keep_alive = True
    elif connection == "close":
        keep_alive = False
    else:
        tokens = {t.strip(" \t") for t in connection.split(",")}
        keep_alive = "close" not in tokens and (http_version == "1.1" or "keep-alive" in tokens)

    if lengths is not None:
        # the common case, one plain value, without the general parser (which gives the same
        # answer for it: a mutant that only sends more values the general way is equivalent)
        value = lengths[0]  # equivalent-mutant: 0 -> -1: value is used only when len(lengths) == 1, where lengths[-1] is lengths[0]
        if len(lengths) == 1 and value.isdigit() and value.isascii() and len(value) <= 18:  # equivalent-mutant: 1 -> 0, LtE -> Lt, 18 -> 17: each only sends a plain value of at most 18 digits to _content_length, which returns the same int for it
            length = int(value)
        else:
            length = _content_length(lengths)
    if codings is not None:
        if lengths is not None:
            raise HttpProtocolError("response has both Content-Length and Transfer-Encoding")
        tokens_list = [t.strip(" \t") for v in codings for t in v.split(",")]
        if tokens_list != ["chunked"]:
            raise HttpProtocolError(f"unsupported Transfer-Encoding {', '.join(codings)!r}")
        chunked = True
        if http_version == "1.0":
            # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; read
            # this one as chunked, then close the connection
            keep_alive = False

    if method == "HEAD" or status < 200 or status == 204 or status == 304:
        return Framing.NONE, 0, keep_alive
    if chunked:
        return Framing.CHUNKED, -1, keep_alive
    if length >= 0:
        if length > limits.max_body_size:
            raise BodyTooLarge(f"Content-Length {length} exceeds max_body_size {limits.max_body_size}")
        return (Framing.LENGTH if length else Framing.NONE), length, keep_alive
    return Framing.EOF, -1, False


def _content_length(values: list[str]) -> int:
    """One length from possibly repeated / comma-listed Content-Length values; all must agree."""
    found = -1
    for value in values:
        for part in value.split(","):
            part = part.strip(" \t")
            if _DIGITS_RE.fullmatch(part) is None:
                raise HttpProtocolError(f"invalid Content-Length {value[:40]!r}")
            if len(part) > 18:
                raise BodyTooLarge(f"Content-Length {part[:40]}... is absurdly large")
            n = int(part)
            if found >= 0 and n != found:
                raise HttpProtocolError(f"conflicting Content-Length values {values!r}")
            found = n
    return found
