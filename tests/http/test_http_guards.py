"""The parser's safety guards at their exact boundaries (issue 19), and the framing rules of issue
10: finished responses survive a later error, bare LF is refused at once, HTTP/1.0 with
Transfer-Encoding closes, body buffers follow the data, a TLS-truncated EOF body is refused.

Each test here was seen to fail with its guard broken (see the http notes for the list).
"""

from __future__ import annotations

import pytest

from boomnet.errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError
from boomnet.http import HttpLimits, ResponseParser
from boomnet.http.parser import BODY_FIRST_ALLOC, SMALL_BODY

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def parser_for(n: int = 1, limits: HttpLimits | None = None, buffer_size: int = 64 * 1024) -> ResponseParser:
    p = ResponseParser(limits or HttpLimits(), buffer_size=buffer_size)
    for _ in range(n):
        p.expect("GET")
    return p


def feed_all(data: bytes, n: int = 1, limits: HttpLimits | None = None, step: int = 0, eof: bool = False):
    p = parser_for(n, limits)
    out = []
    if step:
        for i in range(0, len(data), step):
            out += p.feed(data[i : i + step])
    else:
        out += p.feed(data)
    if eof:
        out += p.feed_eof()
    return out, p


# --- chunk terminator: both bytes of the CRLF after chunk data are checked ----------------------

CHUNK_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("after", [b"\rX", b"X\n", b"\n", b"\n\r", b"\r\r", b"XY"], ids=repr)
@pytest.mark.parametrize("step", [0, 1])
def test_chunk_data_must_end_in_crlf(after, step):
    data = CHUNK_HEAD + b"3\r\nabc" + after + b"0\r\n\r\n"
    with pytest.raises(HttpProtocolError, match="not followed by CRLF"):
        feed_all(data, step=step)


def test_chunk_terminator_judged_without_waiting():
    # a wrong first byte is refused at once; the right CR alone waits for its LF
    p = parser_for()
    p.feed(CHUNK_HEAD + b"3\r\nabc\r")
    assert p.state == "CHUNK_END"
    with pytest.raises(HttpProtocolError):
        p.feed(b"X")
    with pytest.raises(HttpProtocolError):
        parser_for().feed(CHUNK_HEAD + b"3\r\nabcX")


def test_chunk_crlf_accepted():
    (resp,), _ = feed_all(CHUNK_HEAD + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", step=1)
    assert resp.body == b"abcde"


# --- body limit: exactly max_body_size is accepted, one byte more is refused ----------------------

LIMIT = 100


def _chunked(body: bytes, size: int = 7) -> bytes:
    out = CHUNK_HEAD
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


def _length(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _until_eof(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n\r\n" + body


@pytest.mark.parametrize("frame", [_chunked, _length, _until_eof], ids=["chunked", "length", "eof"])
@pytest.mark.parametrize("size, ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("step", [0, 1, 13])
def test_body_limit_boundary(frame, size, ok, step):
    body = bytes(range(256))[:size] if size <= 256 else b"x" * size
    limits = HttpLimits(max_body_size=LIMIT)
    if ok:
        (resp,), _ = feed_all(frame(body), limits=limits, step=step, eof=True)
        assert resp.body == body
    else:
        with pytest.raises(BodyTooLarge):
            feed_all(frame(body), limits=limits, step=step, eof=True)


def test_chunked_limit_counts_every_chunk():
    # one chunk exactly at the limit after others: the sum is what is compared
    limits = HttpLimits(max_body_size=10)
    (resp,), _ = feed_all(CHUNK_HEAD + b"4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n", limits=limits)
    assert resp.body == b"abcdefghij"
    with pytest.raises(BodyTooLarge):
        feed_all(CHUNK_HEAD + b"4\r\nabcd\r\n7\r\nefghijk\r\n0\r\n\r\n", limits=limits)


# --- header block size and count --------------------------------------------------------------


def _head_of_size(total: int) -> bytes:
    """A complete response head (blank line included) of exactly ``total`` bytes, no body."""
    base = b"HTTP/1.1 204 No Content\r\nX: \r\n\r\n"
    return base[:-4] + b"v" * (total - len(base)) + b"\r\n\r\n"


@pytest.mark.parametrize("step", [0, 1, 50])
@pytest.mark.parametrize("size, ok", [(1023, True), (1024, True), (1025, False)])
def test_header_bytes_boundary(size, ok, step):
    data = _head_of_size(size)
    assert len(data) == size
    limits = HttpLimits(max_header_bytes=1024)
    if ok:
        (resp,), _ = feed_all(data, limits=limits, step=step)
        assert resp.status == 204
    else:
        with pytest.raises(HeaderTooLarge):
            feed_all(data, limits=limits, step=step)


@pytest.mark.parametrize("count, ok", [(9, True), (10, True), (11, False)])
def test_header_count_boundary(count, ok):
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(count - 1)) + b"Content-Length: 0\r\n"
    data = b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n"
    limits = HttpLimits(max_header_count=10)
    if ok:
        (resp,), _ = feed_all(data, limits=limits)
        assert len(resp.headers) == count
    else:
        with pytest.raises(HeaderTooLarge):
            feed_all(data, limits=limits)


@pytest.mark.parametrize("count, ok", [(9, True), (10, True), (11, False)])
def test_trailer_count_boundary(count, ok):
    trailers = b"".join(b"T-%d: v\r\n" % i for i in range(count))
    data = CHUNK_HEAD + b"1\r\na\r\n0\r\n" + trailers + b"\r\n"
    limits = HttpLimits(max_header_count=10)
    if ok:
        (resp,), _ = feed_all(data, limits=limits)
        assert resp.body == b"a"
    else:
        with pytest.raises(HeaderTooLarge):
            feed_all(data, limits=limits)


@pytest.mark.parametrize("step", [0, 1])
@pytest.mark.parametrize("size, ok", [(63, True), (64, True), (65, False)])
def test_chunk_line_boundary(size, ok, step):
    line = b"1;" + b"e" * (size - 2)  # chunk-size line of exactly ``size`` bytes before its CRLF
    data = CHUNK_HEAD + line + b"\r\na\r\n0\r\n\r\n"
    limits = HttpLimits(max_chunk_line=64)
    if ok:
        (resp,), _ = feed_all(data, limits=limits, step=step)
        assert resp.body == b"a"
    else:
        with pytest.raises(HttpProtocolError, match="max_chunk_line"):
            feed_all(data, limits=limits, step=step)


# --- finished responses survive a later error in the same read ---------------------------------


def test_finished_responses_delivered_before_the_error():
    p = parser_for(3)
    out = p.feed(OK + OK + b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n")
    assert [r.body for r in out] == [b"ok", b"ok"] and p.failed
    with pytest.raises(HttpProtocolError, match="Content-Length"):  # the original error, next call
        p.feed(b"")
    with pytest.raises(HttpProtocolError, match="already failed"):
        p.feed_eof()


def test_finished_responses_delivered_through_commit():
    p = parser_for(2)
    view = p.recv_view()
    data = OK + b"garbage\r\n\r\n"
    view[: len(data)] = data
    del view
    (resp,) = p.commit(len(data))
    assert resp.body == b"ok"
    with pytest.raises(HttpProtocolError, match="malformed status line"):
        p.recv_view()


def test_error_with_nothing_finished_raises_at_once():
    with pytest.raises(HttpProtocolError):
        parser_for().feed(b"garbage\r\n\r\n")


# --- bare LF / bare CR: refused at once, not after the deadline -----------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\n",
        b"HTTP/1.1 200 OK\rX",
        b"\n",
    ],
    ids=repr,
)
@pytest.mark.parametrize("step", [0, 1])
def test_bare_lf_head_refused_without_waiting(data, step):
    # none of these is a complete head: a parser waiting for CRLFCRLF would return [] here
    with pytest.raises(HttpProtocolError, match="bare CR or LF"):
        feed_all(data, step=step)


def test_partial_crlf_head_still_waits():
    out, p = feed_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r", step=1)
    assert out == [] and not p.failed
    assert [r.status for r in p.feed(b"\n\r\n")] == [200]


@pytest.mark.parametrize("data", [CHUNK_HEAD + b"5\n", CHUNK_HEAD + b"0\r\nT: v\n"], ids=["chunk-line", "trailer"])
def test_bare_lf_in_chunk_line_and_trailer_refused_at_once(data):
    with pytest.raises(HttpProtocolError, match="bare CR or LF"):
        feed_all(data)


# --- HTTP/1.0 with Transfer-Encoding: read as chunked, then close (RFC 9112 6.1) ------------------


def test_http10_transfer_encoding_closes_the_connection():
    data = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    (resp,), p = feed_all(data + OK, n=2)
    assert resp.body == b"a" and resp.keep_alive is False and p.closed and p.closed_by_response
    assert p.outstanding == 1  # the second request was never processed: safe to re-send


def test_http11_chunked_keeps_the_connection():
    (resp,), p = feed_all(CHUNK_HEAD + b"1\r\na\r\n0\r\n\r\n")
    assert resp.keep_alive and not p.closed


# --- body buffers grow with the data, never from an untrusted Content-Length ---------------------


def test_huge_content_length_allocates_nothing_up_front():
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n")
    assert len(p._body) == 0  # a 60-byte head makes the client allocate nothing yet
    view = p.recv_view()  # a large body is received straight into its own buffer...
    assert len(view) <= BODY_FIRST_ALLOC  # ...allocated only a bounded step ahead of the data
    del view
    p.commit(0)


def test_large_body_capacity_follows_the_data_and_is_handed_out_uncopied():
    size = 3 * 1024 * 1024 + 5
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body
    p = parser_for(buffer_size=4096)
    pos, out, peak_ahead = 0, [], 0
    for _ in range(100_000):
        if pos >= len(data):
            break
        view = p.recv_view()
        n = min(len(view), 100_000, len(data) - pos)
        view[:n] = data[pos : pos + n]
        del view
        pos += n
        out += p.commit(n)
        if not out:
            peak_ahead = max(peak_ahead, len(p._body) - p._filled)
    (resp,) = out
    assert resp.body == body and isinstance(resp.body, bytearray)  # no final copy
    # capacity never ran further ahead of the data than it had received (doubling) or one step
    assert peak_ahead <= max(BODY_FIRST_ALLOC, size // 2 + 1)


@pytest.mark.parametrize("size", [0, 1, SMALL_BODY])
def test_small_bodies_are_bytes(size):
    for frame in (_length, _chunked):
        (resp,), _ = feed_all(frame(b"x" * size))
        assert type(resp.body) is bytes and len(resp.body) == size


def test_bodies_above_small_body_are_bytearrays():
    for frame in (_length, _chunked):
        (resp,), _ = feed_all(frame(b"x" * (SMALL_BODY + 1)), step=5000)
        assert type(resp.body) is bytearray and len(resp.body) == SMALL_BODY + 1


# --- a TLS cut without close_notify does not complete an EOF-delimited body ----------------------


def test_truncated_eof_body_refused():
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\n\r\nsome of the body")
    with pytest.raises(HttpProtocolError, match="close_notify"):
        p.feed_eof(truncated=True)


def test_clean_eof_completes_an_eof_body():
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\n\r\nall of the body")
    (resp,) = p.feed_eof()
    assert resp.body == b"all of the body"


@pytest.mark.parametrize("truncated", [False, True])
def test_framed_bodies_judged_by_their_framing_on_truncation(truncated):
    # a complete Content-Length / chunked response is complete whatever the EOF looked like
    out, p = feed_all(OK + CHUNK_HEAD + b"1\r\na\r\n0\r\n\r\n", n=3)
    assert len(out) == 2
    assert p.feed_eof(truncated=truncated) == []
    # an incomplete one is an error either way
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(HttpProtocolError, match="closed before"):
        p.feed_eof(truncated=truncated)


# --- status codes below 100 are invalid, not interim (found by the h11 differential fuzz) --------


@pytest.mark.parametrize("code", [b"000", b"099", b"001"])
def test_status_below_100_refused_not_skipped_as_interim(code):
    with pytest.raises(HttpProtocolError, match="invalid status code"):
        feed_all(b"HTTP/1.1 " + code + b" X\r\n\r\n" + OK)


@pytest.mark.parametrize("code", [b"100", b"199"])
def test_interim_statuses_skipped(code):
    (resp,), _ = feed_all(b"HTTP/1.1 " + code + b" X\r\n\r\n" + OK)
    assert resp.body == b"ok"


# --- edges found by the mutation run (tools/mutate.py) ---------------------------------------------


def test_mid_response_after_an_interim_response_only():
    # a 100 Continue arrived and nothing else: the request was seen, so it is not "stale"
    p = parser_for()
    assert not p.mid_response
    p.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert p.mid_response and p.state == "HEAD"
    q = parser_for()
    q.feed(b"HTTP/1.1 2")
    assert q.mid_response


def test_empty_head_refused_at_once():
    with pytest.raises(HttpProtocolError, match="malformed status line"):
        feed_all(b"\r\n\r\n")


def test_response_after_trailers_in_the_same_read():
    data = CHUNK_HEAD + b"1\r\na\r\n0\r\nT: v\r\n\r\n" + OK
    out, p = feed_all(data, n=2)
    assert [r.body for r in out] == [b"a", b"ok"] and p.outstanding == 0


@pytest.mark.parametrize("first", [b"(", b"@", b"\x01", b" ", b"\n"], ids=repr)
def test_trailer_start_judged_from_its_first_byte(first):
    p = parser_for()
    p.feed(CHUNK_HEAD + b"1\r\na\r\n0\r\n")
    with pytest.raises(HttpProtocolError):
        p.feed(first)


@pytest.mark.parametrize("first", [b"T", b"\r"], ids=repr)
def test_trailer_start_that_may_be_valid_waits(first):
    p = parser_for()
    p.feed(CHUNK_HEAD + b"1\r\na\r\n0\r\n")
    assert p.feed(first) == [] and not p.failed


@pytest.mark.parametrize("count, ok", [(2, True), (3, True), (4, False)])
def test_interim_count_boundary(count, ok):
    data = b"HTTP/1.1 100 Continue\r\n\r\n" * count + OK
    limits = HttpLimits(max_informational=3)
    if ok:
        (resp,), _ = feed_all(data, limits=limits)
        assert resp.body == b"ok"
    else:
        with pytest.raises(HttpProtocolError, match="interim"):
            feed_all(data, limits=limits)


def test_empty_chunk_size_line_refused_at_once():
    with pytest.raises(HttpProtocolError, match="invalid chunk-size line"):
        feed_all(CHUNK_HEAD + b"\r\n")
    p = parser_for()
    p.feed(CHUNK_HEAD)  # the buffer is empty again: the next line starts at offset 0
    with pytest.raises(HttpProtocolError, match="invalid chunk-size line"):
        p.feed(b"\r\n")


def test_response_after_a_chunked_body_without_trailers_in_the_same_read():
    out, p = feed_all(CHUNK_HEAD + b"1\r\na\r\n0\r\n\r\n" + OK, n=2)
    assert [r.body for r in out] == [b"a", b"ok"]


def _trailers_of_size(total: int) -> bytes:
    """A trailer block (fields + blank line) of exactly ``total`` bytes."""
    base = b"T: \r\n\r\n"
    return base[:-4] + b"v" * (total - len(base)) + b"\r\n\r\n"


@pytest.mark.parametrize("step", [0, 1])
@pytest.mark.parametrize("size, ok", [(1023, True), (1024, True), (1025, False)])
def test_trailer_bytes_boundary(size, ok, step):
    data = CHUNK_HEAD + b"1\r\na\r\n0\r\n" + _trailers_of_size(size)
    limits = HttpLimits(max_header_bytes=1024)
    if ok:
        (resp,), _ = feed_all(data, limits=limits, step=step)
        assert resp.body == b"a"
    else:
        with pytest.raises(HeaderTooLarge):
            feed_all(data, limits=limits, step=step)


def test_heads_straddling_buffer_compaction():
    # responses of varied sizes through a small buffer, fed in odd pieces: every head that is
    # cut by a compaction of the buffer must still be found where it ends
    responses = [b"HTTP/1.1 200 OK\r\nX-Pad: %s\r\nContent-Length: 3\r\n\r\nabc" % (b"p" * (i * 37 % 700)) for i in range(30)]
    data = b"".join(responses)
    for piece in (7, 100, 333, 1000):
        p = ResponseParser(HttpLimits(), buffer_size=1024)
        for _ in responses:
            p.expect("GET")
        out = []
        for i in range(0, len(data), piece):
            out += p.feed(data[i : i + piece])
        assert len(out) == 30 and all(r.body == b"abc" for r in out), piece
