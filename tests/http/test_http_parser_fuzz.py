"""Differential fuzz: boomnet's response parser against h11 (an independent HTTP/1.1 parser) on
hypothesis-generated valid and malformed response streams, with arbitrary read splits.

The verdict must be the same: the same responses (status, headers, body) in the same order, and
the same ending (clean, closed by a response, or refused). "Does not crash" is not enough: a
parser that accepted everything, or refused everything, fails here.

Deliberate differences (boomnet is stricter on purpose, or follows a rule h11 does not). A
disagreement is accepted only when one of these explains it -- each is detected on the bytes:

STRICTER (boomnet refuses, h11 accepts):
  bare-eol      a bare LF or CR ending a line. h11 accepts LF-only lines; RFC 9112 2.2 permits
                that ("MAY"), boomnet refuses it: lenient line parsing is how response
                splitting and smuggling start, and a client gains nothing from it.
  obs-fold      a header continuation line. h11 unfolds it; RFC 9112 5.2 lets a client either
                replace it with SP or refuse; boomnet refuses (folded values are a classic
                desync vector and no sane server sends them).
  control       a control character (other than HTAB) in a field value, reason phrase or chunk
                extension. h11's field-vchar is "[^\\x00\\s]", which admits \\x01-\\x08, \\x0e-\\x1f and
                \\x7f; RFC 9110 5.5 field-vchar is VCHAR / obs-text only, which boomnet enforces.
  te-and-cl     both Transfer-Encoding and Content-Length. h11 lets Transfer-Encoding win;
                RFC 9112 6.3 says such a message "ought to be handled as an error": boomnet does.
  version       an HTTP version other than 1.0 / 1.1 in the status line (h11 takes any d.d).
  chunk-size    a chunk-size of more than 16 hex digits (h11 allows 20): 16 digits are already
                far beyond any limit; longer ones only serve to overflow someone's arithmetic.
  limit         a Content-Length above ``max_body_size`` (boomnet has limits; h11 has none).
  empty-name    ... (none: both refuse)
LAXER (boomnet accepts, h11 refuses) -- both where the RFC is on boomnet's side:
  chunk-bws     whitespace between chunk-size and ";" (RFC 9112 7.1.1 chunk-ext = *( BWS ";"
                ... ), so "5 ;ext" is valid; h11's chunk header regex does not allow it).
NOT COMPARED:
  keep-alive of an HTTP/1.0 response with "Connection: keep-alive": h11 never keeps HTTP/1.0
                alive, boomnet honours the header (RFC 9112 9.3). HTTP/1.0 responses are
                therefore generated only last in a stream.
"""

from __future__ import annotations

import re

import h11
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from boomnet.errors import HttpProtocolError
from boomnet.http import HttpLimits, ResponseParser

LIMITS = HttpLimits()
_FRAMING_NAMES = {"content-length", "transfer-encoding", "connection"}
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
_VALUE_CHARS = "".join(map(chr, [0x20, 0x09, *range(0x21, 0x7F), *range(0x80, 0x100)]))
# body bytes for the mutated streams: no CR, LF or controls, so such a byte in the wire can only
# come from a mutation (which keeps the detectors of the deliberate differences exact)
_SAFE_BODY = bytes([0x20, *range(0x21, 0x7F), *range(0x80, 0x100)])

names = st.text(_TOKEN_CHARS, min_size=1, max_size=12).filter(lambda n: n.lower() not in _FRAMING_NAMES)
values = st.text(_VALUE_CHARS, max_size=20).map(lambda v: v.strip(" \t"))
header_lists = st.lists(st.tuples(names, values), max_size=5)


@st.composite
def responses(draw, last: bool, safe_body: bool):
    """(wire bytes, request method) of one response (interim responses included)."""
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST"]))
    status = draw(st.sampled_from([200, 201, 204, 206, 301, 304, 404, 500]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"])) if last else "1.1"
    headers = draw(header_lists)
    if safe_body:
        body = bytes(draw(st.lists(st.sampled_from(_SAFE_BODY), max_size=300)))
    else:
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
    if framing == "length":
        n = len(body)
        style = draw(st.sampled_from(["one", "one", "list", "twice"]))
        if style == "twice":  # identical duplicates are one length (RFC 9112 6.3); a mutation may make them differ
            sent_headers += [("Content-Length", str(n)), ("Content-Length", str(n))]
        else:
            sent_headers.append(("Content-Length", str(n) if style == "one" else f"{n}, {n}"))
    elif framing == "chunked":
        sent_headers.append(("Transfer-Encoding", draw(st.sampled_from(["chunked", "Chunked"]))))
    if draw(st.booleans()):
        sent_headers.append(("Connection", "close" if last else "keep-alive"))
    position = draw(st.integers(0, len(headers)))
    ordered = headers[:position] + sent_headers[len(headers) :] + headers[position:]
    for n, v in ordered:
        lead, trail = draw(st.sampled_from(["", " ", "  ", "\t"])), draw(st.sampled_from(["", "", " ", "\t "]))
        wire += f"{n}:{lead}{v}{trail}\r\n".encode("latin-1")
    wire += b"\r\n"
    if not no_body:
        if framing == "chunked":
            rest = body
            while rest:
                size = draw(st.integers(1, max(1, len(rest))))
                ext = draw(st.sampled_from([b"", b";a=b", b";x", b';q="v"']))
                digits = draw(st.sampled_from([b"%x", b"%X", b"00%x"])) % size
                wire += b"%s%s\r\n%s\r\n" % (digits, ext, rest[:size])
                rest = rest[size:]
            wire += b"0\r\n"
            for n, v in draw(st.lists(st.tuples(names, values), max_size=2)):
                wire += f"{n}: {v}\r\n".encode("latin-1")
            wire += b"\r\n"
        else:
            wire += body
    return bytes(wire), method


@st.composite
def streams(draw, safe_body: bool = False):
    count = draw(st.integers(1, 4))
    items = [draw(responses(last=(i == count - 1), safe_body=safe_body)) for i in range(count)]
    wire = b"".join(w for w, _ in items)
    return wire, [m for _, m in items]


@st.composite
def cuts_for(draw, size: int):
    return sorted(draw(st.lists(st.integers(0, size), max_size=12)))


def _pieces(wire: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *[c for c in cuts if c <= len(wire)], len(wire)]
    return [wire[a:b] for a, b in zip(bounds, bounds[1:])]


# --- the two verdicts ----------------------------------------------------------------------------

Verdict = tuple[list[tuple[int, list[tuple[str, str]], bytes]], str]


def boomnet_verdict(wire: bytes, methods: list[str], cuts: list[int], buffer_size: int) -> Verdict:
    parser = ResponseParser(LIMITS, buffer_size=buffer_size)
    for m in methods:
        parser.expect(m)
    got = []
    ending = "clean"
    try:
        for piece in _pieces(wire, cuts):
            got += parser.feed(piece)
        got += parser.feed_eof()
        if parser.outstanding:
            # the connection layer reports an EOF with requests unanswered as an error (h11 too),
            # unless a response ended the connection (nothing behind it was processed)
            ending = "closed" if parser.closed_by_response else "refused"
    except HttpProtocolError:
        ending = "refused"
    return [(r.status, _normalised(r.headers.items()), bytes(r.body)) for r in got], ending


def _normalised(headers) -> list[tuple[str, str]]:
    """Headers as h11 reports them: names lower-cased, Transfer-Encoding values lower-cased,
    identical Content-Length values (listed or repeated) reduced to one field (h11 normalises
    these; boomnet hands them out as received)."""
    out = []
    seen_length = False
    for name, value in headers:
        name = name.lower()
        if name == "transfer-encoding":
            value = value.lower()
        elif name == "content-length":
            if seen_length:
                continue  # h11 keeps one of identical repeated Content-Length fields
            seen_length = True
            value = ",".join(sorted({part.strip(" \t") for part in value.split(",")}))
        out.append((name, value))
    return out


def h11_verdict(wire: bytes, methods: list[str]) -> Verdict:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=LIMITS.max_header_bytes)
    got: list[tuple[int, list[tuple[str, str]], bytes]] = []
    index = 0

    def send_request() -> None:
        conn.send(h11.Request(method=methods[index], target="/", headers=[("Host", "h")]))
        conn.send(h11.EndOfMessage())

    send_request()
    conn.receive_data(wire)
    eof = False
    current: list = []
    try:
        for _ in range(10_000):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if eof:
                    return got, "refused"  # pragma: no cover - h11 raises instead
                conn.receive_data(b"")
                eof = True
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Response):
                headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
                current = [event.status_code, _normalised(headers), bytearray()]
            elif isinstance(event, h11.Data):
                current[2] += event.data
            elif isinstance(event, h11.EndOfMessage):
                got.append((current[0], current[1], bytes(current[2])))
                index += 1
                if conn.their_state is not h11.DONE or eof:  # the response ended the connection
                    return got, ("closed" if index < len(methods) else "clean")
                if index == len(methods):
                    leftover, _ = conn.trailing_data
                    return got, ("refused" if leftover else "clean")  # unsolicited bytes
                conn.start_next_cycle()
                send_request()
            elif isinstance(event, h11.ConnectionClosed):
                return got, "clean"
            else:  # pragma: no cover - PAUSED cannot happen: every cycle is started above
                raise AssertionError(f"unexpected h11 event {event!r}")
    except h11.RemoteProtocolError:
        return got, "refused"
    raise AssertionError("h11 did not finish")  # pragma: no cover


# --- detectors of the documented differences -----------------------------------------------------

_HEAD_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def stricter(wire: bytes) -> list[str]:
    """Which documented boomnet-stricter rules ``wire`` triggers."""
    reasons = []
    if re.search(rb"(?<!\r)\n|\r(?!\n)", wire):
        reasons.append("bare-eol")
    if re.search(rb"\r\n[ \t]", wire):
        reasons.append("obs-fold")
    if _HEAD_CONTROL.search(wire):
        reasons.append("control")
    lower = wire.lower()
    if b"transfer-encoding" in lower and b"content-length" in lower:
        reasons.append("te-and-cl")
    if any(v not in (b"1.0", b"1.1") for v in re.findall(rb"HTTP/([0-9]\.[0-9])", wire)):
        reasons.append("version")
    if re.search(rb"(?:^|\n)[0-9A-Fa-f]{17,}", wire):
        reasons.append("chunk-size")
    if any(int(v) > LIMITS.max_body_size for v in re.findall(rb"(?i)content-length:[ \t]*([0-9]{1,30})", wire)):
        reasons.append("limit")
    return reasons


def laxer(wire: bytes) -> list[str]:
    """Which documented boomnet-laxer (RFC-backed) rules ``wire`` triggers."""
    return ["chunk-bws"] if re.search(rb"\n[0-9A-Fa-f]+[ \t]+;", wire) else []


def assert_same_verdict(wire: bytes, methods: list[str], cuts: list[int], buffer_size: int) -> None:
    ours = boomnet_verdict(wire, methods, cuts, buffer_size)
    ref = h11_verdict(wire, methods)
    if ours == ref:
        return
    (our_got, our_end), (ref_got, ref_end) = ours, ref
    # everything both delivered must agree, whatever the explanation of the rest
    common = min(len(our_got), len(ref_got))
    assert our_got[:common] == ref_got[:common], (wire, our_got, ref_got)
    if our_end == "refused" and len(our_got) <= len(ref_got) and stricter(wire):
        return  # a documented stricter rule
    if ref_end == "refused" and len(ref_got) <= len(our_got) and laxer(wire):
        return  # a documented RFC-backed leniency
    raise AssertionError(f"verdicts differ on {wire!r} ({methods}): boomnet {ours!r}, h11 {ref!r}")


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), streams(), st.sampled_from([1024, 4096, 65536]))
def test_valid_streams_same_as_h11_under_any_split(data, stream, buffer_size):
    wire, methods = stream
    cuts = data.draw(cuts_for(len(wire)))
    ours = boomnet_verdict(wire, methods, cuts, buffer_size)
    assert ours == h11_verdict(wire, methods)
    assert ours[1] == "clean" and len(ours[0]) == len(methods)  # valid: everything parsed


_MUTATIONS = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(b"\x00\t\n\r :;0123456789aAfFzZ-,\x7f\x80\xff"), st.sampled_from(["set", "insert", "delete"])),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), streams(safe_body=True), _MUTATIONS, st.sampled_from([1024, 65536]))
@example(  # the chunk terminator "\rX" (issue 19): refused by both
    data=None, stream=(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n", ["GET"]),
    mutations=[(0, ord("H"), "set")], buffer_size=1024,
)
@example(  # status 000 is no interim response: both refuse (boomnet skipped it once; found here)
    data=None, stream=(b"HTTP/1.1 000 Interim\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ["GET"]),
    mutations=[(0, ord("H"), "set")], buffer_size=1024,
)
def test_mutated_streams_same_verdict_as_h11(data, stream, mutations, buffer_size):
    wire, methods = stream
    buf = bytearray(wire)
    for pos, byte, op in mutations:
        if not buf:
            break
        pos %= len(buf)
        if op == "set":
            buf[pos] = byte
        elif op == "insert":
            buf.insert(pos, byte)
        else:
            del buf[pos]
    mutated = bytes(buf)
    cuts = data.draw(cuts_for(len(mutated))) if data is not None else []
    assert_same_verdict(mutated, methods, cuts, buffer_size)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_garbage_same_verdict_as_h11(data, cuts):
    assert_same_verdict(data, ["GET", "GET", "GET"], sorted(cuts), 1024)


def test_detectors_of_the_documented_differences():
    # each documented difference really is one: h11 accepts, boomnet refuses (or the reverse)
    cases = {
        "bare-eol": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
        "obs-fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
        "control": b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 2\r\n\r\nok",
        "te-and-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "version": b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000002\r\nok\r\n0\r\n\r\n",
        "limit": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (LIMITS.max_body_size + 1),
    }
    for reason, wire in cases.items():
        assert reason in stricter(wire), reason
        assert boomnet_verdict(wire, ["GET"], [], 65536)[1] == "refused", reason
        assert h11_verdict(wire, ["GET"])[1] != "refused" or reason == "limit", reason
    lax = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ;e\r\nok\r\n0\r\n\r\n"
    assert laxer(lax) == ["chunk-bws"]
    assert boomnet_verdict(lax, ["GET"], [], 65536) == ([(200, [("transfer-encoding", "chunked")], b"ok")], "clean")
    assert h11_verdict(lax, ["GET"])[1] == "refused"
