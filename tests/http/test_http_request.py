"""Request encoding and URL handling: the client refuses to send anything that could inject."""

from __future__ import annotations

import pytest

import boomnet.url
from boomnet.errors import InvalidUrl, LocalError, ProtocolError
from boomnet.http import InvalidHttpRequest, Url, encode_request, parse_url
from boomnet.http.client import HTTP_SCHEMES


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


# --- request framing: Content-Length and Transfer-Encoding (issue 19 guard) ----------------------


@pytest.mark.parametrize("names", [("Content-Length", "Transfer-Encoding"), ("content-length", "TRANSFER-ENCODING")])
def test_content_length_with_transfer_encoding_refused(names):
    # both framings in one request is how request smuggling starts: never send it
    cl, te = names
    with pytest.raises(InvalidHttpRequest, match="both Content-Length and Transfer-Encoding"):
        encode_request("POST", "/", "h", [(cl, "5"), (te, "chunked")], b"hello")
    with pytest.raises(InvalidHttpRequest, match="both Content-Length and Transfer-Encoding"):
        encode_request("POST", "/", "h", [(te, "chunked"), (cl, "5")], b"hello")


@pytest.mark.parametrize("value", ["5", " 5", "5 "])
def test_matching_user_content_length_accepted_once(value):
    head, body = encode_request("POST", "/", "h", {"Content-Length": value}, b"hello")
    assert body == b"hello"
    assert head == f"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n".encode()
    assert head.lower().count(b"content-length") == 1  # not added a second time


@pytest.mark.parametrize("value", ["4", "6", "05", "+5", "0x5", "", "5, 5"])
def test_mismatching_user_content_length_refused(value):
    with pytest.raises(InvalidHttpRequest, match="does not match"):
        encode_request("POST", "/", "h", {"Content-Length": value}, b"hello")


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
    # the caller's fault (Local), never reported as the peer breaking the protocol (Remote)
    assert isinstance(info.value, LocalError) and not isinstance(info.value, ProtocolError)


def test_host_injection_refused():
    with pytest.raises(InvalidHttpRequest):
        encode_request("GET", "/", "h\r\nX: y")


def test_parse_url_is_the_one_url_parser():
    # boomnet.http re-exports boomnet.url's function and type: there is no second URL type
    assert parse_url is boomnet.url.parse_url and Url is boomnet.url.Url


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://example.com", ("http", "example.com", 80, "/", "example.com", False)),
        ("https://example.com/p?q=1", ("https", "example.com", 443, "/p?q=1", "example.com", True)),
        ("http://127.0.0.1:8080/x", ("http", "127.0.0.1", 8080, "/x", "127.0.0.1:8080", False)),
        ("http://[::1]:81/", ("http", "::1", 81, "/", "[::1]:81", False)),
        ("HTTPS://Host.Example:443/", ("https", "host.example", 443, "/", "host.example", True)),
        ("http://h/caf\u00e9/", ("http", "h", 80, "/caf%C3%A9/", "h", False)),
    ],
)
def test_parse_url(url, expected):
    u = parse_url(url, HTTP_SCHEMES)
    assert (u.scheme, u.host, u.port, u.target, u.host_header, u.secure) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/",
        "ws://h/",  # a URL boomnet knows, but not one the HTTP client connects to
        "http:///path",
        "http://h:99999/",
        "http://user:pw@h/",
        "http://h/\r\nX: 1",
        "http://h/a b",
        "//h/x",
        "https://example.com/p#frag",  # fragments are refused (boomnet.url), not silently dropped
    ],
)
def test_bad_urls(url):
    with pytest.raises(InvalidUrl):
        parse_url(url, HTTP_SCHEMES)


def test_clients_refuse_bad_urls_as_invalid_url():
    from boomnet.http import HttpClient, HttpEndpoint

    with pytest.raises(InvalidUrl):
        HttpEndpoint("ws://h/")
    with HttpClient() as client, pytest.raises(InvalidUrl):
        client.get("ftp://h/")


@pytest.mark.parametrize("body", [bytearray(b"hello"), memoryview(b"hello"), "hello", b"hello"], ids=type)
def test_body_is_always_returned_as_bytes(body):
    head, out = encode_request("POST", "/", "h", None, body)
    assert type(out) is bytes and out == b"hello" and head.endswith(b"Content-Length: 5\r\n\r\n")
