"""The C fast path of LengthPrefixed agrees with the pure-Python reference on any input."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.errors import BoomnetError
from boomnet.msg import codec as codec_mod
from boomnet.msg.codec import LengthPrefixed

if os.environ.get("BOOMNET_PURE_PYTHON"):
    pytestmark = pytest.mark.skip(reason="n/a: BOOMNET_PURE_PYTHON=1 forces pure Python")
else:  # not built is a real failure in strict CI: the build must provide it
    pytestmark = pytest.mark.skipif(not codec_mod.SPEEDUPS, reason="boomnet.msg._speedups is not built")

shapes = st.sampled_from(
    [
        LengthPrefixed(4),
        LengthPrefixed(1),
        LengthPrefixed(2, byteorder="little", includes_header=True),
        LengthPrefixed(8),
        LengthPrefixed(8, byteorder="little", includes_header=True, max_size=1000),
        LengthPrefixed(4, max_size=50),
    ]
)


def outcome(fn, data: bytes):
    out: list = []
    try:
        used = fn(memoryview(data), out)
    except BoomnetError as e:
        return ([bytes(m) for m in out], type(e), str(e))
    return ([bytes(m) for m in out], used)


@settings(max_examples=400, deadline=None)
@given(shapes, st.binary(max_size=300))
def test_c_split_equals_python_on_garbage(codec: LengthPrefixed, data: bytes) -> None:
    assert outcome(codec.decode, data) == outcome(codec._decode_py, data)


@settings(max_examples=200, deadline=None)
@given(shapes, st.lists(st.binary(max_size=120), max_size=30), st.binary(max_size=10))
def test_c_split_equals_python_on_frames(codec: LengthPrefixed, msgs: list[bytes], tail: bytes) -> None:
    msgs = [m[: min(codec.max_size, 255)] for m in msgs]
    wire = bytearray()
    for m in msgs:
        assert codec.encode(m, wire) is None
    data = bytes(wire) + tail
    assert outcome(codec.decode, data) == outcome(codec._decode_py, data)


@settings(max_examples=200, deadline=None)
@given(shapes, st.lists(st.one_of(st.binary(max_size=120), st.binary(max_size=120).map(bytearray), st.just("str")), max_size=20))
def test_c_pack_equals_python_encode(codec: LengthPrefixed, msgs: list) -> None:
    msgs = [m[: min(codec.max_size, 255)] if not isinstance(m, str) else m for m in msgs]
    fast = bytearray(b"prefix")
    stop = codec.encode_many(msgs, 0, fast)
    slow = bytearray(b"prefix")
    for m in msgs[:stop]:
        assert codec.encode(m, slow) is None
    assert fast == slow
    assert stop == len(msgs) or isinstance(msgs[stop], str)


def test_views_keep_the_buffer_alive() -> None:
    data = bytearray(b"\x00\x00\x00\x03abc")
    out: list = []
    LengthPrefixed().decode(memoryview(data), out)
    del data
    assert bytes(out[0]) == b"abc" and out[0].obj is not None
    with pytest.raises(BufferError):
        out[0].obj.extend(b"x")  # exported: the bytearray cannot move under the view


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 300), st.binary(max_size=300))
def test_c_datagram_split_equals_python_on_garbage(limit: int, data: bytes) -> None:
    from boomnet.msg import DatagramCodec

    codec = DatagramCodec(max_payload=limit)
    assert outcome(codec.decode, data) == outcome(codec._decode_py, data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 65535), st.binary(min_size=1, max_size=100)), max_size=20), st.binary(max_size=12))
def test_c_datagram_split_equals_python_on_frames(msgs: list, tail: bytes) -> None:
    from boomnet.msg import Datagram, DatagramCodec

    codec = DatagramCodec(max_payload=100)
    wire = bytearray()
    for tag, payload in msgs:
        codec.encode(Datagram(tag, payload), wire)
    fast: list = []
    slow: list = []
    data = memoryview(bytes(wire) + tail)
    try:
        a = codec.decode(data, fast)
    except BoomnetError as e:
        a = type(e)
    try:
        b = codec._decode_py(data, slow)
    except BoomnetError as e:
        b = type(e)
    assert a == b
    assert [(type(d), d.tag, bytes(d.data)) for d in fast] == [(type(d), d.tag, bytes(d.data)) for d in slow]
