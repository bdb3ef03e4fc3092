"""Request encoding and URL handling: the client refuses to send anything that could inject."""

from __future__ import annotations

import pytest

from boomnet.errors import BoomnetError, HttpProtocolError
from boomnet.http import InvalidHttpRequest, encode_request, parse_url


def test_minimal_get():
    head, body = encode_request("GET", "/a?b=c", "example.com")
    assert head == b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n" and body == b""


def test_body_gets_content_length_and_headers_keep_order():
    head, body = encode_request("POST", "/x", "h:81", [("X-A", "1"), ("x-b", "two words")], "héllo")
    assert head == b"POST /x HTTP/1.1\r\nHost: h:81\r\nX-A: 1\r\nx-b: two words\r\nContent-Length: 6\r\n\r\n"
    assert body == "héllo".encode()


def test_empty_post_says_length_zero_and_user_host_wins():
    head, _ = encode_request("POST", "/", "ignored", {"Host": "given"})
    assert head == b"POST / HTTP/1.1\r\nHost: given\r\nContent-Length: 0\r\n\r\n"


def test_caller_framed_chunked_body_untouched():
    head, body = encode_request("POST", "/", "h", {"Transfer-Encoding": "chunked"}, b"0\r\n\r\n")
    assert b"Content-Length" not in head and body == b"0\r\n\r\n"


@pytest.mark.parametrize(
    "method, target, headers",
    [
        ("GET", "/a\r\nX-Injected: 1", None),
        ("GET", "/a b", None),
        ("GET", "/a\nb", None),
        ("GET", "", None),
        ("GE T", "/", None),
        ("GET\r\n", "/", None),
        ("GET", "/", {"X-A": "v\r\nX-Injected: 1"}),
        ("GET", "/", {"X-A": "v\nb"}),
        ("GET", "/", {"X-A": "v\rb"}),
        ("GET", "/", {"X-A": "v\x00"}),
        ("GET", "/", {"X-A\r\nB": "v"}),
        ("GET", "/", {"X A": "v"}),
        ("GET", "/", {"": "v"}),
        ("GET", "/", {"X-A:": "v"}),
        ("GET", "/", {"X-U": "\u2603"}),
        ("POST", "/", {"Content-Length": "3"}),  # does not match the (empty) body
    ],
)
def test_injection_refused(method, target, headers):
    with pytest.raises(InvalidHttpRequest) as info:
        encode_request(method, target, "h", headers)
    assert isinstance(info.value, (HttpProtocolError, ValueError, BoomnetError))


def test_host_injection_refused():
    with pytest.raises(InvalidHttpRequest):
        encode_request("GET", "/", "h\r\nX: y")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://example.com", ("http", "example.com", 80, "/", "example.com")),
        ("https://example.com/p?q=1#frag", ("https", "example.com", 443, "/p?q=1", "example.com")),
        ("http://127.0.0.1:8080/x", ("http", "127.0.0.1", 8080, "/x", "127.0.0.1:8080")),
        ("http://[::1]:81/", ("http", "::1", 81, "/", "[::1]:81")),
        ("HTTPS://Host.Example:443/", ("https", "host.example", 443, "/", "host.example")),
        ("http://h/caf\u00e9 /", ("http", "h", 80, "/caf%C3%A9%20/", "h")),
    ],
)
def test_parse_url(url, expected):
    if " " in url:
        with pytest.raises(InvalidHttpRequest):
            parse_url(url)
        url = url.replace(" ", "")
        expected = expected[:3] + ("/caf%C3%A9/",) + expected[4:]
    u = parse_url(url)
    assert (u.scheme, u.host, u.port, u.target, u.host_header) == expected


@pytest.mark.parametrize(
    "url",
    ["ftp://h/", "http:///path", "http://h:99999/", "http://user:pw@h/", "http://h/\r\nX: 1", "//h/x"],
)
def test_bad_urls(url):
    with pytest.raises(InvalidHttpRequest):
        parse_url(url)
