"""The HTTP/1.1 parser's documented numbers, each pinned at its exact boundary (issue 19).

The limits of :class:`HttpLimits` are checked with their *default* values (limit - 1 or limit
passes, limit + 1 is refused with the right :mod:`boomnet.errors` class), and the parser's own
buffer constants (``SMALL_BODY``, ``BODY_FIRST_ALLOC``, the direct-read threshold, the growth
step, the minimum read room) by what they make observable: the type of a body, the size of the
view handed out for the next read. Each of these was written against a surviving mutant of
``tools/mutate.py`` and seen to kill it.
"""

from __future__ import annotations

import pytest

from boomnet.errors import BodyTooLarge, HeaderTooLarge, HttpProtocolError, InvalidHttpRequest
from boomnet.http import HttpLimits, ResponseParser, encode_request
from boomnet.http.limits import DEFAULT_LIMITS
from boomnet.http.parser import BODY_FIRST_ALLOC, SMALL_BODY

KIB = 1024
MIB = 1024 * 1024


def parser_for(n: int = 1, limits: HttpLimits = DEFAULT_LIMITS, buffer_size: int = 64 * KIB) -> ResponseParser:
    p = ResponseParser(limits, buffer_size=buffer_size)
    for _ in range(n):
        p.expect("GET")
    return p


def view_len(p: ResponseParser) -> int:
    view = p.recv_view()
    n = len(view)
    view.release()
    p.commit(0)
    return n


# --- the documented defaults --------------------------------------------------------------------


def test_documented_defaults():
    limits = HttpLimits()
    assert limits == DEFAULT_LIMITS
    assert limits.max_header_bytes == 64 * KIB
    assert limits.max_header_count == 100
    assert limits.max_body_size == 64 * MIB
    assert limits.max_chunk_line == 4096
    assert limits.max_informational == 16
    # README: "bodies above 64 KiB are handed out as the bytearray they were received into"
    assert SMALL_BODY == 64 * KIB
    # module docstring: a body buffer is never allocated more than this ahead of the data
    assert BODY_FIRST_ALLOC == 64 * KIB


def test_default_and_minimum_receive_buffer():
    assert view_len(ResponseParser()) == 64 * KIB  # the default buffer_size
    assert view_len(ResponseParser(buffer_size=8 * KIB)) == 8 * KIB
    assert view_len(ResponseParser(buffer_size=1024)) == 1024
    assert view_len(ResponseParser(buffer_size=1023)) == 1024  # raised to the 1 KiB minimum
    assert view_len(ResponseParser(buffer_size=1)) == 1024


# --- small bodies are bytes, larger ones the bytearray they were received into -------------------


@pytest.mark.parametrize("size, kind", [(64 * KIB - 1, bytes), (64 * KIB, bytes), (64 * KIB + 1, bytearray)])
@pytest.mark.parametrize("chunked", [False, True])
def test_small_body_boundary(size, kind, chunked):
    body = b"b" * size
    if chunked:
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (size, body)
    else:
        data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (size, body)
    (resp,) = parser_for().feed(data)
    assert type(resp.body) is kind and resp.body == body


# --- where the next read goes ---------------------------------------------------------------------


@pytest.mark.parametrize("due, direct", [(16 * KIB - 1, False), (16 * KIB, True), (16 * KIB + 1, True)])
def test_direct_body_read_threshold(due, direct):
    # with nothing buffered, a body with at least 16 KiB still due is read straight into its own
    # buffer (the view is exactly the body's room); a smaller one goes through the shared buffer
    p = parser_for()
    assert p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % due) == []
    assert view_len(p) == (due if direct else 64 * KIB)


def test_first_body_allocation_is_bounded_by_body_first_alloc():
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 * MIB))
    assert view_len(p) == 64 * KIB  # not the 64 MiB the server claimed


def test_body_capacity_doubles_then_grows_by_at_most_8_mib():
    # the capacity of a large body's buffer doubles with the data up to 8 MiB, then grows by 8 MiB
    # steps: the room offered for each read shows it
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 * MIB))
    rooms = []
    for _ in range(20):
        view = p.recv_view()
        rooms.append(len(view))
        view.release()
        assert p.commit(rooms[-1]) == []
        if sum(rooms) >= 24 * MIB:
            break
    doubling = [64 * KIB] + [64 * KIB << i for i in range(8)]  # 64 KiB, 64 KiB, 128 KiB ... 8 MiB
    assert rooms == doubling + [8 * MIB]  # at 16 MiB: one 8 MiB step, not another doubling


@pytest.mark.parametrize("room, compacted", [(4097, False), (4096, False), (4095, True)])
def test_buffer_made_room_below_4_kib(room, compacted):
    # an incomplete head leaves less than 4 KiB for the next read: the buffer is grown (nothing
    # to compact at its front); 4 KiB or more is read into as it is
    p = parser_for(buffer_size=8 * KIB)
    partial = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (8 * KIB - room - 20)
    assert len(partial) == 8 * KIB - room
    assert p.feed(partial) == []
    assert view_len(p) == (16 * KIB - len(partial) if compacted else room)


# --- each limit at its default value ------------------------------------------------------------


def _head_of_size(total: int) -> bytes:
    base = b"HTTP/1.1 204 No Content\r\nX: \r\n\r\n"
    return base[:-4] + b"v" * (total - len(base)) + b"\r\n\r\n"


@pytest.mark.parametrize("size, ok", [(64 * KIB - 1, True), (64 * KIB, True), (64 * KIB + 1, False)])
def test_default_max_header_bytes(size, ok):
    data = _head_of_size(size)
    assert len(data) == size
    if ok:
        (resp,) = parser_for().feed(data)
        assert resp.status == 204
    else:
        with pytest.raises(HeaderTooLarge):
            parser_for().feed(data)


@pytest.mark.parametrize("count, ok", [(99, True), (100, True), (101, False)])
def test_default_max_header_count(count, ok):
    data = b"HTTP/1.1 204 No Content\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(count)) + b"\r\n"
    if ok:
        (resp,) = parser_for().feed(data)
        assert len(resp.headers) == count
    else:
        with pytest.raises(HeaderTooLarge, match="more than 100 header fields"):
            parser_for().feed(data)


@pytest.mark.parametrize("length, ok", [(64 * MIB - 1, True), (64 * MIB, True), (64 * MIB + 1, False)])
def test_default_max_body_size_judged_from_content_length(length, ok):
    p = parser_for()
    if ok:
        assert p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length) == [] and p.state == "LENGTH"
    else:
        with pytest.raises(BodyTooLarge, match="exceeds max_body_size 67108864"):
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length)


@pytest.mark.parametrize("size, ok", [(4095, True), (4096, True), (4097, False)])
def test_default_max_chunk_line(size, ok):
    line = b"1;" + b"e" * (size - 2)
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line + b"\r\na\r\n0\r\n\r\n"
    if ok:
        (resp,) = parser_for().feed(data)
        assert resp.body == b"a"
    else:
        with pytest.raises(HttpProtocolError, match="max_chunk_line 4096"):
            parser_for().feed(data)


@pytest.mark.parametrize("count, ok", [(15, True), (16, True), (17, False)])
def test_default_max_informational(count, ok):
    data = b"HTTP/1.1 103 Early Hints\r\n\r\n" * count + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    p = parser_for()
    if ok:
        (resp,) = p.feed(data)
        assert resp.body == b"ok" and p.interim_total == count
    else:
        with pytest.raises(HttpProtocolError, match="more than 16 interim"):
            p.feed(data)


# --- the request head: only latin-1 reaches the encoder -------------------------------------------


@pytest.mark.parametrize(
    "method, target, host, headers",
    [
        ("G\u0100T", "/", "h", None),
        ("GET", "/\u0100", "h", None),
        ("GET", "/", "h\u0100", None),
        ("GET", "/", "h", {"X-\u0100": "v"}),
        ("GET", "/", "h", {"X-A": "v\u0100"}),
        ("GET", "/", "h", {"X-A": "\U0001f600"}),
    ],
)
def test_non_latin1_anywhere_in_the_request_head_refused(method, target, host, headers):
    # the regexes admit latin-1 only, so the final encode cannot fail: U+0100 is the first
    # character past latin-1 and is refused where it is found
    with pytest.raises(InvalidHttpRequest):
        encode_request(method, target, host, headers)


def test_latin1_obs_text_in_a_value_is_sent_as_one_byte():
    head, _ = encode_request("GET", "/", "h", {"X-A": "caf\u00e9\u00ff"})
    assert b"\r\nX-A: caf\xe9\xff\r\n" in head


# --- the body buffer grows only when the data needs it ---------------------------------------------


def test_direct_read_room_is_what_is_left_of_the_capacity():
    # 64 KiB - 1 of a 100000-byte body read in place: the next read is offered the one byte left
    # in the capacity (no growth before the buffer is full), then a fresh step
    p = parser_for()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    view = p.recv_view()
    assert len(view) == 64 * KIB
    view[: 64 * KIB - 1] = b"a" * (64 * KIB - 1)
    view.release()
    assert p.commit(64 * KIB - 1) == []
    view = p.recv_view()
    assert len(view) == 1
    view[:1] = b"b"
    view.release()
    assert p.commit(1) == []
    view = p.recv_view()
    assert len(view) == 100000 - 64 * KIB  # the rest, never past the declared length
    view[:] = b"c" * len(view)
    view.release()
    (resp,) = p.commit(100000 - 64 * KIB)
    assert resp.body == b"a" * (64 * KIB - 1) + b"b" + b"c" * (100000 - 64 * KIB)


@pytest.mark.parametrize("first", [1, 1000, 20000])
def test_body_bytes_that_came_with_the_head_then_reads_in_place(first):
    # the first bytes are copied from the shared buffer into a body buffer allocated 64 KiB ahead
    # (never past the declared length); the next read is offered the rest of that allocation
    size = 100000
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    p = parser_for()
    assert p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body[:first]) == []
    assert view_len(p) == 64 * KIB - first
    (resp,) = p.feed(body[first:])
    assert resp.body == body


def test_compaction_of_a_single_parsed_byte():
    # one byte of chunk data parsed, its CR waiting for the LF: the buffer (1 KiB, under the 4 KiB
    # read room) is compacted by that one byte rather than grown
    p = parser_for(buffer_size=1024)
    p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n")
    assert p.feed(b"a\r") == [] and p.state == "CHUNK_END"
    assert view_len(p) == 1024 - 1
    (resp,) = p.feed(b"\n0\r\n\r\n")
    assert resp.body == b"a"


# --- incomplete blocks: refused once they cannot fit, and the same for every start offset ----------

LIMIT = 1024
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("size, ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("after", [0, 1, 3], ids=["first", "second", "fourth"])
def test_unterminated_head_waits_until_past_the_limit(size, ok, after):
    # a head without its blank line yet, behind ``after`` complete responses in the same read:
    # waiting while it may still fit, HeaderTooLarge after max_header_bytes bytes; the parser
    # agrees with the one-shot find_head (the WebSocket upgrade's parser)
    from boomnet.http.head import find_head

    limits = HttpLimits(max_header_bytes=LIMIT)
    partial = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (size - 20)
    assert len(partial) == size
    p = parser_for(after + 1, limits)
    if ok:
        assert len(p.feed(OK * after + partial)) == after and not p.failed
        assert find_head(partial, limits) == -1
    else:
        with pytest.raises(HeaderTooLarge):
            p.feed(OK * after + partial)
            p.feed(b"")  # the responses before it came first; the error with the next call
        with pytest.raises(HeaderTooLarge):
            find_head(partial, limits)


@pytest.mark.parametrize("size, ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("after", [0, 3], ids=["first", "fourth"])
def test_complete_head_at_the_limit_behind_other_responses(size, ok, after):
    head = b"HTTP/1.1 204 No Content\r\nX: " + b"v" * (size - 32) + b"\r\n\r\n"
    assert len(head) == size
    p = parser_for(after + 1, HttpLimits(max_header_bytes=LIMIT))
    if ok:
        assert [r.status for r in p.feed(OK * after + head)] == [200] * after + [204]
    else:
        with pytest.raises(HeaderTooLarge):
            p.feed(OK * after + head)
            p.feed(b"")


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"


@pytest.mark.parametrize("size, ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("after", [0, 3], ids=["first", "fourth"])
def test_unterminated_trailers_wait_until_past_the_limit(size, ok, after):
    partial = b"T: " + b"v" * (size - 3)
    p = parser_for(after + 1, HttpLimits(max_header_bytes=LIMIT))
    if ok:
        assert len(p.feed(OK * after + CHUNKED + partial)) == after and p.state == "TRAILERS"
    else:
        with pytest.raises(HeaderTooLarge, match="trailers"):
            p.feed(OK * after + CHUNKED + partial)
            p.feed(b"")


@pytest.mark.parametrize("size, ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("after", [0, 3], ids=["first", "fourth"])
def test_complete_trailers_at_the_limit_behind_other_responses(size, ok, after):
    trailers = b"T: " + b"v" * (size - 7) + b"\r\n\r\n"
    assert len(trailers) == size
    p = parser_for(after + 1, HttpLimits(max_header_bytes=LIMIT))
    if ok:
        assert [r.body for r in p.feed(OK * after + CHUNKED + trailers)] == [b"ok"] * after + [b"a"]
    else:
        with pytest.raises(HeaderTooLarge, match="trailers"):
            p.feed(OK * after + CHUNKED + trailers)
            p.feed(b"")


# --- the first byte of a trailer block: a token byte or CR, judged at once -----------------------


@pytest.mark.parametrize("first", [b"!", b"~", b"0", b"z", b"|", b"`"], ids=repr)
def test_trailer_starting_with_an_edge_token_byte_is_accepted(first):
    p = parser_for()
    p.feed(CHUNKED)
    assert p.feed(first) == [] and not p.failed
    (resp,) = p.feed(b": v\r\n\r\n")
    assert resp.body == b"a"


@pytest.mark.parametrize("first", [b" ", b"\x7f", b"\x80", b'"', b"(", b"/", b"{", b"\\", b":"], ids=repr)
@pytest.mark.parametrize("more", [b"", b"x", b"x: v\r\n"], ids=["alone", "two-bytes", "a-line"])
def test_trailer_starting_with_a_non_token_byte_is_refused_at_once(first, more):
    p = parser_for()
    p.feed(CHUNKED)
    with pytest.raises(HttpProtocolError, match="malformed chunked trailer"):
        p.feed(first + more)


# --- parser edges found by the mutation run ---------------------------------------------------------


@pytest.mark.parametrize("size, kind", [(64 * KIB - 1, bytes), (64 * KIB, bytes), (64 * KIB + 1, bytearray)])
def test_body_that_arrived_whole_follows_the_same_size_rule(size, kind):
    # a buffer large enough (here given; in use, one grown by a large head) holds head and body
    # in one read: the body is still bytes up to SMALL_BODY and a bytearray above it
    p = parser_for(2, buffer_size=256 * KIB)
    body = b"w" * size
    view = p.recv_view()
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (size, body) + OK
    view[: len(data)] = data
    view.release()
    first, second = p.commit(len(data))
    assert type(first.body) is kind and first.body == body and second.body == b"ok"


def test_bare_lf_starting_a_head_after_a_body_ending_in_cr():
    # the LF follows the previous body's last byte, a CR: it is still a bare LF of the new head
    p = parser_for(2)
    out = p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no\r" + b"\nHTTP/1.1 200 OK\r\n")
    assert [r.body for r in out] == [b"o\r"]
    with pytest.raises(HttpProtocolError, match="bare CR or LF"):
        p.feed(b"")


CHUNK_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("cr", [False, True], ids=["no-cr", "with-cr"])
@pytest.mark.parametrize("size, ok", [(63, True), (64, True), (65, False)])
def test_unterminated_chunk_line_refused_once_past_the_limit(size, ok, cr):
    # judged as the bytes arrive: more than max_chunk_line bytes without the CRLF is refused at
    # once; a final CR (half of the CRLF) does not count
    p = parser_for(limits=HttpLimits(max_chunk_line=64))
    line = b"1;" + b"e" * (size - 2)
    data = CHUNK_HEAD + line + (b"\r" if cr else b"")
    if ok:
        assert p.feed(data) == [] and p.state == "CHUNK_SIZE"
    else:
        with pytest.raises(HttpProtocolError, match="max_chunk_line 64"):
            p.feed(data)


def test_chunk_crlf_consumed_as_soon_as_it_is_complete():
    p = parser_for()
    assert p.feed(CHUNK_HEAD + b"3\r\nabc\r") == [] and p.state == "CHUNK_END"
    assert p.feed(b"\n") == [] and p.state == "CHUNK_SIZE"
    q = parser_for()
    assert q.feed(CHUNK_HEAD + b"3\r\nabc\r\n") == [] and q.state == "CHUNK_SIZE"


@pytest.mark.parametrize("block", [b"T v\r\n\r\n", b"T: v\r\n v\r\n\r\n", b"T: \x01\r\n\r\n", b"T(: v\r\n\r\n"], ids=repr)
def test_malformed_trailer_block_refused(block):
    with pytest.raises(HttpProtocolError, match="malformed chunked trailer"):
        parser_for().feed(CHUNK_HEAD + b"1\r\na\r\n0\r\n" + block)
