"""Property tests: any split of a valid byte stream parses the same; garbage raises only
boomnet's HTTP errors."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import HttpProtocolError
from boomnet.http import ResponseParser

_FRAMING_NAMES = {"content-length", "transfer-encoding", "connection"}

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
_VALUE_CHARS = "".join(map(chr, [0x20, 0x09, *range(0x21, 0x7F), *range(0x80, 0x100)]))
names = st.text(_TOKEN_CHARS, min_size=1, max_size=12).filter(lambda n: n.lower() not in _FRAMING_NAMES)
values = st.text(_VALUE_CHARS, max_size=20).map(lambda v: v.strip(" \t"))
header_lists = st.lists(st.tuples(names, values), max_size=5)


@st.composite
def responses(draw, last: bool = False):
    """(wire bytes, method, expected (status, body, headers)) of one response."""
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST"]))
    status = draw(st.sampled_from([200, 201, 204, 206, 301, 304, 404, 500]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"]))
    headers = draw(header_lists)
    body = draw(st.binary(max_size=300))
    no_body = method == "HEAD" or status in (204, 304)
    choices = ["length", "chunked"] + (["eof"] if last and not no_body else [])
    framing = draw(st.sampled_from(choices))
    wire = bytearray()
    for code in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2)):
        wire += b"HTTP/1.1 %d Interim\r\n" % code
        for n, v in draw(header_lists):
            wire += f"{n}: {v}\r\n".encode("latin-1")
        wire += b"\r\n"
    wire += f"HTTP/{version} {status} {draw(st.sampled_from(['OK', '', 'Some Reason']))}\r\n".encode()
    sent_headers = list(headers)
    if version == "1.0" and framing != "eof":
        sent_headers.append(("Connection", "keep-alive"))
    if framing == "length":
        sent_headers.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        sent_headers.append(("Transfer-Encoding", "chunked"))
    position = draw(st.integers(0, len(sent_headers)))
    framing_first = sent_headers[len(headers) :]
    ordered = headers[:position] + framing_first + headers[position:]
    for n, v in ordered:
        wire += f"{n}: {v}\r\n".encode("latin-1")
    wire += b"\r\n"
    if not no_body:
        if framing == "chunked":
            rest = body
            while rest:
                size = draw(st.integers(1, max(1, len(rest))))
                ext = draw(st.sampled_from([b"", b";a=b", b" ;x"]))
                wire += b"%x%s\r\n%s\r\n" % (size, ext, rest[:size])
                rest = rest[size:]
            wire += b"0\r\n"
            for n, v in draw(st.lists(st.tuples(names, values), max_size=2)):
                wire += f"{n}: {v}\r\n".encode("latin-1")
            wire += b"\r\n"
        else:
            wire += body
    expected_body = b"" if no_body else body
    return bytes(wire), method, (status, expected_body, ordered)


@st.composite
def streams(draw):
    count = draw(st.integers(1, 4))
    items = [draw(responses(last=(i == count - 1))) for i in range(count)]
    wire = b"".join(w for w, _, _ in items)
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    return wire, [m for _, m, _ in items], [e for _, _, e in items], cuts


def _pieces(wire: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(wire)]
    return [wire[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([1024, 4096, 65536]))
def test_any_split_parses_to_the_same_responses(stream, buffer_size):
    wire, methods, expected, cuts = stream
    parser = ResponseParser(buffer_size=buffer_size)
    for m in methods:
        parser.expect(m)
    got = []
    for piece in _pieces(wire, cuts):
        got += parser.feed(piece)
    got += parser.feed_eof()
    assert [(r.status, r.body, r.headers.items()) for r in got] == [
        (status, body, [(n, v.strip(" \t")) for n, v in headers]) for status, body, headers in expected
    ]
    assert [r.method for r in got] == methods


def _feed_all(pieces: list[bytes], methods: int = 3) -> None:
    parser = ResponseParser(buffer_size=1024)
    for _ in range(methods):
        parser.expect("GET")
    try:
        for piece in pieces:
            parser.feed(piece)
        parser.feed_eof()
    except HttpProtocolError:
        pass  # the only acceptable failure; anything else propagates and fails the test


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_garbage_raises_only_http_errors(data, cuts):
    _feed_all(_pieces(data, sorted(c for c in cuts if c <= len(data))))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])), min_size=1, max_size=4))
def test_mutated_valid_streams_raise_only_http_errors(stream, mutations):
    wire, _, _, cuts = stream
    data = bytearray(wire)
    for pos, byte, op in mutations:
        if not data:
            break
        pos %= len(data)
        if op == "set":
            data[pos] = byte
        elif op == "insert":
            data.insert(pos, byte)
        else:
            del data[pos]
    _feed_all(_pieces(bytes(data), sorted(c for c in cuts if c <= len(data))), methods=5)
