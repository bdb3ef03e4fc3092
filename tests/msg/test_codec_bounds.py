"""LengthPrefixed and Lines at their exact limits (limit - 1, limit, limit + 1), both verdicts,
the exact error class, the documented defaults, and what an encoder leaves in ``out`` on refusal.

Every expected wire image is written by hand from the framing rules (never from our encoder).
Every test runs on both paths, whatever BOOMNET_PURE_PYTHON says: the ``path`` fixture (conftest)
points the codec modules at the C fast path (``boomnet.msg._speedups``, imported directly) or at none,
so the C code and the Python code that calls it must give the same verdicts."""

from __future__ import annotations

from array import array

import pytest

from boomnet.errors import FrameTooLarge, FramingError, InvalidMessage, LocalError
from boomnet.msg import LengthPrefixed, Lines
from boomnet.msg import codec as codec_mod


pytestmark = pytest.mark.usefixtures("path")


def decode(codec, data: bytes) -> tuple[list[bytes], int]:
    out: list = []
    used = codec.decode(memoryview(data), out)
    return [bytes(m) for m in out], used


def decode_error(codec, data: bytes) -> tuple[list[bytes], BaseException]:
    """The messages delivered before the error, and the error."""
    out: list = []
    with pytest.raises(FramingError) as info:
        codec.decode(memoryview(data), out)
    return [bytes(m) for m in out], info.value


# --- documented defaults --------------------------------------------------------------------------


def test_documented_defaults() -> None:
    assert codec_mod.DEFAULT_MAX_SIZE == 16_777_216
    assert codec_mod.DEFAULT_VECTOR_MIN == 65_536
    lp = LengthPrefixed()
    assert (lp.width, lp.byteorder, lp.includes_header, lp.max_size, lp.vector_min) == (4, "big", False, 16_777_216, 65_536)
    assert Lines().max_line == 65_536 and Lines().delimiter == b"\n" and Lines().strip_cr is False


def test_default_vector_min_boundary() -> None:
    codec = LengthPrefixed()
    out = bytearray()
    assert codec.encode(b"v" * 65_535, out) is None  # one below: copied into out
    assert out[:4] == b"\x00\x00\xff\xff" and len(out) == 4 + 65_535
    payload = b"v" * 65_536
    parts = codec.encode(payload, out)  # exactly vector_min: header and payload apart, out untouched
    assert parts is not None and bytes(parts[0]) == b"\x00\x01\x00\x00" and parts[1] is payload
    assert len(out) == 4 + 65_535


def test_default_max_size_boundary() -> None:
    codec = LengthPrefixed()
    assert decode(codec, b"\x01\x00\x00\x00") == ([], 0)  # 16 MiB exactly: waits for the payload
    assert codec.frame_size(memoryview(b"\x01\x00\x00\x00")) == 4 + 16_777_216
    _, err = decode_error(codec, b"\x01\x00\x00\x01")
    assert type(err) is FrameTooLarge


# --- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, max_size",
    [
        ({"width": 1}, 255),
        ({"width": 1, "includes_header": True}, 254),
        ({"width": 2}, 65_535),
        ({"width": 2, "includes_header": True, "max_size": None}, 65_533),
        ({"width": 4, "max_size": None}, 2**32 - 1),
        ({"width": 4, "includes_header": True, "max_size": None}, 2**32 - 5),
        ({"width": 8, "max_size": None}, 2**64 - 1),
        ({"width": 8, "includes_header": True}, 16_777_216),
    ],
)
def test_max_size_is_the_field_maximum_or_the_default(kwargs: dict, max_size: int) -> None:
    assert LengthPrefixed(**kwargs).max_size == max_size


def test_max_size_and_vector_min_ranges() -> None:
    assert LengthPrefixed(1, max_size=255).max_size == 255
    assert LengthPrefixed(1, max_size=1).max_size == 1
    assert LengthPrefixed(1, includes_header=True, max_size=254).max_size == 254
    for kwargs in ({"width": 1, "includes_header": True, "max_size": 255}, {"width": 1, "max_size": 256},
                   {"max_size": 0}, {"max_size": -1}, {"vector_min": 0}, {"vector_min": -1},
                   {"width": 0}, {"width": 5}, {"byteorder": "BIG"}):
        with pytest.raises(LocalError):
            LengthPrefixed(**kwargs)  # type: ignore[arg-type]
    assert LengthPrefixed(vector_min=1).vector_min == 1
    assert LengthPrefixed(4, byteorder="little").byteorder == "little"


# --- decode at the limit --------------------------------------------------------------------------


def test_decode_at_max_size() -> None:
    codec = LengthPrefixed(4, max_size=5)
    wire4 = b"\x00\x00\x00\x04abcd"
    wire5 = b"\x00\x00\x00\x05abcde"
    assert decode(codec, wire4 + wire5) == ([b"abcd", b"abcde"], 17)
    msgs, err = decode_error(codec, wire4 + wire5 + b"\x00\x00\x00\x06abcdef")
    assert msgs == [b"abcd", b"abcde"]  # every message before the bad frame is delivered
    assert type(err) is FrameTooLarge and str(err) == "frame of 6 bytes exceeds max_size=5"
    # the header alone is enough to refuse it
    msgs, err = decode_error(codec, wire5 + b"\x00\x00\x00\x06")
    assert msgs == [b"abcde"] and type(err) is FrameTooLarge


def test_decode_empty_payload_and_waiting_frames() -> None:
    codec = LengthPrefixed(4)
    assert decode(codec, b"\x00\x00\x00\x00" b"\x00\x00\x00\x01x") == ([b"", b"x"], 9)
    assert decode(codec, b"\x00\x00\x00\x02a") == ([], 0)  # one byte short
    assert decode(codec, b"\x00\x00\x00") == ([], 0)  # the header one byte short
    assert decode(codec, b"\x00\x00\x00\x01x\x00\x00") == ([b"x"], 5)


def test_decode_little_endian_and_one_byte_lengths() -> None:
    assert decode(LengthPrefixed(2, byteorder="little"), b"\x02\x00ab\x01\x00c") == ([b"ab", b"c"], 7)
    assert decode(LengthPrefixed(1), b"\xff" + b"y" * 255) == ([b"y" * 255], 256)


def test_length_that_counts_itself() -> None:
    codec = LengthPrefixed(2, includes_header=True, max_size=3)
    # raw 2 = an empty payload; raw 5 = 3 bytes, the limit; raw 6 = 4 bytes, one over
    assert decode(codec, b"\x00\x02" b"\x00\x05abc") == ([b"", b"abc"], 7)
    msgs, err = decode_error(codec, b"\x00\x05abc" b"\x00\x06abcd")
    assert msgs == [b"abc"] and type(err) is FrameTooLarge and "frame of 4 bytes exceeds max_size=3" in str(err)
    for raw in (b"\x00\x01", b"\x00\x00"):
        msgs, err = decode_error(codec, b"\x00\x03z" + raw)
        assert msgs == [b"z"] and type(err) is FramingError
        assert str(err) == f"length field {raw[1]} is smaller than the 2-byte length itself"


# --- frame_size -----------------------------------------------------------------------------------


def test_frame_size_boundaries() -> None:
    codec = LengthPrefixed(4, max_size=5)
    assert codec.frame_size(memoryview(b"")) == 4
    assert codec.frame_size(memoryview(b"\x00\x00\x00")) == 4
    assert codec.frame_size(memoryview(b"\x00\x00\x00\x03")) == 7  # a complete header: its frame
    assert codec.frame_size(memoryview(b"\x00\x00\x00\x05ab")) == 9
    assert codec.frame_size(memoryview(b"\x00\x00\x00\x00")) == 4
    with pytest.raises(FrameTooLarge, match="frame of 6 bytes exceeds max_size=5"):
        codec.frame_size(memoryview(b"\x00\x00\x00\x06"))
    counted = LengthPrefixed(2, includes_header=True, max_size=3)
    assert counted.frame_size(memoryview(b"\x00\x02")) == 2
    assert counted.frame_size(memoryview(b"\x00\x05")) == 5
    with pytest.raises(FrameTooLarge):
        counted.frame_size(memoryview(b"\x00\x06"))
    with pytest.raises(FramingError, match="length field 1 is smaller") as info:
        counted.frame_size(memoryview(b"\x00\x01"))
    assert type(info.value) is FramingError


# --- encode ---------------------------------------------------------------------------------------


def test_encode_at_max_size_leaves_out_untouched_on_refusal() -> None:
    codec = LengthPrefixed(4, max_size=5)
    out = bytearray(b"prefix")
    assert codec.encode(b"abcde", out) is None
    assert out == b"prefix\x00\x00\x00\x05abcde"
    with pytest.raises(InvalidMessage, match="payload of 6 bytes exceeds max_size=5"):
        codec.encode(b"abcdef", out)
    assert out == b"prefix\x00\x00\x00\x05abcde"


def test_encode_vector_min_boundary_and_counted_header() -> None:
    codec = LengthPrefixed(2, includes_header=True, vector_min=3)
    out = bytearray()
    assert codec.encode(b"ab", out) is None and out == b"\x00\x04ab"
    payload = b"abc"
    parts = codec.encode(payload, out)
    assert parts is not None and bytes(parts[0]) == b"\x00\x05" and parts[1] is payload
    assert out == b"\x00\x04ab"


def test_vectored_mutable_payload_is_copied() -> None:
    codec = LengthPrefixed(vector_min=3)
    payload = bytearray(b"xyz")
    parts = codec.encode(payload, bytearray())
    assert parts is not None and type(parts[1]) is bytes
    payload[0] = ord("X")  # the caller may reuse its buffer as soon as send returns
    assert parts[1] == b"xyz"


def test_encode_counts_bytes_of_wide_and_shaped_views() -> None:
    codec = LengthPrefixed(4)
    wide = memoryview(array("H", [1, 2, 3]))  # 3 items, 6 bytes
    out = bytearray()
    assert codec.encode(wide, out) is None
    assert out == b"\x00\x00\x00\x06" + wide.tobytes()
    shaped = memoryview(b"abcdef").cast("B", (2, 3))  # len() would say 2
    out = bytearray()
    assert codec.encode(shaped, out) is None and out == b"\x00\x00\x00\x06abcdef"
    big = LengthPrefixed(4, vector_min=4)
    parts = big.encode(wide, bytearray())
    assert parts is not None and bytes(parts[0]) == b"\x00\x00\x00\x06" and bytes(parts[1]) == wide.tobytes()
    with pytest.raises(InvalidMessage):
        LengthPrefixed(4, max_size=5).encode(wide, bytearray())


@pytest.mark.parametrize("bad", ["text", object(), 5, memoryview(b"abcdef")[::2]])
def test_encode_refuses_what_is_no_contiguous_buffer(bad: object) -> None:
    out = bytearray(b"keep")
    with pytest.raises(InvalidMessage):
        LengthPrefixed(4).encode(bad, out)  # type: ignore[arg-type]
    assert out == b"keep"  # a header written before the refusal is taken back


def test_vectored_str_is_refused_too() -> None:
    with pytest.raises(InvalidMessage):
        LengthPrefixed(4, vector_min=2).encode("text", bytearray())  # type: ignore[arg-type]


def test_encode_many_fast_path_or_nothing(path: str) -> None:
    PURE = path == "python"
    codec = LengthPrefixed(4, vector_min=3)
    out = bytearray(b"p")
    msgs = [b"ab", bytearray(b"c"), b"xyz", b"d"]
    stop = codec.encode_many(msgs, 0, out)
    if PURE:
        assert stop == 0 and out == b"p"  # nothing done: encode() handles each
    else:
        assert stop == 2 and out == b"p\x00\x00\x00\x02ab\x00\x00\x00\x01c"  # stops at the vectored one
    assert codec.encode_many(iter(msgs), 1, out) == 1  # not a list or tuple: left to encode()
    little = LengthPrefixed(2, byteorder="little", includes_header=True)
    out = bytearray()
    stop = little.encode_many((b"ab",), 0, out)
    assert (stop, out) == ((0, b"") if PURE else (1, b"\x04\x00ab"))


# --- Lines ----------------------------------------------------------------------------------------


def test_lines_construction() -> None:
    for kwargs in ({"delimiter": b""}, {"delimiter": "\n"}, {"max_line": 0}, {"max_line": -1}):
        with pytest.raises(LocalError):
            Lines(**kwargs)  # type: ignore[arg-type]
    assert Lines(max_line=1).max_line == 1


def test_lines_default_max_line_boundary() -> None:
    codec = Lines()
    assert decode(codec, b"x" * 65_536 + b"\n") == ([b"x" * 65_536], 65_537)
    assert decode(codec, b"x" * 65_536) == ([], 0)
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(b"x" * 65_537), [])
    with pytest.raises(FrameTooLarge):
        codec.decode(memoryview(b"x" * 65_537 + b"\n"), [])
    out = bytearray()
    assert codec.encode(b"x" * 65_536, out) is None and len(out) == 65_537
    with pytest.raises(InvalidMessage):
        codec.encode(b"x" * 65_537, bytearray())


NO_DELIMITER = "line longer than max_line=4 without a delimiter"


@pytest.mark.parametrize(
    "codec, at_limit, over_limit, message",
    [
        (Lines(max_line=4), b"1234\n", b"12345\n", NO_DELIMITER),
        (Lines(b"\r\n", max_line=4), b"1234\r\n", b"12345\r\n", NO_DELIMITER),
        (Lines(max_line=4, strip_cr=True), b"1234\r\n", b"12345\r\n", NO_DELIMITER),
        # the window holds one more byte for a \r that strip_cr would drop: here the delimiter
        (Lines(max_line=4, strip_cr=True), b"1234\n", b"12345\n", "line of 5 bytes exceeds max_line=4"),
    ],
)
def test_lines_decode_at_max_line(codec: Lines, at_limit: bytes, over_limit: bytes, message: str) -> None:
    assert decode(codec, b"ok" + codec.delimiter + at_limit) == ([b"ok", b"1234"], 2 + len(codec.delimiter) + len(at_limit))
    out: list = []
    with pytest.raises(FrameTooLarge) as info:
        codec.decode(memoryview(b"ok" + codec.delimiter + over_limit), out)
    assert [bytes(m) for m in out] == [b"ok"]  # the line before the long one is delivered
    assert type(info.value) is FrameTooLarge and str(info.value) == message


@pytest.mark.parametrize(
    "codec, waits, refused",
    [
        (Lines(max_line=4), b"1234", b"12345"),
        (Lines(b"\r\n", max_line=4), b"1234\r", b"123456"),  # the delimiter's first byte may be here
        (Lines(max_line=4, strip_cr=True), b"1234\r", b"12345\r"),  # a \r that will be stripped
        (Lines(b"|||", max_line=4, strip_cr=True), b"1234\r||", b"1234\r||x"),
    ],
)
def test_lines_partial_line_limit(codec: Lines, waits: bytes, refused: bytes) -> None:
    assert decode(codec, b"a" + codec.delimiter + waits) == ([b"a"], 1 + len(codec.delimiter))
    assert codec.frame_size(memoryview(waits)) == len(waits) + 1
    out: list = []
    with pytest.raises(FrameTooLarge, match="without a delimiter"):
        codec.decode(memoryview(b"a" + codec.delimiter + refused), out)
    assert [bytes(m) for m in out] == [b"a"]
    with pytest.raises(FrameTooLarge, match="without a delimiter"):
        codec.frame_size(memoryview(refused))


def test_lines_strip_cr_details() -> None:
    strip = Lines(strip_cr=True)
    # an empty line first: there is no byte before it to strip (not the buffer's last one either)
    assert decode(strip, b"\nx\r") == ([b""], 1)
    assert decode(strip, b"\r\n\r\r\na\n") == ([b"", b"\r", b"a"], 7)  # one \r only
    assert decode(Lines(), b"a\r\n") == ([b"a\r"], 3)  # not stripped unless asked
    assert decode(Lines(strip_cr=True), b"a\x0c\nb\x0e\n") == ([b"a\x0c", b"b\x0e"], 6)
    assert decode(Lines(b"\r\n"), b"a\r\nbc\r\nd") == ([b"a", b"bc"], 7)


def test_lines_frame_size_is_one_more_byte() -> None:
    assert Lines().frame_size(memoryview(b"")) == 1
    assert Lines().frame_size(memoryview(b"ab")) == 3


def test_lines_encode_refusals_leave_out_untouched() -> None:
    out = bytearray(b"keep")
    for codec, bad in (
        (Lines(max_line=4), b"12345"),
        (Lines(), b"a\nb"),
        (Lines(), "text"),
        (Lines(), 5),
        (Lines(), memoryview(b"abcdef")[::2]),  # not contiguous
        (Lines(max_line=4), memoryview(array("H", [1, 2, 3]))),  # 3 items but 6 bytes
        (Lines(b"|||"), b"a||"),
        (Lines(b"|||"), b"|"),
        (Lines(b"||"), b"a|"),  # "a|" + "||": "||" would be found at 1 (a 2-byte delimiter)
        (Lines(b"aba"), b"xab"),  # "xab" + "aba": "aba" would be found at 1 (needs both tail bytes)
        (Lines(strip_cr=True), b"a\r"),
        (Lines(strip_cr=True), bytearray(b"\r")),
    ):
        with pytest.raises(InvalidMessage):
            codec.encode(bad, out)  # type: ignore[arg-type]
    assert out == b"keep"


def test_lines_encode_accepts_the_edges() -> None:
    out = bytearray()
    for codec, msg, wire in (
        (Lines(max_line=4), b"1234", b"1234\n"),
        (Lines(b"\r\n"), b"", b"\r\n"),
        (Lines(b"\r\n"), b"\ra", b"\ra\r\n"),
        (Lines(b"\r\n"), b"a\r", b"a\r\r\n"),  # "\r\r\n": the first delimiter is still at the end
        (Lines(b"|||"), b"a|b", b"a|b|||"),
        (Lines(strip_cr=True), b"", b"\n"),
        (Lines(strip_cr=True), b"\ra", b"\ra\n"),
        (Lines(), memoryview(b"abc"), b"abc\n"),
        (Lines(), memoryview(b"abcd").cast("B", (2, 2)), b"abcd\n"),
        (Lines(), bytearray(b"x"), b"x\n"),
    ):
        out.clear()
        assert codec.encode(msg, out) is None and out == wire


def test_the_widest_limit_works_on_both_paths(path: str) -> None:
    PURE = path == "python"
    # max_size=None on an 8-byte length is 2**64 - 1: more than a C ssize_t holds
    codec = LengthPrefixed(8, max_size=None)
    assert decode(codec, b"\x00" * 7 + b"\x01a") == ([b"a"], 9)
    assert decode(codec, b"\xff" * 8) == ([], 0)  # the field's maximum is allowed: it waits
    assert decode(codec, b"\x80" + b"\x00" * 7) == ([], 0)  # 2**63: no sign trouble either
    out = bytearray()
    assert codec.encode_many([b"a"], 0, out) == (0 if PURE else 1)
    assert codec.encode(b"b", out) is None
    assert out == (b"" if PURE else b"\x00" * 7 + b"\x01a") + b"\x00" * 7 + b"\x01b"
    counted = LengthPrefixed(8, includes_header=True, max_size=None)
    assert decode(counted, b"\x00" * 7 + b"\x09a" + b"\xff" * 8) == ([b"a"], 9)


def test_encode_many_refuses_a_negative_start(path: str) -> None:
    if path == "python":
        pytest.skip("n/a: the C fast path's own argument check")
    with pytest.raises(ValueError):
        LengthPrefixed().encode_many([b"a"], -1, bytearray())


def test_decode_accepts_any_buffer_not_only_memoryviews() -> None:
    out: list = []
    assert LengthPrefixed(2).decode(b"\x00\x01a\x00", out) == 3  # type: ignore[arg-type]
    assert [bytes(m) for m in out] == [b"a"]
    out = []
    assert LengthPrefixed(2).decode(bytearray(b"\x00\x01b"), out) == 3  # type: ignore[arg-type]
    assert [bytes(m) for m in out] == [b"b"]
