"""The tag=value codec on bytes: framing, validation, lookups, groups, limits, references."""

from __future__ import annotations

import re

import pytest
import simplefix

from boomnet.errors import FixError, FixGarbled, FixMessageTooLarge, InvalidMessage, LimitExceeded, LocalError
from boomnet.fix import FixEncoder, FixLimits, FixParser, sending_time
from boomnet.fix.dictionary import register_groups

SOH = b"\x01"


def frame(body: bytes, begin: bytes = b"FIX.4.4", checksum: int | None = None, length: int | None = None) -> bytes:
    """A message framed by hand from the spec (independent of boomnet's encoder)."""
    head = b"8=" + begin + SOH + b"9=%d" % (len(body) if length is None else length) + SOH
    cs = sum(head + body) % 256 if checksum is None else checksum
    return head + body + b"10=%03d" % cs + SOH


HEADER = b"35=D\x0149=C\x0156=S\x0134=7\x0152=20260101-00:00:00.000\x01"
NOS = frame(HEADER + b"11=A1\x0155=BTC\x0154=1\x0138=10\x0140=2\x0144=99.5\x01")


def test_parse_one_message_fields() -> None:
    [msg] = FixParser().feed(NOS)
    assert msg.msg_type == b"D" and msg.seq_num == 7 and msg.error is None
    assert msg[11] == b"A1" and msg.get_int(38) == 10 and msg.get_float(44) == 99.5
    assert msg.get(999) is None and 999 not in msg and 55 in msg
    assert msg.raw == NOS
    assert list(msg.fields())[:3] == [(8, b"FIX.4.4"), (9, b"%d" % (len(NOS) - NOS.index(b"35=") - 7)), (35, b"D")]
    tags = [t for t, _ in msg.fields()]
    assert tags == [8, 9, 35, 49, 56, 34, 52, 11, 55, 54, 38, 40, 44, 10]


def test_byte_by_byte_and_batches() -> None:
    parser = FixParser()
    out = []
    for i in range(len(NOS) * 3):
        out += parser.feed((NOS * 3)[i : i + 1])
    assert [m.raw for m in out] == [NOS] * 3 and parser.buffered == 0
    batch = parser.feed(NOS * 50 + NOS[:20])
    assert len(batch) == 50 and parser.buffered == 20
    assert parser.feed(NOS[20:])[0].raw == NOS


@pytest.mark.parametrize(
    "data, match",
    [
        (frame(HEADER + b"11=A\x01", checksum=1), "CheckSum"),
        (frame(HEADER + b"11=A\x01", length=len(HEADER) + 2), "BodyLength"),
        (frame(HEADER + b"11=A\x01", begin=b"FIX.4.2"), "expected"),
        (b"garbage\x01" * 4, "expected"),
        (frame(HEADER + b"11=A\x01").replace(b"9=", b"9=x", 1), "BodyLength"),
        (frame(b"49=C\x0135=D\x0156=S\x0134=1\x0152=x\x01"), "MsgType"),
    ],
)
def test_framing_errors(data: bytes, match: str) -> None:
    parser = FixParser()
    msgs = parser.feed(NOS + data + NOS)
    assert [m.raw for m in msgs] == [NOS]  # the good message before the bad one is kept
    assert isinstance(parser.error, FixGarbled) and re.search(match, str(parser.error))
    with pytest.raises(FixGarbled):
        parser.feed(NOS)


def test_size_limit_is_checked_before_buffering() -> None:
    parser = FixParser(limits=FixLimits(max_message_size=100))
    assert parser.feed(b"8=FIX.4.4\x019=101\x01") == []
    assert isinstance(parser.error, FixMessageTooLarge) and isinstance(parser.error, LimitExceeded)
    assert FixLimits().max_message_size == 1024 * 1024  # on by default
    with pytest.raises(LocalError):
        FixLimits(max_message_size=0)
    with pytest.raises(TypeError):
        FixLimits(max_size=5)  # type: ignore[call-arg]


@pytest.mark.parametrize("drop", [b"49=C\x01", b"56=S\x01", b"34=7\x01", b"52=20260101-00:00:00.000\x01"])
def test_missing_header_field_is_flagged_not_garbled(drop: bytes) -> None:
    [msg] = FixParser().feed(frame(HEADER.replace(drop, b"") + b"11=A\x01"))
    assert isinstance(msg.error, FixError) and "missing" in str(msg.error)


def test_bad_seq_num_and_bad_fields() -> None:
    [msg] = FixParser().feed(frame(HEADER.replace(b"34=7", b"34=x7") + b"11=A\x01"))
    assert msg.error is not None and msg.seq_num == 0
    [msg] = FixParser().feed(frame(HEADER + b"11=A\x01x=1\x01"))
    with pytest.raises(FixError):
        list(msg.fields())
    [msg] = FixParser().feed(frame(HEADER + b"38=ten\x01"))
    with pytest.raises(FixError):
        msg.get_int(38)


MDX = frame(
    b"35=X\x0149=S\x0156=C\x0134=3\x0152=20260101-00:00:00.000\x01262=r\x01268=3\x01"
    b"279=0\x01269=0\x0155=BTC\x01270=1.5\x01271=2\x01"
    b"279=1\x01269=1\x0155=ETH\x01270=2.5\x01271=3\x01"
    b"279=2\x01269=0\x0155=BTC\x01270=1.25\x01"
    b"813=7\x01"
)


def test_groups() -> None:
    [msg] = FixParser().feed(MDX)
    entries = msg.groups(268)
    assert [(e[279], e[55], e.get(271)) for e in entries] == [
        (b"0", b"BTC", b"2"),
        (b"1", b"ETH", b"3"),
        (b"2", b"BTC", None),
    ]
    assert msg.get(55) is None and msg[813] == b"7"  # top level only: 55 lives in the group
    assert msg.groups(627) == []  # a known group that is absent
    with pytest.raises(FixError):
        msg.groups(9999)


def test_group_count_mismatch_is_an_error() -> None:
    # re-framed properly so only the count is wrong
    body = MDX[MDX.index(b"35=") : MDX.index(b"10=")].replace(b"268=3", b"268=4")
    [msg] = FixParser().feed(frame(body))
    with pytest.raises(FixError, match="count says 4"):
        msg.groups(268)


def test_nested_groups_and_registered_layout() -> None:
    register_groups("U1", {900: (900, 901, (901, 902, 910, 911), {910: (910, 911, (911,), {})})})
    body = b"35=U1\x0149=S\x0156=C\x0134=1\x0152=x\x01900=2\x01901=a\x01910=2\x01911=x\x01911=y\x01901=b\x01902=q\x01"
    [msg] = FixParser().feed(frame(body))
    a, b = msg.groups(900)
    assert [n[911] for n in a.groups(910)] == [b"x", b"y"] and b[902] == b"q" and b.groups(910) == []
    assert a.get(911) is None and a[901] == b"a" and a.get(902) is None  # 911 lives in the nested group


def test_data_field_with_soh_is_taken_by_length() -> None:
    raw = b"ab\x0155=EVIL\x01cd"
    body = HEADER + b"95=%d\x0196=%s\x0155=BTC\x01" % (len(raw), raw)
    [msg] = FixParser().feed(frame(body))
    assert msg[96] == raw and msg[55] == b"BTC"


def test_encoder_frames_and_validates() -> None:
    enc = FixEncoder("FIX.4.4", "C", "S")
    data = enc.encode("D", 12, [(11, "A1"), (44, 99.5), (38, 10), (54, True), (58, "x")], now=1767225600.25)
    assert data.startswith(b"8=FIX.4.4\x019=")
    assert b"\x0152=20260101-00:00:00.250\x01" in data and b"\x0154=Y\x01" in data and b"\x0144=99.5\x01" in data
    body_start = data.index(b"35=")
    assert int(data[12 : body_start - 1]) == len(data) - body_start - 7
    assert int(data[-4:-1]) == sum(data[:-7]) % 256
    for bad in ([(11, "a\x01b")], [(11, "")], [(0, "x")], [(11, object())]):
        with pytest.raises(InvalidMessage):
            enc.encode("D", 1, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage):
        FixEncoder("FIX.4.4", "a=b", "S")
    assert float(enc.encode("D", 1, [(44, 1e-7)]).split(b"44=")[1].split(SOH)[0]) == 1e-7


def test_sending_time_format() -> None:
    assert re.fullmatch(rb"\d{8}-\d{2}:\d{2}:\d{2}\.\d{3}", sending_time())
    assert sending_time(0.999) == b"19700101-00:00:00.999"


def test_simplefix_reads_what_we_encode_and_we_read_what_it_encodes() -> None:
    enc = FixEncoder("FIX.4.4", "C", "S")
    data = enc.encode("D", 3, [(11, "A"), (55, "BTC"), (44, "1.5")])
    p = simplefix.FixParser()
    p.append_buffer(data)
    m = p.get_message()
    assert m is not None and m.get(11) == b"A" and m.get(34) == b"3" and m.get(10) == data[-4:-1]
    sm = simplefix.FixMessage()
    sm.append_pair(8, "FIX.4.4")
    sm.append_pair(35, "8")
    sm.append_pair(49, "S")
    sm.append_pair(56, "C")
    sm.append_pair(34, 9)
    sm.append_utc_timestamp(52)
    sm.append_pair(17, "E1")
    [ours] = FixParser().feed(sm.encode())
    assert ours.error is None and ours[17] == b"E1" and ours.seq_num == 9


def test_quickfix_validates_what_we_encode() -> None:
    from .conftest import require_quickfix

    require_quickfix()
    import os
    import sys

    import quickfix as fix

    dd = fix.DataDictionary(os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml"))
    enc = FixEncoder("FIX.4.4", "C", "S")
    data = enc.encode(
        "X", 4, [(262, "r"), (268, 2), (279, 0), (269, 0), (55, "BTC"), (270, 1.5), (279, 2), (269, 1), (55, "BTC")]
    )
    msg = fix.Message(data.decode(), dd, True)  # QuickFIX checks length, checksum and the dictionary
    assert msg.getHeader().getField(34) == "4" and msg.getField(268) == "2"
    group = fix.Group(268, 279)
    msg.getGroup(2, group)
    assert group.getField(269) == "1"


def test_dictionary_matches_quickfix() -> None:
    from .conftest import require_quickfix

    require_quickfix()
    from pathlib import Path

    from .gen_dictionary import default_xml, render

    generated = Path(__file__).resolve().parents[2] / "boomnet" / "fix" / "_dict44.py"
    assert generated.read_text() == render(default_xml())


def test_group_rows_equals_per_entry_gets() -> None:
    [msg] = FixParser().feed(MDX)
    tags = (279, 269, 55, 270, 271, 999)
    rows = msg.group_rows(268, tags)
    assert rows == [tuple(e.get(t) for t in tags) for e in msg.groups(268)]
    assert rows[2] == (b"2", b"0", b"BTC", b"1.25", None, None)
    body = MDX[MDX.index(b"35=") : MDX.index(b"10=")].replace(b"268=3", b"268=2")
    [bad] = FixParser().feed(frame(body))
    with pytest.raises(FixError, match="count says 2"):
        bad.group_rows(268, (270,))
    [no_group] = FixParser().feed(NOS)
    assert no_group.group_rows(627, (628,)) == []


def test_group_entries_of_a_message_with_a_data_field_use_the_index() -> None:
    # EncodedText(355) inside an X entry may hold SOH and "\x01270=": a plain find would be fooled
    raw = b"x\x01270=666\x01y"
    body = (
        b"35=X\x0149=S\x0156=C\x0134=3\x0152=20260101-00:00:00.000\x01268=2\x01"
        b"279=0\x01269=0\x01354=%d\x01355=%s\x01270=1.5\x01"
        b"279=1\x01269=1\x01270=2.5\x01" % (len(raw), raw)
    )
    [msg] = FixParser().feed(frame(body))
    assert [e.get(270) for e in msg.groups(268)] == [b"1.5", b"2.5"]
    assert msg.group_rows(268, (270, 355)) == [(b"1.5", raw), (b"2.5", None)]


def test_c_fast_path_knows_the_same_data_fields() -> None:
    import importlib
    import os

    from boomnet.fix.dictionary import DATA_FIELDS

    try:
        speedups = importlib.import_module("boomnet.fix._speedups")
    except ImportError:
        if os.environ.get("BOOMNET_PURE_PYTHON"):
            pytest.skip("n/a: BOOMNET_PURE_PYTHON=1 forces the pure-Python path")
        pytest.skip("the C fast path boomnet.fix._speedups is not built")
    assert tuple(sorted(DATA_FIELDS)) == speedups.DATA_LEN_TAGS


def test_repr_never_shows_the_password() -> None:
    enc = FixEncoder("FIX.4.4", "C", "S")
    [logon] = FixParser().feed(enc.encode("A", 1, [(98, 0), (108, 30), (553, "me"), (554, "hunter2"), (925, "new-pw")]))
    text = repr(logon)
    assert "hunter2" not in text and "new-pw" not in text and "554=***" in text and "553=me" in text


def test_pure_python_switch_really_disables_the_c_path() -> None:
    import os

    from boomnet.fix import parser as parser_mod

    if os.environ.get("BOOMNET_PURE_PYTHON"):  # what the mutation run and the CI's pure leg rely on
        assert parser_mod._c_scan is None and parser_mod.checksum is parser_mod._py_checksum
    else:
        assert (parser_mod._c_scan is None) is (parser_mod.checksum is parser_mod._py_checksum)
