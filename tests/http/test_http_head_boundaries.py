"""The head parser's edges (boomnet.http.head), each at its exact boundary (issue 19).

Framing by status and method and trailing whitespace are compared with h11; the others pin
documented rules: Content-Length digits (at most 18), error messages that quote at most 80 (40
for a length) characters of what the server sent, find_head finding (not judging) a head.
"""

from __future__ import annotations

import h11
import pytest

from boomnet.errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError
from boomnet.http import HttpLimits, ResponseParser
from boomnet.http.head import Framing, body_framing, find_head, parse_head

LIMITS = HttpLimits()


def h11_body(method: str, response: bytes) -> bytes | None:
    """The body h11 reads for ``response`` to ``method`` (None: no body, the response is complete
    with its head)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "h")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(response)
    conn.receive_data(b"")  # EOF: ends an EOF-delimited body
    body, saw_data = b"", False
    for _ in range(100):
        event = conn.next_event()
        if isinstance(event, h11.Data):
            body += event.data
            saw_data = True
        elif isinstance(event, h11.EndOfMessage):
            return body if saw_data else None
        elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            raise AssertionError(f"h11 did not finish: {event!r}")
    raise AssertionError("h11 produced too many events")


# --- framing by method and status (RFC 9112 6.3), against h11 ------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize("status", [200, 201, 203, 204, 205, 299, 300, 303, 304, 305, 404, 500])
def test_which_responses_have_a_body_same_as_h11(method, status):
    response = b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\nhello" % status
    p = ResponseParser(LIMITS)
    p.expect(method)
    out = p.feed(response)
    expected = h11_body(method, response)
    assert [r.status for r in out] == [status]
    assert out[0].body == (expected or b"")
    kind = body_framing(method, status, "1.1", response.split(b"\r\n\r\n")[0].decode(), LIMITS)[0]
    assert kind == (Framing.NONE if expected is None else Framing.LENGTH)


@pytest.mark.parametrize("status, kind", [(100, Framing.NONE), (199, Framing.NONE), (200, Framing.EOF), (204, Framing.NONE)])
def test_body_framing_of_interim_and_unframed_statuses(status, kind):
    # the WebSocket upgrade calls body_framing for any status: 1xx never has a body
    assert body_framing("GET", status, "1.1", f"HTTP/1.1 {status} X", LIMITS)[0] == kind


# --- trailing whitespace of a field value is not part of it (RFC 9110 5.5), like h11 --------------


def h11_headers(response: bytes) -> list[tuple[bytes, bytes]]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "h")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(response)
    event = conn.next_event()
    assert isinstance(event, h11.Response)
    return [(bytes(n), bytes(v)) for n, v in event.headers.raw_items()]


@pytest.mark.parametrize(
    "fields",
    [
        b"A: x \r\nB: y\r\nContent-Length: 0",  # a space before a CRLF
        b"A: x\t\r\nB: y\r\nContent-Length: 0",  # a tab before a CRLF
        b"Content-Length: 0\r\nA: x ",  # a space at the very end of the head
        b"Content-Length: 0\r\nA: x\t",  # a tab at the very end of the head
        b"Content-Length: 0\r\nA: x \t \r\nB:  y\t",
        b"Content-Length: 0\r\nA: x y\r\nB: \t",
    ],
    ids=repr,
)
def test_trailing_whitespace_dropped_same_as_h11(fields):
    response = b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n\r\n"
    p = ResponseParser(LIMITS)
    p.expect("GET")
    (resp,) = p.feed(response)
    ours = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in resp.headers.items()]
    assert ours == h11_headers(response)


# --- Content-Length: at most 18 digits, whatever max_body_size allows -----------------------------

HUGE = HttpLimits(max_body_size=10**20)


@pytest.mark.parametrize("value", ["9" * 18, "9" * 18 + " ", "9" * 18 + ", " + "9" * 18, "0" * 17 + "7"], ids=repr)
def test_content_length_of_18_digits_accepted(value):
    # the single-value fast path and the general parser (whitespace, a repeated value) agree
    kind, length, _ = body_framing("GET", 200, "1.1", f"HTTP/1.1 200 OK\r\nContent-Length: {value}", HUGE)
    assert kind == Framing.LENGTH and length == int(value.split(",")[0])


@pytest.mark.parametrize("value", ["1" + "0" * 18, "1" + "0" * 18 + " ", "5, 1" + "0" * 18, "0" * 19], ids=repr)
def test_content_length_of_19_digits_refused(value):
    with pytest.raises(BodyTooLarge, match="absurdly large"):
        body_framing("GET", 200, "1.1", f"HTTP/1.1 200 OK\r\nContent-Length: {value}", HUGE)


def test_content_length_within_18_digits_still_bounded_by_max_body_size():
    with pytest.raises(BodyTooLarge, match="exceeds max_body_size 67108864"):
        body_framing("GET", 200, "1.1", "HTTP/1.1 200 OK\r\nContent-Length: " + "9" * 18, LIMITS)


# --- error messages quote what the server sent, bounded ------------------------------------------


def _message(head: str) -> str:
    with pytest.raises(HttpProtocolError) as info:
        parse_head(head, LIMITS)
    return str(info.value)


@pytest.mark.parametrize("n", [79, 80, 81])
def test_bad_status_line_quoted_up_to_80_characters(n):
    line = "HTTP/1.1 2 " + "r" * (n - 11)
    assert len(line) == n
    assert _message(line + "\r\nX: y") == f"malformed status line {line[:80]!r}"


def test_bad_status_line_quoted_without_the_fields_after_it():
    assert _message("HTTP/1.1 20 OK\r\nX: y") == "malformed status line 'HTTP/1.1 20 OK'"
    assert _message("HTTP/1.1 20 OK") == "malformed status line 'HTTP/1.1 20 OK'"


@pytest.mark.parametrize("n", [79, 80, 81])
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s: " " + s, "obsolete line folding in header block: {!r}"),
        (lambda s: "X" + s + "\n", "bare CR or LF in header field: {!r}"),
        (lambda s: "X" + s, "header line without colon: {!r}"),
    ],
    ids=["fold", "bare-lf", "no-colon"],
)
def test_bad_field_line_quoted_up_to_80_characters(n, make, message):
    line = make("v" * n)
    for before in ("", "Good: yes\r\n"):  # the bad line first, or after a good one
        assert _message("HTTP/1.1 200 OK\r\n" + before + line) == message.format(line[:80])


@pytest.mark.parametrize("n", [79, 80, 81])
def test_bad_field_name_and_value_quote_the_name_up_to_80_characters(n):
    name = "N" * n
    assert _message(f"HTTP/1.1 200 OK\r\n{name}(: v") == f"invalid header name {(name + '(')[:80]!r}"
    assert _message(f"HTTP/1.1 200 OK\r\n{name}: a\x01") == f"invalid character in value of header {name[:80]!r}"


def test_bad_first_field_reported_as_itself():
    assert _message("HTTP/1.1 200 OK\r\n: v") == "invalid header name ''"
    assert _message("HTTP/1.1 200 OK\r\nX\x01: v") == "invalid header name 'X\\x01'"


@pytest.mark.parametrize("code", ["000", "099"])
def test_invalid_status_code_quoted(code):
    assert _message(f"HTTP/1.1 {code} OK") == f"invalid status code {code}"


def test_version_and_reason_as_sent():
    assert parse_head("HTTP/1.0 404 Not Found", LIMITS) == ("1.0", 404, "Not Found", [])
    assert parse_head("HTTP/1.1 200", LIMITS) == ("1.1", 200, "", [])


@pytest.mark.parametrize("n", [39, 40, 41])
def test_bad_content_length_quoted_up_to_40_characters(n):
    value = "5, " + "x" * (n - 3)
    assert len(value) == n
    with pytest.raises(HttpProtocolError) as info:
        body_framing("GET", 200, "1.1", f"HTTP/1.1 200 OK\r\nContent-Length: {value}", LIMITS)
    assert str(info.value) == f"invalid Content-Length {value[:40]!r}"
    digits = "1" * (n + 19)
    with pytest.raises(BodyTooLarge) as big:
        body_framing("GET", 200, "1.1", f"HTTP/1.1 200 OK\r\nContent-Length: {digits} ", LIMITS)
    assert str(big.value) == f"Content-Length {digits[:40]}... is absurdly large"


@pytest.mark.parametrize("n", [39, 40, 41])
def test_bad_chunk_size_line_quoted_up_to_40_bytes(n):
    line = b"z" * n
    p = ResponseParser(LIMITS)
    p.expect("GET")
    with pytest.raises(HttpProtocolError) as info:
        p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line + b"\r\n")
    assert str(info.value) == f"invalid chunk-size line {line[:40]!r}"


# --- find_head finds the end of a head; parse_head judges what is in it ---------------------------


def test_find_head_of_an_empty_head():
    assert find_head(b"\r\n\r\nrest", LIMITS) == 4
    with pytest.raises(HttpProtocolError, match="malformed status line"):
        parse_head("", LIMITS)


@pytest.mark.parametrize("size, waits", [(63, True), (64, True), (65, False)])
def test_find_head_unterminated_at_the_limit(size, waits):
    # the same rule as the response parser: refused once more than max_header_bytes arrived
    limits = HttpLimits(max_header_bytes=64)
    data = b"HTTP/1.1 101 X\r\nY: " + b"z" * (size - 19)
    assert len(data) == size
    if waits:
        assert find_head(data, limits) == -1
    else:
        with pytest.raises(HeaderTooLarge):
            find_head(data, limits)
