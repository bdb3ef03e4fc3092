"""The sans-I/O response parser on crafted byte strings (no sockets)."""

from __future__ import annotations

import pytest

from boomnet.errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError, LimitExceeded
from boomnet.http import HttpLimits, ResponseParser


def parse(data: bytes, methods=("GET",), limits: HttpLimits | None = None, eof: bool = False, step: int = 0):
    parser = ResponseParser(limits) if limits else ResponseParser()
    for m in methods:
        parser.expect(m)
    out = []
    if step:
        for i in range(0, len(data), step):
            out += parser.feed(data[i : i + step])
    else:
        out += parser.feed(data)
    if eof:
        out += parser.feed_eof()
    return out, parser


def test_content_length_response():
    (resp,), parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  spaced value \t\r\n\r\nhello")
    assert (resp.status, resp.reason, resp.http_version, resp.body) == (200, "OK", "1.1", b"hello")
    assert resp.headers["x-a"] == "spaced value"
    assert resp.headers.get("CONTENT-LENGTH") == "5"
    assert resp.keep_alive and parser.outstanding == 0 and parser.state == "HEAD"


def test_byte_by_byte_equals_whole():
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=val\r\nabc\r\n10 \r\n0123456789abcdef\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\n"
    )
    whole, _ = parse(data)
    bytewise, _ = parse(data, step=1)
    assert whole[0].body == bytewise[0].body == b"abc0123456789abcdef"


def test_empty_reason_and_missing_reason():
    (a,), _ = parse(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")
    (b,), _ = parse(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n")
    assert (a.status, a.reason, b.status, b.reason) == (200, "", 404, "")


def test_head_204_304_have_no_body_even_with_length():
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    out, parser = parse(data, methods=("HEAD", "GET", "GET", "GET"))
    assert [(r.status, r.body) for r in out] == [(200, b""), (204, b""), (304, b""), (200, b"ok")]
    assert parser.outstanding == 0


def test_interim_responses_skipped():
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    (resp,), parser = parse(data)
    assert resp.status == 200 and resp.body == b"x" and parser.interim_total == 2


def test_too_many_interim_responses():
    with pytest.raises(HttpProtocolError, match="interim"):
        parse(b"HTTP/1.1 100 Continue\r\n\r\n" * 5, limits=HttpLimits(max_informational=3))


def test_unsolicited_101_refused():
    with pytest.raises(HttpProtocolError, match="101"):
        parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")


def test_eof_delimited_body():
    out, parser = parse(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", eof=True)
    assert out[0].body == b"until the end" and not out[0].keep_alive and parser.closed


@pytest.mark.parametrize(
    "head, keep_alive",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", False),  # EOF-delimited: never reusable
    ],
)
def test_keep_alive_rules(head, keep_alive):
    out, _ = parse(head, eof=not keep_alive)
    assert out[0].keep_alive is keep_alive


def test_bytes_after_close_response_are_dropped():
    out, parser = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nxGARBAGE", methods=("GET", "GET"))
    assert len(out) == 1 and parser.closed


def test_identical_duplicate_content_length_accepted():
    (resp,), _ = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")
    assert resp.body == b"abc"


def test_large_body_received_in_place_across_reads():
    body = bytes(range(256)) * 4000
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"
    parser = ResponseParser(buffer_size=4096)
    parser.expect("GET")
    parser.expect("GET")
    out, pos = [], 0
    for _ in range(10_000):
        if pos >= len(data):
            break
        view = parser.recv_view()
        n = min(len(view), 3000, len(data) - pos)
        view[:n] = data[pos : pos + n]
        del view
        pos += n
        out += parser.commit(n)
    assert [r.body for r in out] == [body, b"z"]


def test_head_split_across_buffer_growth():
    big_header = b"X-Big: " + b"v" * 30000 + b"\r\n"
    data = b"HTTP/1.1 200 OK\r\n" + big_header * 1 + b"Content-Length: 2\r\n\r\nhi"
    parser = ResponseParser(buffer_size=1024)
    parser.expect("GET")
    out = []
    for i in range(0, len(data), 700):
        out += parser.feed(data[i : i + 700])
    assert out[0].body == b"hi" and len(out[0].headers["x-big"]) == 30000


# --- malformed ----------------------------------------------------------------------------------

MALFORMED = {
    "not http": b"SSH-2.0-OpenSSH\r\n\r\n",
    "bad version": b"HTTP/2.0 200 OK\r\n\r\n",
    "short status": b"HTTP/1.1 20 OK\r\n\r\n",
    "status letters": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "bare LF in head": b"HTTP/1.1 200 OK\r\nA: b\nC: d\r\nContent-Length: 0\r\n\r\n",
    "bare CR in value": b"HTTP/1.1 200 OK\r\nA: b\rC: d\r\nContent-Length: 0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\nContent-Length: 0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    "no colon": b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
    "NUL in value": b"HTTP/1.1 200 OK\r\nA: b\x00c\r\nContent-Length: 0\r\n\r\n",
    "empty name": b"HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 0\r\n\r\n",
    "conflicting lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "conflicting list": b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "plus length": b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    "hex length": b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
    "empty length": b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
    "unicode digit length": "HTTP/1.1 200 OK\r\nContent-Length: ²\r\n\r\n".encode("latin-1"),
    "length and chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "gzip coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "chunked twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "negative chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "0x chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "huge chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
    "chunk without CRLF": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "bad trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_raises_protocol_error(name):
    data = MALFORMED[name]
    with pytest.raises(HttpProtocolError):
        parse(data, eof=True)
    with pytest.raises(HttpProtocolError):  # the same, one byte at a time
        parse(data, eof=True, step=1)


def test_data_without_request_is_an_error():
    with pytest.raises(HttpProtocolError, match="no request"):
        parse(b"HTTP/1.1 200 OK\r\n\r\n", methods=())


def test_parser_stays_failed():
    parser = ResponseParser()
    parser.expect("GET")
    with pytest.raises(HttpProtocolError):
        parser.feed(b"garbage\r\n\r\n")
    with pytest.raises(HttpProtocolError, match="already failed"):
        parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
)
def test_eof_mid_response(data):
    with pytest.raises(HttpProtocolError, match="closed"):
        parse(data, eof=True)


def test_clean_eof_between_responses_is_not_an_error():
    out, parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", methods=("GET", "GET"), eof=True)
    assert len(out) == 1 and parser.outstanding == 1 and parser.closed and not parser.mid_response


# --- limits -------------------------------------------------------------------------------------


def test_header_block_too_large():
    limits = HttpLimits(max_header_bytes=1024)
    with pytest.raises(HeaderTooLarge):
        parse(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000 + b"\r\n\r\n", limits=limits)
    with pytest.raises(HeaderTooLarge):  # no terminator yet: refused as soon as it is too big
        parse(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000, limits=limits, step=100)


def test_default_header_limit_is_64k():
    with pytest.raises(HeaderTooLarge):
        parse(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", step=8192)
    ok, _ = parse(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 60000 + b"\r\nContent-Length: 0\r\n\r\n", step=8192)
    assert len(ok) == 1


def test_header_count_limit():
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(101))
    with pytest.raises(HeaderTooLarge, match="100"):
        parse(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")
    assert issubclass(HeaderTooLarge, LimitExceeded)


def test_body_limit_content_length_refused_upfront():
    with pytest.raises(BodyTooLarge):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", limits=HttpLimits(max_body_size=1000))
    with pytest.raises(BodyTooLarge):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")


def test_body_limit_chunked_and_eof():
    limits = HttpLimits(max_body_size=10)
    with pytest.raises(BodyTooLarge):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n", limits=limits)
    with pytest.raises(BodyTooLarge):
        parse(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11, limits=limits, step=3)


def test_trailer_limits():
    many = b"".join(b"T%d: v\r\n" % i for i in range(101))
    with pytest.raises(HeaderTooLarge):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + many + b"\r\n")
    with pytest.raises(HeaderTooLarge):
        parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"a" * 2000,
            limits=HttpLimits(max_header_bytes=1024),
        )


def test_chunk_line_limit():
    with pytest.raises(HttpProtocolError, match="max_chunk_line"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 5000, step=1000)


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        HttpLimits(max_body_size=0)
