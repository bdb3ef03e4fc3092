"""The NATS parser and encoders against byte vectors written from the protocol documentation
(not produced by our encoder), any split of the input, and garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.bus.nats.protocol import (
    Err,
    Info,
    Msg,
    NatsLimits,
    NatsParser,
    Ok,
    Ping,
    Pong,
    check_subject,
    encode_headers,
    encode_pub,
    encode_sub,
    encode_unsub,
)
from boomnet.errors import BoomnetError, InvalidMessage, NatsProtocolError

TRAFFIC = (
    b'INFO {"server_id":"x","version":"2.9.10","max_payload":1048576,"headers":true,'
    b'"connect_urls":["127.0.0.1:4223"]}\r\n'
    b"PING\r\n"
    b"MSG md.a 7 5\r\nhello\r\n"
    b"MSG md.b 7 reply.1 0\r\n\r\n"
    b"HMSG md.c 9 24 29\r\nNATS/1.0\r\nA: 1\r\nA: 2\r\n\r\nworld\r\n"
    b"PONG\r\n+OK\r\n-ERR 'Permissions Violation for Publish to md.x'\r\n"
)


def _shape(events: list[object]) -> list[object]:
    out: list[object] = []
    for e in events:
        if isinstance(e, Msg):
            out.append(("msg", e.subject, e.sid, e.reply, None if e.headers is None else bytes(e.headers), bytes(e.payload)))
        elif isinstance(e, Info):
            out.append(("info", dict(e.data)))
        else:
            out.append(e)
    return out


EXPECTED = [
    ("info", {"server_id": "x", "version": "2.9.10", "max_payload": 1048576, "headers": True,
              "connect_urls": ["127.0.0.1:4223"]}),
    Ping(),
    ("msg", "md.a", 7, None, None, b"hello"),
    ("msg", "md.b", 7, "reply.1", None, b""),
    ("msg", "md.c", 9, None, b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n", b"world"),
    Pong(),
    Ok(),
    Err("Permissions Violation for Publish to md.x"),
]


def test_documented_traffic_parses() -> None:
    p = NatsParser()
    p.feed(TRAFFIC)
    events = p.parse()
    assert _shape(events) == EXPECTED
    assert p.max_payload == 1048576  # lowered to the server's INFO
    assert events[1] is not None and not Err("Permissions Violation for x").fatal
    assert Err("Authorization Violation").fatal
    msg = events[4]
    assert isinstance(msg, Msg) and msg.header_map() == {"A": ["1", "2"]}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(TRAFFIC)), max_size=12))
def test_any_split_parses_identically(cuts: list[int]) -> None:
    p = NatsParser(NatsLimits(initial_buffer=1024))
    events: list[object] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(TRAFFIC)]:
        p.feed(TRAFFIC[last:cut])
        events += _shape(p.parse())  # shaped now: payload views are valid until the next feed
        last = cut
    assert events == EXPECTED
    assert p.buffered == 0


@pytest.mark.parametrize(
    "line",
    [
        b"MSG a 1\r\n",  # too few fields
        b"MSG a 1 x\r\nxx\r\n",  # size not a number
        b"MSG a 1 3\r\nabcXY",  # payload not followed by CRLF
        b"HMSG a 1 10 5\r\n",  # header size above total
        b"HMSG a 1 4 6\r\nABCDEF\r\n",  # header block not NATS/1.0
        b"WHAT\r\n",
        b"INFO [1,2]\r\n",
        b"INFO {nope\r\n",
    ],
)
def test_malformed_lines_raise(line: bytes) -> None:
    p = NatsParser()
    p.feed(line)
    with pytest.raises(NatsProtocolError):
        p.parse()


def test_limits_are_checked_before_buffering() -> None:
    p = NatsParser(NatsLimits(max_control_line=64, max_payload=100))
    p.feed(b"MSG a 1 101\r\n")  # a hostile size: refused at once, nothing waits for 101 bytes
    with pytest.raises(NatsProtocolError, match="max_payload"):
        p.parse()
    p = NatsParser(NatsLimits(max_control_line=64, max_payload=100))
    p.feed(b"MSG a 1 100\r\n" + b"x" * 100 + b"\r\n")  # exactly the limit is fine
    assert len(p.parse()) == 1
    p = NatsParser(NatsLimits(max_control_line=64))
    p.feed(b"M" * 65)  # no CRLF yet, but already longer than any control line may be
    with pytest.raises(NatsProtocolError, match="control line"):
        p.parse()
    p = NatsParser(NatsLimits(max_control_line=64))
    p.feed(b"M" * 64)
    assert p.parse() == []


def test_events_before_garbage_are_not_lost() -> None:
    p = NatsParser()
    p.feed(b"MSG a 1 2\r\nok\r\nGARBAGE\r\n")
    events = p.parse()  # the message before the garbage is returned first ...
    assert [(type(e), bytes(e.payload)) for e in events if isinstance(e, Msg)] == [(Msg, b"ok")] and len(events) == 1
    assert p.buffered == len(b"GARBAGE\r\n")  # ... the parser stays at the bad line ...
    with pytest.raises(NatsProtocolError, match="unknown server operation"):
        p.parse()  # ... and the next call raises
    with pytest.raises(NatsProtocolError, match="unknown server operation"):
        p.parse()  # as every later one does


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_boomnet_errors(data: bytes) -> None:
    p = NatsParser(NatsLimits(initial_buffer=1024))
    p.feed(data)
    try:
        p.parse()
    except BoomnetError:
        pass


def test_encoders_match_the_documented_forms() -> None:
    assert encode_pub(b"md.a", b"hello") == b"PUB md.a 5\r\nhello\r\n"
    assert encode_pub(b"md.a", b"", b"inbox.1") == b"PUB md.a inbox.1 0\r\n\r\n"
    h = encode_headers({"A": ["1", "2"]})
    assert h == b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n"
    assert encode_pub(b"md.c", b"world", None, h) == b"HPUB md.c 24 29\r\nNATS/1.0\r\nA: 1\r\nA: 2\r\n\r\nworld\r\n"
    assert encode_sub("md.>", 3) == b"SUB md.> 3\r\n"
    assert encode_sub("md.*", 4, "workers") == b"SUB md.* workers 4\r\n"
    assert encode_unsub(3) == b"UNSUB 3\r\n" and encode_unsub(3, 10) == b"UNSUB 3 10\r\n"


@pytest.mark.parametrize("subject", ["", "a..b", "a b", "a\r\nPUB x 1", ".a", "a.", "md.>", "md.*"])
def test_bad_publish_subjects_are_local_errors(subject: str) -> None:
    with pytest.raises(InvalidMessage):
        check_subject(subject)


def test_header_injection_is_refused() -> None:
    with pytest.raises(InvalidMessage):
        encode_headers({"A": "1\r\nB: 2"})
    with pytest.raises(InvalidMessage):
        encode_headers({"A:B": "1"})

