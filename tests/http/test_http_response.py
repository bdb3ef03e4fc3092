"""Response and Headers conveniences."""

from __future__ import annotations

from boomnet.http import Headers, ResponseParser


def _one(raw: bytes):
    parser = ResponseParser()
    parser.expect("GET")
    (resp,) = parser.feed(raw)
    return resp


def test_headers_case_insensitive_multi():
    h = Headers([("Set-Cookie", "a=1"), ("X-One", "1"), ("set-cookie", "b=2")])
    assert h["SET-COOKIE"] == "a=1" and h.get_all("set-cookie") == ["a=1", "b=2"]
    assert "x-one" in h and "x-two" not in h and h.get("x-two", "d") == "d" and len(h) == 3
    assert list(h) == ["Set-Cookie", "X-One", "set-cookie"]


def test_text_charset_and_json():
    resp = _one(b'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset="latin-1"\r\nContent-Length: 12\r\n\r\n{"k": "\xe9t\xe9"}')
    assert resp.text() == '{"k": "\u00e9t\u00e9"}' and resp.ok
    resp = _one(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain; charset=no-such-codec\r\nContent-Length: 3\r\n\r\nabc")
    assert resp.text() == "abc"  # an unknown charset falls back to UTF-8
    assert not resp.ok and resp.reason == "Oops"
    assert _one(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a": [1]}').json() == {"a": [1]}
