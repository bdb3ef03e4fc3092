"""The NATS parser and encoders at their exact limits, with byte vectors written from the NATS
client protocol documentation (https://docs.nats.io/reference/reference-protocols/nats-protocol):

    MSG <subject> <sid> [reply-to] <#bytes>\\r\\n[payload]\\r\\n
    HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\\r\\n[headers][payload]\\r\\n
    PUB <subject> [reply-to] <#bytes>\\r\\n[payload]\\r\\n
    HPUB <subject> [reply-to] <#header bytes> <#total bytes>\\r\\n[headers][payload]\\r\\n
    SUB <subject> [queue group] <sid>\\r\\n      UNSUB <sid> [max_msgs]\\r\\n
    INFO {json}   CONNECT {json}   PING   PONG   +OK   -ERR <error message>

Operation names are case-insensitive; headers start with ``NATS/1.0`` (an optional status after
it), then ``Name: value`` lines, then an empty line.
"""

from __future__ import annotations

import pytest

from boomnet.bus.nats.protocol import (
    PING,
    PONG,
    Err,
    Info,
    Msg,
    NatsLimits,
    NatsParser,
    Ok,
    Ping,
    Pong,
    check_subject,
    encode_connect,
    encode_headers,
    encode_pub,
    encode_sub,
    encode_unsub,
    parse_headers,
)
from boomnet.errors import InvalidMessage, LocalError, NatsProtocolError


def parse(data: bytes, limits: NatsLimits | None = None) -> list[object]:
    p = NatsParser(limits or NatsLimits(initial_buffer=1024))
    p.feed(data)
    return [shape(e) for e in p.parse()]


def shape(e: object) -> object:
    if isinstance(e, Msg):
        return ("msg", e.subject, e.sid, e.reply, None if e.headers is None else bytes(e.headers), bytes(e.payload))
    if isinstance(e, Info):
        return ("info", dict(e.data))
    return e


def refused(data: bytes, match: str, limits: NatsLimits | None = None) -> list[object]:
    """The events returned before the garbage; the next parse raises ``match``."""
    p = NatsParser(limits or NatsLimits(initial_buffer=1024))
    p.feed(data)
    try:
        events = [shape(e) for e in p.parse()]
    except NatsProtocolError as e:
        assert match in str(e), e
        return []
    with pytest.raises(NatsProtocolError) as info:
        p.parse()
    assert match in str(info.value), info.value
    return events


GOOD = b"MSG a 1 2\r\nok\r\n"
OK_MSG = ("msg", "a", 1, None, None, b"ok")


# --- limits ---------------------------------------------------------------------------------------


def test_documented_limit_defaults() -> None:
    limits = NatsLimits()
    assert (limits.max_control_line, limits.max_payload, limits.initial_buffer) == (4096, 64 * 1024 * 1024, 256 * 1024)
    assert NatsParser().max_payload == 64 * 1024 * 1024


def test_limit_ranges() -> None:
    NatsLimits(max_control_line=64, max_payload=1, initial_buffer=1024)  # the smallest allowed
    for kwargs in ({"max_control_line": 63}, {"max_payload": 0}, {"initial_buffer": 1023}, {"max_payload": "1"}):
        with pytest.raises(LocalError, match=next(iter(kwargs))):  # the caller's error, naming the field
            NatsLimits(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        NatsLimits(max_line=100)  # type: ignore[call-arg]


def test_control_line_at_max_control_line() -> None:
    limits = NatsLimits(max_control_line=64)
    line = b"-ERR '" + b"x" * 57 + b"'"  # 64 bytes
    assert len(line) == 64
    assert parse(GOOD + line + b"\r\n", limits) == [OK_MSG, Err("x" * 57)]
    assert refused(GOOD + b"-ERR '" + b"x" * 58 + b"'\r\n", "control line longer than 64 bytes", limits) == [OK_MSG]
    # not complete yet: 64 bytes wait, and so do 64 bytes and the CR of their CRLF; 65 do not
    p = NatsParser(limits)
    p.feed(GOOD + line)
    assert [shape(e) for e in p.parse()] == [OK_MSG]
    assert p.parse() == [] and p.buffered == 64  # no error waits behind the message: it just waits
    p.feed(b"\r")
    assert p.parse() == [] and p.buffered == 65
    p.feed(b"\n")
    assert [shape(e) for e in p.parse()] == [Err("x" * 57)] and p.buffered == 0
    assert refused(GOOD + line + b"x", "control line longer than 64 bytes", limits) == [OK_MSG]
    assert refused(GOOD + line + b"x\r", "control line longer than 64 bytes", limits) == [OK_MSG]


def test_payload_at_max_payload() -> None:
    limits = NatsLimits(max_payload=5)
    assert parse(b"MSG a 1 5\r\nabcde\r\n", limits) == [("msg", "a", 1, None, None, b"abcde")]
    assert refused(GOOD + b"MSG a 1 6\r\n", "message of 6 bytes exceeds max_payload 5", limits) == [OK_MSG]
    assert parse(b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n", NatsLimits(max_payload=12)) == [
        ("msg", "a", 1, None, b"NATS/1.0\r\n\r\n", b"")]
    assert refused(b"HMSG a 1 12 13\r\n", "message of 13 bytes exceeds max_payload 12", NatsLimits(max_payload=12)) == []


def test_info_lowers_max_payload_but_never_raises_it() -> None:
    p = NatsParser(NatsLimits(max_payload=1000, initial_buffer=1024))
    p.feed(b'INFO {"max_payload":500}\r\n')
    [info] = p.parse()
    assert isinstance(info, Info) and p.max_payload == 500
    p.feed(b'INFO {"max_payload":5000}\r\n')
    p.parse()
    assert p.max_payload == 1000
    p.feed(b"MSG a 1 1000\r\n")
    assert p.parse() == [] and p.buffered == len(b"MSG a 1 1000\r\n")  # waits: allowed
    assert Info({}).max_payload == 1024 * 1024  # the server's documented default when INFO omits it


# --- MSG / HMSG -----------------------------------------------------------------------------------


def test_msg_forms_and_case() -> None:
    assert parse(b"msg a.b 12 inbox.9 3\r\nxyz\r\n") == [("msg", "a.b", 12, "inbox.9", None, b"xyz")]
    assert parse(b"MSG  a  1   0\r\n\r\n") == [("msg", "a", 1, None, None, b"")]
    assert parse(b"Hmsg a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n") == [("msg", "a", 1, "r", b"NATS/1.0\r\n\r\n", b"hi")]
    assert parse(b"HMSG a 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n") == [("msg", "a", 2, None, b"NATS/1.0 503\r\n\r\n", b"")]


@pytest.mark.parametrize(
    "data, match",
    [
        (b"MSG a\r\n", "malformed MSG line"),
        (b"MSG a 1\r\n", "malformed MSG line"),
        (b"MSG a 1 r x 2\r\n", "malformed MSG line"),
        (b"MSG a x 2\r\nok\r\n", "malformed server line"),
        (b"MSG a 1 -2\r\n", "invalid size"),
        (b"MSG a 1 2\r\nokX\n", "MSG payload not followed by CRLF"),
        (b"MSG a 1 2\r\nok\n\r", "MSG payload not followed by CRLF"),
        (b"MSG \xff 1 2\r\nok\r\n", "malformed server line"),
        (b"HMSG a 1 12\r\n", "malformed HMSG line"),
        (b"HMSG a 1 r x 12 12 9\r\n", "malformed HMSG line"),
        (b"HMSG a 1 13 12\r\n", "HMSG header size 13 exceeds total size 12"),
        (b"HMSG a 1 x 12\r\n", "invalid size"),
        (b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\nXY", "HMSG payload not followed by CRLF"),
        (b"HMSG a 1 12 12\r\nNATS/1.1\r\n\r\n\r\n", "HMSG headers do not start with NATS/1.0"),
        (b"HMSG a 1 7 7\r\nNATS/1.\r\n", "HMSG headers do not start with NATS/1.0"),
        (b"HMSGX a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n", "unknown server operation"),  # no such operation
        (b"HMSG\r\n", "unknown server operation"),
        (b"MSGX a 1 2\r\nok\r\n", "unknown server operation"),
    ],
)
def test_malformed_messages(data: bytes, match: str) -> None:
    assert refused(GOOD + data, match) == [OK_MSG]


def test_payload_boundary_waits_for_its_crlf() -> None:
    wire = b"MSG a 1 3\r\nabc\r\n"
    for cut in range(len(wire)):
        p = NatsParser(NatsLimits(initial_buffer=1024))
        p.feed(GOOD + wire[:cut])
        assert [shape(e) for e in p.parse()] == [OK_MSG] and p.buffered == cut
        p.feed(wire[cut:])
        assert [shape(e) for e in p.parse()] == [("msg", "a", 1, None, None, b"abc")] and p.buffered == 0
    hwire = b"HMSG a 1 12 13\r\nNATS/1.0\r\n\r\nZ\r\n"
    for cut in range(len(hwire)):
        p = NatsParser(NatsLimits(initial_buffer=1024))
        p.feed(hwire[:cut])
        assert p.parse() == [] and p.buffered == cut
        p.feed(hwire[cut:])
        assert [shape(e) for e in p.parse()] == [("msg", "a", 1, None, b"NATS/1.0\r\n\r\n", b"Z")]


def test_an_empty_line_is_garbage() -> None:
    assert refused(b"\r\n", "unknown server operation") == []
    assert refused(GOOD + b"\r\n", "unknown server operation") == [OK_MSG]


# --- control lines --------------------------------------------------------------------------------


def test_control_operations_and_case() -> None:
    assert parse(b"ping\r\nPong\r\n+ok\r\n-err 'Stale Connection'\r\n") == [Ping(), Pong(), Ok(), Err("Stale Connection")]
    assert parse(b"-ERR  'Unknown Protocol Operation' \r\n") == [Err("Unknown Protocol Operation")]
    assert parse(b"-ERR\r\n") == [Err("")]
    assert parse(b'info  {"server_id":"s"}\r\n') == [("info", {"server_id": "s"})]
    assert parse(b"PING \r\n") == [Ping()]


def test_bad_control_lines() -> None:
    assert refused(GOOD + b"INFO\r\n", "INFO is not JSON") == [OK_MSG]
    assert refused(GOOD + b"INFO [1]\r\n", "INFO is not a JSON object") == [OK_MSG]
    long_op = b"Z" * 50
    assert refused(GOOD + long_op + b"\r\n", f"unknown server operation {long_op[:40]!r}") == [OK_MSG]
    assert refused(GOOD + b"PINGX\r\n", "unknown server operation") == [OK_MSG]


def test_err_fatality_follows_the_protocol() -> None:
    # per the documentation these keep the connection open; every other -ERR closes it
    assert not Err("Invalid Subject").fatal
    assert not Err("Permissions Violation for Subscription to foo.bar").fatal
    assert not Err("permissions violation for publish to x").fatal
    for message in ("Stale Connection", "Maximum Payload Violation", "Unknown Protocol Operation", ""):
        assert Err(message).fatal


def test_info_fields() -> None:
    info = Info({"connect_urls": ["h:1"], "tls_required": True, "headers": True, "max_payload": 7})
    assert (info.connect_urls, info.tls_required, info.headers, info.max_payload) == (["h:1"], True, True, 7)
    bare = Info({"connect_urls": None})
    assert (bare.connect_urls, bare.tls_required, bare.headers) == ([], False, False)


def test_every_later_parse_raises_after_garbage() -> None:
    p = NatsParser(NatsLimits(initial_buffer=1024))
    p.feed(b"BAD\r\n")
    for _ in range(2):
        with pytest.raises(NatsProtocolError, match="unknown server operation"):
            p.parse()
    p.feed(GOOD)
    with pytest.raises(NatsProtocolError):
        p.parse()


# --- the receive buffer ---------------------------------------------------------------------------


def test_write_view_sizes() -> None:
    p = NatsParser(NatsLimits(initial_buffer=1024))
    assert len(p.write_view(1024)) == 1024  # exactly what is free: no growth
    assert len(p.write_view(1025)) == 2048  # doubled
    p = NatsParser(NatsLimits(initial_buffer=1024))
    assert len(p.write_view(5000)) == 5000  # more than double: what is asked
    p = NatsParser(NatsLimits(initial_buffer=1024))
    p.feed(b"x" * 1000)
    assert len(p.write_view(24)) == 24
    assert len(p.write_view(25)) == 2048 - 1000


def test_the_partial_tail_moves_to_the_front() -> None:
    p = NatsParser(NatsLimits(initial_buffer=1024))
    p.feed(GOOD + b"MSG b 2 3\r\nab")
    assert [shape(e) for e in p.parse()] == [OK_MSG] and p.buffered == len(b"MSG b 2 3\r\nab")
    view = p.write_view(10)
    assert len(view) == 1024 - len(b"MSG b 2 3\r\nab")  # the tail now starts the buffer
    view[:3] = b"c\r\n"
    p.commit(3)
    assert [shape(e) for e in p.parse()] == [("msg", "b", 2, None, None, b"abc")] and p.buffered == 0
    assert len(p.write_view(1)) == 1024


# --- headers --------------------------------------------------------------------------------------


def test_parse_headers() -> None:
    assert parse_headers(b"NATS/1.0\r\nA: 1\r\nb:2\r\nA:  3 \r\n\r\n") == ("", {"A": ["1", "3"], "b": ["2"]})
    assert parse_headers(b"NATS/1.0 503\r\n\r\n") == ("503", {})
    assert parse_headers(b"NATS/1.0 408 Request Timeout\r\nX: y\r\n\r\n") == ("408 Request Timeout", {"X": ["y"]})
    with pytest.raises(NatsProtocolError, match="malformed NATS header line"):
        parse_headers(b"NATS/1.0\r\nno colon\r\n\r\n")
    p = NatsParser(NatsLimits(initial_buffer=1024))
    p.feed(b"HMSG a 1 24 24\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\n\r\nMSG a 1 0\r\n\r\n")
    hmsg, plain = p.parse()
    assert isinstance(hmsg, Msg) and hmsg.header_map() == {"K": ["v", "w"]}
    assert isinstance(plain, Msg) and plain.header_map() == {} and plain.headers is None


def test_encode_headers() -> None:
    assert encode_headers({}) == b"NATS/1.0\r\n\r\n"
    assert encode_headers({"A": "1", "B": ["2", "3"]}) == b"NATS/1.0\r\nA: 1\r\nB: 2\r\nB: 3\r\n\r\n"
    for name in ("", "a:b", "a b", "a\rb", "a\nb", "é"):
        with pytest.raises(InvalidMessage, match="invalid NATS header name"):
            encode_headers({name: "v"})
    for value in ("1\r", "1\n", ["ok", "x\r\ny"]):
        with pytest.raises(InvalidMessage, match="CR/LF"):
            encode_headers({"A": value})  # type: ignore[dict-item]


# --- encoders -------------------------------------------------------------------------------------


def test_subjects() -> None:
    for good in ("a", "a.b", "!", "~", "a*b", "a>", ">a", "foo.bar-baz_9", "é"):
        assert check_subject(good) == good.encode()
    for wild in ("*", ">", "a.*", "a.>", "*.a"):
        assert check_subject(wild, wildcards=True) == wild.encode()
        with pytest.raises(InvalidMessage, match="wildcards are not allowed"):
            check_subject(wild)
    for bad in ("", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\x1fb", "a\x7fb", "a\x00", "a\r\nPUB x 1"):
        for wildcards in (False, True):
            with pytest.raises(InvalidMessage, match="invalid NATS subject"):
                check_subject(bad, wildcards=wildcards)


def test_command_encoders() -> None:
    assert PING == b"PING\r\n" and PONG == b"PONG\r\n"
    assert encode_connect({"verbose": False, "name": "x"}) == b'CONNECT {"verbose":false,"name":"x"}\r\nPING\r\n'
    assert encode_pub(b"a", b"hi") == b"PUB a 2\r\nhi\r\n"
    assert encode_pub(b"a", bytearray(b"hi"), b"r.1") == b"PUB a r.1 2\r\nhi\r\n"
    assert encode_pub(b"a", memoryview(b"")) == b"PUB a 0\r\n\r\n"
    block = b"NATS/1.0\r\n\r\n"
    assert encode_pub(b"a", b"hi", None, block) == b"HPUB a 12 14\r\n" + block + b"hi\r\n"
    assert encode_pub(b"a", b"", b"r", block) == b"HPUB a r 12 12\r\n" + block + b"\r\n"
    assert encode_sub("a.*", 1) == b"SUB a.* 1\r\n"
    assert encode_sub("a.>", 22, "q") == b"SUB a.> q 22\r\n"
    with pytest.raises(InvalidMessage):
        encode_sub("a..b", 1)
    with pytest.raises(InvalidMessage):
        encode_sub("a", 1, "q.*")  # a queue group is no wildcard subject
    assert encode_unsub(5) == b"UNSUB 5\r\n" and encode_unsub(5, 0) == b"UNSUB 5 0\r\n"
