"""The one head parser (boomnet.http.head) on its own: find_head boundaries (the WebSocket
upgrade uses it), the precise error for each bad field line, keep-alive tokens."""

from __future__ import annotations

import pytest

from boomnet.errors import HeaderTooLarge, HttpProtocolError
from boomnet.http import HttpLimits
from boomnet.http.head import body_framing, find_head, parse_head

LIMITS = HttpLimits(max_header_bytes=64)


def head_of(total: int) -> bytes:
    base = b"HTTP/1.1 101 Switching\r\nX: \r\n\r\n"
    return base[:-4] + b"v" * (total - len(base)) + b"\r\n\r\n"


@pytest.mark.parametrize("size", [63, 64])
def test_find_head_up_to_the_limit(size):
    data = head_of(size)
    assert find_head(data + b"frames after", LIMITS) == size
    assert find_head(memoryview(bytearray(data)), LIMITS) == size


def test_find_head_one_past_the_limit():
    with pytest.raises(HeaderTooLarge):
        find_head(head_of(65), LIMITS)


def test_find_head_incomplete_waits_until_over_the_limit():
    data = head_of(64)
    assert find_head(data[:-1], LIMITS) == -1  # the final LF has not arrived
    assert find_head(data[:1], LIMITS) == -1
    assert find_head(b"", LIMITS) == -1
    with pytest.raises(HeaderTooLarge):  # 65 bytes and no terminator: it cannot fit any more
        find_head(b"HTTP/1.1 101 X\r\nY: " + b"z" * 60, LIMITS)


@pytest.mark.parametrize("data", [b"HTTP/1.1 101 X\n", b"\nHTTP", b"HTTP/1.1 101 X\r\nY: a\rZ"], ids=repr)
def test_find_head_bare_eol_refused_at_once(data):
    with pytest.raises(HttpProtocolError, match="bare CR or LF"):
        find_head(data, LIMITS)


def test_find_head_crlf_split_is_not_bare():
    assert find_head(b"HTTP/1.1 101 X\r", LIMITS) == -1


@pytest.mark.parametrize(
    "fields, message",
    [
        ("X: a\r\n b", "obsolete line folding"),
        ("X: a\r\n\tb", "obsolete line folding"),
        ("X: a\nY: b", "bare CR or LF"),
        ("X: a\rY: b", "bare CR or LF"),
        ("no colon here", "without colon"),
        ("Bad Name: v", "invalid header name"),
        ("(x): v", "invalid header name"),
        (": v", "invalid header name"),
        ("X: a\x01b", "invalid character in value of header 'X'"),
        ("X: a\x7fb", "invalid character in value"),
    ],
)
def test_each_bad_field_line_gets_a_precise_message(fields, message):
    with pytest.raises(HttpProtocolError, match=message.replace("(", r"\(")):
        parse_head("HTTP/1.1 200 OK\r\nGood: yes\r\n" + fields, LIMITS)


@pytest.mark.parametrize(
    "version, connection, keep_alive",
    [
        ("1.1", None, True),
        ("1.1", "te", True),  # a token that is not "close" keeps an HTTP/1.1 connection
        ("1.1", "keep-alive", True),
        ("1.1", "close", False),
        ("1.1", "te, Close", False),
        ("1.0", None, False),
        ("1.0", "keep-alive", True),
        ("1.0", "te, keep-alive", True),
        ("1.0", "te", False),
        ("1.0", "keep-alive, close", False),
    ],
)
def test_keep_alive_tokens(version, connection, keep_alive):
    head = f"HTTP/{version} 200 OK\r\nContent-Length: 0"
    if connection is not None:
        head += f"\r\nConnection: {connection}"
    assert body_framing("GET", 200, version, head, LIMITS)[2] is keep_alive


def test_repeated_connection_fields_are_one_list():
    head = "HTTP/1.1 200 OK\r\nConnection: te\r\nConnection: close\r\nContent-Length: 0"
    assert body_framing("GET", 200, "1.1", head, LIMITS)[2] is False


@pytest.mark.parametrize("value", ["0, 5", "5, 0", "0,1", "00, 1"])
def test_conflicting_lengths_including_zero_refused(value):
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {value}"
    with pytest.raises(HttpProtocolError, match="conflicting"):
        body_framing("GET", 200, "1.1", head, LIMITS)


def test_repeated_zero_length_fields_must_agree():
    head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 3"
    with pytest.raises(HttpProtocolError, match="conflicting"):
        body_framing("GET", 200, "1.1", head, LIMITS)
    assert body_framing("GET", 200, "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0", LIMITS)[:2] == (0, 0)
