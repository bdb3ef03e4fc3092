"""connect-rs datagrams at their exact limits, on both paths (the ``path`` fixture, conftest).

Wire images are written by hand from connect-rs's documented layout:
``[u32 size = 4 + len(payload)][u16 version = 1][u16 tag][payload]``, big-endian, payload 1..max.
"""

from __future__ import annotations

from array import array

import pytest

from boomnet.errors import FrameTooLarge, FramingError, InvalidMessage, LocalError
from boomnet.msg import Datagram, DatagramCodec
from boomnet.msg import datagram as datagram_mod

pytestmark = pytest.mark.usefixtures("path")


def dg(size: int, version: int, tag: int, payload: bytes) -> bytes:
    """One frame, field by field (``size`` given explicitly so it can lie)."""
    return size.to_bytes(4, "big") + version.to_bytes(2, "big") + tag.to_bytes(2, "big") + payload


def decode(codec: DatagramCodec, data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    out: list = []
    used = codec.decode(memoryview(data), out)
    return [(d.tag, bytes(d.data)) for d in out], used


def refused(codec: DatagramCodec, data: bytes) -> tuple[list[tuple[int, bytes]], BaseException]:
    out: list = []
    with pytest.raises(FramingError) as info:
        codec.decode(memoryview(data), out)
    return [(d.tag, bytes(d.data)) for d in out], info.value


GOOD = dg(5, 1, 9, b"g")  # tag 9, b"g"


def test_documented_constants_and_defaults() -> None:
    assert datagram_mod.VERSION == 1 and datagram_mod.MAX_PAYLOAD == 100_000_000
    codec = DatagramCodec()
    assert codec.max_payload == 100_000_000 and codec.vector_min == 65_536


def test_construction_ranges() -> None:
    assert DatagramCodec(max_payload=1).max_payload == 1
    assert DatagramCodec(max_payload=100_000_000).max_payload == 100_000_000
    assert DatagramCodec(vector_min=1).vector_min == 1
    for kwargs in ({"max_payload": 0}, {"max_payload": -1}, {"max_payload": 100_000_001}, {"vector_min": 0}):
        with pytest.raises(LocalError):
            DatagramCodec(**kwargs)  # type: ignore[arg-type]


def test_decode_at_max_payload() -> None:
    codec = DatagramCodec(max_payload=3)
    at = dg(7, 1, 1, b"abc")
    assert decode(codec, GOOD + at) == ([(9, b"g"), (1, b"abc")], 20)
    msgs, err = refused(codec, GOOD + at + dg(8, 1, 2, b"abcd"))
    assert msgs == [(9, b"g"), (1, b"abc")]  # every datagram before the bad one is delivered
    assert type(err) is FrameTooLarge and str(err) == "datagram payload of 4 bytes exceeds max_payload=3"
    # refused from the size field alone, with nothing after it yet
    msgs, err = refused(codec, GOOD + (8).to_bytes(4, "big"))
    assert msgs == [(9, b"g")] and type(err) is FrameTooLarge and "payload of 4 bytes" in str(err)
    assert decode(codec, GOOD + (7).to_bytes(4, "big")) == ([(9, b"g")], 9)  # at the limit: it waits


def test_decode_the_default_limit() -> None:
    codec = DatagramCodec()
    assert decode(codec, (100_000_004).to_bytes(4, "big") + b"\x00\x01\x00\x00") == ([], 0)
    _, err = refused(codec, (100_000_005).to_bytes(4, "big"))
    assert type(err) is FrameTooLarge and "100000001 bytes exceeds max_payload=100000000" in str(err)


@pytest.mark.parametrize("size", [0, 1, 4])
def test_decode_size_below_five(size: int) -> None:
    codec = DatagramCodec()
    for data in (GOOD + dg(size, 1, 0, b"xyzw"), GOOD + size.to_bytes(4, "big")):
        msgs, err = refused(codec, data)
        assert msgs == [(9, b"g")] and type(err) is FramingError
        assert str(err) == f"datagram size {size} is below the minimum 5 (an empty payload)"
        with pytest.raises(FramingError, match="below the minimum"):
            codec.frame_size(memoryview(data[9:]))


@pytest.mark.parametrize("version", [0, 2, 0xFFFF])
def test_decode_unknown_version(version: int) -> None:
    codec = DatagramCodec()
    bad = dg(5, version, 0, b"x")
    msgs, err = refused(codec, GOOD + bad)
    assert msgs == [(9, b"g")] and type(err) is FramingError and str(err) == f"datagram version {version} is not 1"
    # as soon as the 8-byte header is complete, before its payload
    msgs, err = refused(codec, GOOD + bad[:8])
    assert msgs == [(9, b"g")] and str(err) == f"datagram version {version} is not 1"
    with pytest.raises(FramingError, match="version"):
        codec.frame_size(memoryview(bad[:8]))


def test_which_error_when_two_fields_are_bad() -> None:
    # the size is judged first (as connect-rs reads it first), then the version
    _, err = refused(DatagramCodec(max_payload=3), dg(8, 7, 0, b"abcd"))
    assert type(err) is FrameTooLarge
    _, err = refused(DatagramCodec(), dg(4, 7, 0, b""))
    assert "below the minimum" in str(err)
    # at the limit with a bad version: the version is the fault
    for codec, frame in ((DatagramCodec(max_payload=3), dg(7, 7, 0, b"abc")), (DatagramCodec(max_payload=1), dg(5, 7, 0, b"a"))):
        _, err = refused(codec, frame)
        assert type(err) is FramingError and str(err) == "datagram version 7 is not 1"
        with pytest.raises(FramingError, match="version 7"):
            codec.frame_size(memoryview(frame))


def test_decode_partial_frames_wait() -> None:
    codec = DatagramCodec()
    for smallest in range(9):  # the smallest frame (size 5) waits too, whatever part of it is here
        assert decode(codec, GOOD + dg(5, 1, 3, b"z")[:smallest]) == ([(9, b"g")], 9)
    frame = dg(7, 1, 3, b"abc")
    for cut in range(len(frame)):
        assert decode(codec, GOOD + frame[:cut]) == ([(9, b"g")], 9)
    assert decode(codec, GOOD + frame) == ([(9, b"g"), (3, b"abc")], 20)
    assert decode(codec, frame + GOOD) == ([(3, b"abc"), (9, b"g")], 20)


def test_frame_size_boundaries() -> None:
    codec = DatagramCodec(max_payload=3)
    frame = dg(7, 1, 3, b"abc")
    assert codec.frame_size(memoryview(b"")) == 8
    assert codec.frame_size(memoryview(frame[:3])) == 8
    for cut in (4, 5, 7, 8, 9, 11):
        assert codec.frame_size(memoryview(frame[:cut])) == 11
    assert codec.frame_size(memoryview(dg(5, 1, 0, b"")[:4])) == 9
    for cut in (4, 8):
        with pytest.raises(FrameTooLarge, match="payload of 4 bytes"):
            codec.frame_size(memoryview(dg(8, 1, 0, b"")[:cut]))


def test_encode_limits_and_tags() -> None:
    codec = DatagramCodec(max_payload=3, vector_min=3)
    out = bytearray(b"keep")
    assert codec.encode(Datagram(0, b"a"), out) is None
    assert codec.encode(Datagram(65535, b"ab"), out) is None
    assert out == b"keep" + dg(5, 1, 0, b"a") + dg(6, 1, 65535, b"ab")
    payload = b"abc"
    parts = codec.encode(Datagram(258, payload), out)  # vector_min: header and payload apart
    assert parts is not None and bytes(parts[0]) == b"\x00\x00\x00\x07\x00\x01\x01\x02" and parts[1] is payload
    before = bytes(out)
    for bad in (Datagram(1, b""), Datagram(1, b"abcd"), Datagram(-1, b"a"), Datagram(65536, b"a"),
                Datagram(True, b"a"), Datagram(1.0, b"a"), Datagram("1", b"a"),  # type: ignore[arg-type]
                Datagram(1, "ab"), Datagram(1, "abc"), Datagram(1, memoryview(b"abcd")[::2]), b"ab", (1,), 5):  # type: ignore[arg-type]
        with pytest.raises(InvalidMessage):
            codec.encode(bad, out)  # type: ignore[arg-type]
    assert out == before  # nothing appended by a refused datagram


def test_encode_counts_bytes_of_a_wide_view() -> None:
    wide = memoryview(array("H", [1, 2, 3]))  # 3 items, 6 bytes
    out = bytearray()
    assert DatagramCodec().encode(Datagram(5, wide), out) is None
    assert out == dg(10, 1, 5, wide.tobytes())
    with pytest.raises(InvalidMessage):
        DatagramCodec(max_payload=5).encode(Datagram(5, wide), bytearray())
    parts = DatagramCodec(vector_min=6).encode(Datagram(5, wide), bytearray())
    assert parts is not None and bytes(parts[0]) == dg(10, 1, 5, b"") and bytes(parts[1]) == wide.tobytes()


def test_decode_accepts_any_buffer_not_only_memoryviews() -> None:
    for data in (GOOD + b"\x00", bytearray(GOOD + b"\x00")):
        out: list = []
        assert DatagramCodec().decode(data, out) == 9  # type: ignore[arg-type]
        assert [(d.tag, bytes(d.data)) for d in out] == [(9, b"g")]
