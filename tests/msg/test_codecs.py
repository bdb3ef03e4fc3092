"""Codecs on bytes: hand-derived wire vectors, limits checked before buffering, bad input."""

from __future__ import annotations

import msgspec
import pytest

from boomnet.errors import FrameTooLarge, FramingError, InvalidMessage, LocalError
from boomnet.msg import Datagram, DatagramCodec, LengthPrefixed, Lines, Typed
from boomnet.buffer import ReceiveBuffer


def decode_all(codec, data: bytes) -> tuple[list, int]:
    out: list = []
    used = codec.decode(memoryview(data), out)
    return out, used


def enc(codec, msg) -> bytes:
    out = bytearray()
    parts = codec.encode(msg, out)
    if parts is not None:
        assert not out
        return b"".join(bytes(p) for p in parts)
    return bytes(out)


# --- connect-rs datagrams: vectors written by hand from its documented layout ---------------------
# [u32 size = 4 + len(payload)][u16 version = 1][u16 tag][payload], all big-endian.

HELLO = bytes.fromhex("00000010" "0001" "ffff" "48656c6c6f20776f726c6421")  # tag 65535, "Hello world!"
ONE_BYTE = bytes.fromhex("00000005" "0001" "0007" "2a")  # tag 7, b"*"


def test_datagram_encode_matches_connect_rs_layout() -> None:
    codec = DatagramCodec()
    assert enc(codec, Datagram(65535, b"Hello world!")) == HELLO
    assert enc(codec, Datagram(7, b"*")) == ONE_BYTE


def test_datagram_decode_hand_vectors() -> None:
    out, used = decode_all(DatagramCodec(), HELLO + ONE_BYTE)
    assert used == len(HELLO) + len(ONE_BYTE)
    assert [(d.tag, bytes(d.data)) for d in out] == [(65535, b"Hello world!"), (7, b"*")]


def test_datagram_partial_frame_reports_its_size() -> None:
    codec = DatagramCodec()
    out, used = decode_all(codec, HELLO[:-1])
    assert out == [] and used == 0
    assert codec.frame_size(memoryview(HELLO[:-1])) == len(HELLO)
    assert codec.frame_size(memoryview(HELLO[:2])) == 8


def test_datagram_hostile_size_is_refused_from_the_size_field_alone() -> None:
    codec = DatagramCodec(max_payload=1000)
    hostile = bytes.fromhex("7fffffff")  # 2 GiB announced; only the 4 size bytes have arrived
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(hostile), [])
    with pytest.raises(FrameTooLarge):
        codec.frame_size(memoryview(hostile))
    # the default limit is connect-rs's 100,000,000 bytes of payload
    over = (100_000_000 + 5).to_bytes(4, "big") + bytes.fromhex("00010000")
    with pytest.raises(FrameTooLarge):
        DatagramCodec().decode(memoryview(over), [])


def test_receive_buffer_never_grows_for_a_hostile_size() -> None:
    codec = DatagramCodec(max_payload=1000)
    buf = ReceiveBuffer(64 * 1024)
    buf.feed(bytes.fromhex("7fffffff00010001"))
    with pytest.raises(FrameTooLarge):
        codec.decode(buf.peek(), [])
    assert len(buf._buf) <= 2 * 64 * 1024


def test_datagram_version_and_empty_payload_are_checked() -> None:
    with pytest.raises(FramingError, match="version 2"):
        DatagramCodec().decode(memoryview(bytes.fromhex("00000005" "0002" "0000" "41")), [])
    with pytest.raises(FramingError, match="minimum"):
        DatagramCodec().decode(memoryview(bytes.fromhex("00000004" "0001" "0000")), [])


def test_messages_before_a_bad_frame_are_kept() -> None:
    out: list = []
    bad = bytes.fromhex("00000005" "0009" "0000" "41")
    with pytest.raises(FramingError):
        DatagramCodec().decode(memoryview(HELLO + bad), out)
    assert [bytes(d.data) for d in out] == [b"Hello world!"]


def test_datagram_encode_rejects_what_connect_rs_would_not_carry() -> None:
    codec = DatagramCodec(max_payload=10)
    for bad in (Datagram(1, b""), Datagram(-1, b"x"), Datagram(65536, b"x"), Datagram(1, b"x" * 11), b"raw"):
        with pytest.raises(InvalidMessage):
            codec.encode(bad, bytearray())  # type: ignore[arg-type]
    with pytest.raises(LocalError):
        DatagramCodec(max_payload=100_000_001)


def test_datagram_large_payload_goes_vectored_without_copy() -> None:
    payload = b"z" * 70_000
    parts = DatagramCodec().encode(Datagram(3, payload), bytearray())
    assert parts is not None and parts[1] is payload
    assert bytes(parts[0]) == (70_004).to_bytes(4, "big") + b"\x00\x01\x00\x03"


# --- length-prefixed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec, wire",
    [
        (LengthPrefixed(4), bytes.fromhex("00000003") + b"abc"),
        (LengthPrefixed(4, byteorder="little"), bytes.fromhex("03000000") + b"abc"),
        (LengthPrefixed(2), bytes.fromhex("0003") + b"abc"),
        (LengthPrefixed(1), bytes.fromhex("03") + b"abc"),
        (LengthPrefixed(8), bytes.fromhex("0000000000000003") + b"abc"),
        (LengthPrefixed(2, includes_header=True), bytes.fromhex("0005") + b"abc"),
        (LengthPrefixed(8, byteorder="little", includes_header=True), bytes.fromhex("0b00000000000000") + b"abc"),
    ],
)
def test_length_prefixed_vectors(codec: LengthPrefixed, wire: bytes) -> None:
    assert enc(codec, b"abc") == wire
    out, used = decode_all(codec, wire + wire[:-1])
    assert [bytes(m) for m in out] == [b"abc"] and used == len(wire)
    assert codec.frame_size(memoryview(wire[:-1])) == len(wire)


def test_length_prefixed_limit_is_on_by_default_and_checked_early() -> None:
    codec = LengthPrefixed(4)
    assert codec.max_size == 16 * 1024 * 1024
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(bytes.fromhex("01000001")), [])  # 16 MiB + 1, nothing else yet
    with pytest.raises(InvalidMessage):
        LengthPrefixed(1, max_size=3).encode(b"abcd", bytearray())


def test_length_that_counts_itself_cannot_be_smaller_than_itself() -> None:
    with pytest.raises(FramingError):
        LengthPrefixed(4, includes_header=True).decode(memoryview(bytes.fromhex("00000002")), [])


def test_length_prefixed_options_are_validated() -> None:
    for kwargs in ({"width": 3}, {"byteorder": "middle"}, {"width": 1, "max_size": 256}, {"max_size": 0}):
        with pytest.raises(LocalError):
            LengthPrefixed(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LengthPrefixed(4, max_sise=10)  # type: ignore[call-arg]


def test_decoded_messages_are_views_into_the_buffer() -> None:
    data = bytearray(bytes.fromhex("00000002") + b"hi")
    out, _ = decode_all(LengthPrefixed(), data)  # type: ignore[arg-type]
    assert isinstance(out[0], memoryview)
    data[4] = ord("H")
    assert bytes(out[0]) == b"Hi"  # zero copy: the same memory


# --- lines ----------------------------------------------------------------------------------------


def test_lines_decode_and_encode() -> None:
    codec = Lines()
    out, used = decode_all(codec, b"one\ntwo\n\nthr")
    assert [bytes(m) for m in out] == [b"one", b"two", b""] and used == 9
    assert enc(codec, b"abc") == b"abc\n"
    crlf = Lines(b"\r\n")
    out, used = decode_all(crlf, b"a\r\nb\r")
    assert [bytes(m) for m in out] == [b"a"] and used == 3
    strip = Lines(strip_cr=True)
    out, _ = decode_all(strip, b"a\r\nb\n")
    assert [bytes(m) for m in out] == [b"a", b"b"]


def test_lines_limit_without_a_delimiter() -> None:
    codec = Lines(max_line=8)
    out, used = decode_all(codec, b"12345678")  # exactly the limit, delimiter still to come
    assert out == [] and used == 0
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(b"123456789"), [])
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(b"ok\n123456789\n"), [])
    multi = Lines(b"\r\n", max_line=4)
    assert decode_all(multi, b"1234\r")[0] == []  # the delimiter's first byte may be here already


def test_lines_refuse_to_send_a_delimiter_inside() -> None:
    with pytest.raises(InvalidMessage):
        Lines().encode(b"a\nb", bytearray())
    with pytest.raises(InvalidMessage):
        Lines(max_line=2).encode(b"abc", bytearray())


# --- typed ----------------------------------------------------------------------------------------


class Order(msgspec.Struct, tag=True):
    id: int
    side: str
    qty: float


class Cancel(msgspec.Struct, tag=True):
    id: int


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_typed_roundtrip_of_user_classes(fmt: str) -> None:
    codec: Typed[Order | Cancel] = Typed(Order | Cancel, format=fmt)
    wire = enc(codec, Order(1, "buy", 2.5)) + enc(codec, Cancel(1))
    out, used = decode_all(codec, wire)
    assert out == [Order(1, "buy", 2.5), Cancel(1)] and used == len(wire)


def test_typed_json_is_newline_delimited_json() -> None:
    codec: Typed[Order] = Typed(Order, format="json")
    assert enc(codec, Order(1, "buy", 2.0)) == b'{"type":"Order","id":1,"side":"buy","qty":2.0}\n'


def test_typed_msgpack_is_length_prefixed_msgpack() -> None:
    wire = enc(Typed(Cancel), Cancel(5))
    body = msgspec.msgpack.encode({"type": "Cancel", "id": 5})
    assert wire == len(body).to_bytes(4, "big") + body


def test_typed_wrong_shape_is_a_framing_error_after_good_messages() -> None:
    codec: Typed[Order] = Typed(Order, format="json")
    out: list = []
    with pytest.raises(FramingError):
        codec.decode(memoryview(b'{"type":"Order","id":1,"side":"b","qty":1}\n{"type":"Order","id":"x"}\n'), out)
    assert out == [Order(1, "b", 1.0)]
    with pytest.raises(InvalidMessage):
        codec.encode(object(), bytearray())  # type: ignore[arg-type]


def test_pure_python_switch_really_disables_the_c_path() -> None:
    import os

    from boomnet.msg import codec as codec_mod
    from boomnet.msg import datagram as datagram_mod

    assert codec_mod.SPEEDUPS is (codec_mod._split_lp is not None)
    assert (datagram_mod._split_dg is None) is (not codec_mod.SPEEDUPS)
    if os.environ.get("BOOMNET_PURE_PYTHON"):  # what the mutation run and the CI's pure leg rely on
        assert codec_mod.SPEEDUPS is False
        assert codec_mod._split_lp is None and codec_mod._pack_lp is None and datagram_mod._split_dg is None
