"""FixParser framing at its exact boundaries, on both paths (pure Python and the C scan).

Messages are framed by hand from the FIX 4.x rules, never by boomnet's encoder: ``8=`` first,
``9=BodyLength`` second (the bytes from after the SOH ending field 9 up to and including the SOH
before ``10=``), ``35=`` third, and ``10=CheckSum`` last (the byte sum of everything before
``10=``, mod 256, as three digits). The ``path`` fixture runs each test with the C scan
(imported directly, whatever BOOMNET_PURE_PYTHON says) and without it: both must agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from boomnet.errors import FixError, FixGarbled, FixMessageTooLarge
from boomnet.fix import FixLimits, FixParser
from boomnet.fix import parser as parser_mod

SOH = b"\x01"
HEADER = b"35=D\x0149=C\x0156=S\x0134=7\x0152=20260101-00:00:00.000\x01"


@pytest.fixture(params=["python", "c"], autouse=True)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    scan = None
    if request.param == "c":
        try:
            scan = importlib.import_module("boomnet.fix._speedups").scan
        except ImportError:
            pytest.skip("boomnet.fix._speedups is not built")  # a failure under BOOMNET_STRICT
    monkeypatch.setattr(parser_mod, "_c_scan", scan)
    yield request.param


def frame(body: bytes, *, length: int | None = None, checksum: int | None = None, length_text: bytes | None = None,
          trailer: bytes | None = None) -> bytes:
    head = b"8=FIX.4.4\x019=" + (length_text if length_text is not None else b"%d" % (len(body) if length is None else length)) + SOH
    cs = sum(head + body) % 256 if checksum is None else checksum
    return head + body + (trailer if trailer is not None else b"10=%03d" % cs + SOH)


GOOD = frame(HEADER + b"11=A\x01")


def feed(parser: FixParser, *chunks: bytes) -> list[bytes]:
    out = []
    for c in chunks:
        out += [m.raw for m in parser.feed(c)]
    return out


def garbled(data: bytes, match: str, parser: FixParser | None = None) -> FixParser:
    """``GOOD + data``: GOOD is delivered, then the parser holds a FixGarbled matching ``match``."""
    parser = parser or FixParser()
    assert feed(parser, GOOD + data) == [GOOD]
    assert type(parser.error) is FixGarbled and match in str(parser.error), parser.error
    assert parser.buffered == 0
    with pytest.raises(FixGarbled):
        parser.feed(GOOD)
    return parser


def test_checksum_is_the_byte_sum_mod_256() -> None:
    data = b"\xff\xff\x03"  # 513 = 2 * 256 + 1
    assert parser_mod._py_checksum(data, 0, 3) == 1
    assert parser_mod.checksum(data, 0, 3) == 1
    assert parser_mod._py_checksum(b"\xff", 0, 1) == 255
    assert parser_mod._py_checksum(b"x\xff\x01y", 1, 3) == 0


def test_a_message_framed_by_hand() -> None:
    parser = FixParser()
    [msg] = parser.feed(GOOD)
    assert msg.raw == GOOD and msg.msg_type == b"D" and msg.seq_num == 7 and msg.error is None
    assert msg[11] == b"A" and not msg._has_data and parser.buffered == 0 and parser.error is None


def test_every_split_point_waits_then_delivers() -> None:
    wire = GOOD + GOOD
    for cut in range(len(wire) + 1):
        parser = FixParser()
        first = feed(parser, wire[:cut])
        assert parser.error is None
        assert first == [GOOD] * (cut // len(GOOD))
        assert parser.buffered == cut - len(GOOD) * len(first)
        assert first + feed(parser, wire[cut:]) == [GOOD, GOOD] and parser.buffered == 0


def test_a_partial_header_waits_and_a_wrong_one_does_not() -> None:
    for part in (b"8", b"8=FIX.4", b"8=FIX.4.4\x01", b"8=FIX.4.4\x019"):
        parser = FixParser()
        assert feed(parser, GOOD + part) == [GOOD] and parser.error is None and parser.buffered == len(part)
    for bad in (b"X", b"9", b"8=FIX.4.2", b"8=FIX.4.4\x0135="):
        garbled(bad, "expected the start of a message")


def test_begin_string_is_the_configured_one() -> None:
    fix42 = GOOD.replace(b"FIX.4.4", b"FIX.4.2")
    fix42 = fix42[:-4] + b"%03d\x01" % (sum(fix42[:-7]) % 256)
    assert feed(FixParser("FIX.4.2"), fix42) == [fix42]
    with pytest.raises(AssertionError):
        garbled(b"", "", FixParser("FIX.4.2"))  # GOOD itself is garbage for a FIX.4.2 parser


def test_body_length_digits_window() -> None:
    # up to 8 digits (leading zeros allowed), then SOH within 9 bytes of "9="
    body = HEADER + b"11=A\x01"
    eight = frame(body, length_text=b"%08d" % len(body))
    assert feed(FixParser(), eight) == [eight]
    garbled(frame(body, length_text=b"%09d" % len(body)), "BodyLength is not terminated")
    parser = FixParser()
    assert feed(parser, GOOD + b"8=FIX.4.4\x019=12345678") == [GOOD] and parser.error is None  # 8 digits: may end
    garbled(b"8=FIX.4.4\x019=123456789", "BodyLength is not terminated")  # 9 without SOH: cannot
    for text in (b"", b"x", b"1x", b"-5", b"+5", b" 5"):
        garbled(frame(body, length_text=text), "BodyLength is not a number")


def test_body_length_limit() -> None:
    body = HEADER + b"11=A\x01"
    at = FixParser(limits=FixLimits(max_message_size=len(body)))
    assert feed(at, frame(body)) == [frame(body)] and at.error is None
    over = FixParser(limits=FixLimits(max_message_size=len(body) - 1))
    assert feed(over, GOOD[:0] + frame(body)) == []
    assert type(over.error) is FixMessageTooLarge
    assert str(over.error) == f"BodyLength {len(body)} exceeds max_message_size {len(body) - 1}"
    # refused from the length field alone, before the body is buffered
    early = FixParser(limits=FixLimits(max_message_size=100))
    assert feed(early, b"8=FIX.4.4\x019=101\x01") == [] and type(early.error) is FixMessageTooLarge
    assert early.buffered == 0
    exact = FixParser(limits=FixLimits(max_message_size=100))
    assert feed(exact, b"8=FIX.4.4\x019=100\x01") == [] and exact.error is None and exact.buffered == 16
    assert FixParser().limits.max_message_size == 1024 * 1024  # the documented default


def test_body_length_zero_and_one() -> None:
    parser = FixParser()
    assert feed(parser, GOOD + b"8=FIX.4.4\x019=0\x01") == [GOOD]
    assert type(parser.error) is FixGarbled and str(parser.error) == "BodyLength 0"
    waiting = FixParser()
    assert feed(waiting, GOOD + b"8=FIX.4.4\x019=1\x01") == [GOOD] and waiting.error is None  # wait for 7 bytes
    garbled(b"8=FIX.4.4\x019=0\x0110=000\x01", "")  # complete and empty: still garbage


def test_body_length_that_misses_the_checksum_field() -> None:
    body = HEADER + b"11=A\x01"
    for delta in (-1, 1, 2):
        garbled(frame(body, length=len(body) + delta) + b"XXXXXXXX", f"BodyLength {len(body) + delta} does not end at a CheckSum field")
    cs = sum(frame(body)[:-7]) % 256
    garbled(frame(body, trailer=b"10=%03dX" % cs) + b"\x01", "does not end at a CheckSum field")  # 4 characters
    garbled(frame(body, trailer=b"11=%03d\x01" % cs), "does not end at a CheckSum field")  # not tag 10
    garbled(frame(body, trailer=b"1=0%03d\x01" % cs), "does not end at a CheckSum field")


def test_checksum_format_and_value() -> None:
    body = HEADER + b"11=A\x01"
    right = sum(frame(body)[:-7]) % 256
    for text in (b"1a3", b"+12", b" 12", b"abc"):
        garbled(frame(body, trailer=b"10=" + text + SOH), "CheckSum is not three digits")
    for wrong in ((right + 1) % 256, (right - 1) % 256, right + 256):
        garbled(frame(body, checksum=wrong), f"CheckSum {wrong:03d} does not match {right:03d}")
    # validate_checksum=False skips the comparison, not the format
    lax = FixParser(validate_checksum=False)
    assert feed(lax, frame(body, checksum=(right + 1) % 256)) == [frame(body, checksum=(right + 1) % 256)]
    garbled(frame(body, trailer=b"10=1a3\x01"), "CheckSum is not three digits", FixParser(validate_checksum=False))
    assert FixParser().validate_checksum is True


def test_checksum_over_two_hundred_fifty_five() -> None:
    # a body whose byte sum mod 256 is large (>= 100: all three digits count)
    for pad in range(0, 40):
        body = HEADER + b"58=" + b"~" * pad + SOH
        wire = frame(body)
        assert feed(FixParser(), wire) == [wire]


def test_msg_type_must_be_the_third_field() -> None:
    garbled(frame(b"49=C\x0135=D\x0156=S\x0134=1\x0152=x\x01"), "MsgType(35) is not the third field")
    garbled(frame(b"X35=D\x0149=C\x01"), "MsgType(35) is not the third field")


@pytest.mark.parametrize(
    "body, msg_type",
    [(b"35=D\x01", b"D"), (b"35=AB\x0149=C\x01", b"AB"), (b"35=U1\x01", b"U1")],
)
def test_msg_type_is_the_value_of_35(body: bytes, msg_type: bytes) -> None:
    [msg] = FixParser().feed(frame(body))
    assert msg.msg_type == msg_type


def test_header_defects_are_flagged_in_order() -> None:
    def error_of(body: bytes) -> tuple[str | None, int]:
        [msg] = FixParser().feed(frame(body))
        return (None if msg.error is None else str(msg.error)), msg.seq_num

    assert type(FixParser().feed(frame(HEADER.replace(b"49=C\x01", b"")))[0].error) is FixError
    for drop, tag in ((b"49=C\x01", 49), (b"56=S\x01", 56), (b"34=7\x01", 34), (b"52=20260101-00:00:00.000\x01", 52)):
        assert error_of(HEADER.replace(drop, b"")) == (f"required header field {tag} missing", 0 if tag == 34 else 7)
    # MsgSeqNum is read first: a Reject of a message with another defect must refer to its number
    assert error_of(HEADER.replace(b"49=C\x01", b"")) == ("required header field 49 missing", 7)
    for seq in (b"x7", b"", b"7x", b"-7", b"1" * 19):
        assert error_of(HEADER.replace(b"34=7", b"34=" + seq)) == ("MsgSeqNum is not a number", 0)
    assert error_of(HEADER.replace(b"34=7", b"34=" + b"9" * 18)) == (None, 10**18 - 1)
    assert error_of(HEADER.replace(b"34=7", b"34=" + b"0" * 17 + b"5")) == (None, 5)
    assert error_of(b"35=\x0149=C\x0156=S\x0134=3\x0152=x\x01") == ("MsgType is empty", 3)
    # MsgSeqNum as the last field before CheckSum: its value ends at the SOH before 10=
    assert error_of(b"35=D\x0149=C\x0156=S\x0152=x\x0134=42\x01") == (None, 42)
    # the fields must be in the header's window, not only in the body's values
    assert error_of(b"35=D\x0149=C\x0156=S\x0152=x\x0158=34=5\x01")[0] == "required header field 34 missing"


def test_data_fields_are_noticed() -> None:
    raw = b"a\x0155=X\x01b"
    [msg] = FixParser().feed(frame(HEADER + b"95=%d\x0196=%s\x01" % (len(raw), raw)))
    assert msg._has_data and msg[96] == raw and msg.error is None
    [plain] = FixParser().feed(frame(HEADER + b"955=1\x01"))  # 955 is no data length tag
    assert not plain._has_data and plain.error is None
    [both] = FixParser().feed(frame(HEADER.replace(b"49=C\x01", b"") + b"95=1\x0196=x\x01"))
    assert both._has_data and str(both.error) == "required header field 49 missing"


def test_messages_before_any_error_are_delivered_and_nothing_after() -> None:
    parser = FixParser()
    msgs = parser.feed(GOOD + GOOD + b"garbage" + GOOD)
    assert [m.raw for m in msgs] == [GOOD, GOOD] and type(parser.error) is FixGarbled and parser.buffered == 0
    parser.reset()
    assert parser.error is None and parser.buffered == 0
    assert feed(parser, GOOD[:10]) == [] and parser.buffered == 10
    parser.reset()
    assert parser.buffered == 0 and feed(parser, GOOD) == [GOOD]


def test_the_tail_is_kept_only_while_the_stream_is_sound() -> None:
    parser = FixParser()
    assert feed(parser, GOOD + GOOD[:5]) == [GOOD] and parser.buffered == 5
    assert feed(parser, GOOD[5:]) == [GOOD] and parser.buffered == 0
    big = FixParser(limits=FixLimits(max_message_size=10))
    assert feed(big, b"8=FIX.4.4\x019=11\x01abc") == [] and big.buffered == 0
    assert type(big.error) is FixMessageTooLarge


def test_each_message_of_a_batch_keeps_its_own_fields() -> None:
    first = frame(b"35=D\x0149=C\x0156=S\x0134=11\x0152=x\x01")
    second = frame(b"35=AE\x0149=C\x0134=12\x0152=x\x01")  # no TargetCompID
    third = frame(b"35=8\x0149=C\x0156=S\x0134=13\x0152=x\x0195=1\x0196=\x01\x01")  # RawData holds SOH
    msgs = FixParser().feed(first + second + third)
    assert [(m.raw, m.msg_type, m.seq_num, None if m.error is None else str(m.error), m._has_data) for m in msgs] == [
        (first, b"D", 11, None, False),
        (second, b"AE", 12, "required header field 56 missing", False),
        (third, b"8", 13, None, True),
    ]
