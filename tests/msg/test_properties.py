"""Hypothesis properties for every codec: any split of valid bytes decodes to the same messages;
arbitrary bytes raise only boomnet errors (never IndexError, struct.error, ...)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.errors import BoomnetError, FramingError
from boomnet.msg import Datagram, DatagramCodec, LengthPrefixed, Lines, Typed
from boomnet.buffer import ReceiveBuffer

from .test_codecs import enc


class Tick(msgspec.Struct):
    sym: str
    px: float
    qty: int


def norm(msg: object) -> object:
    if isinstance(msg, memoryview):
        return bytes(msg)
    if isinstance(msg, Datagram):
        return (msg.tag, bytes(msg.data))
    return msg


def decode_in_pieces(codec, wire: bytes, cuts: list[int]) -> list:
    """Feed ``wire`` through a ReceiveBuffer in the pieces ``cuts`` makes, as a connection does."""
    buf = ReceiveBuffer(2048)
    out: list = []
    bounds = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    for a, b in zip(bounds, bounds[1:]):
        view = buf.write_view()
        view[: b - a] = wire[a:b]
        buf.commit(b - a)
        batch: list = []
        data = buf.peek()
        used = codec.decode(data, batch)
        out.extend(norm(m) for m in batch)  # copy now: views die with the next read
        buf.consume(used)
        buf.need = codec.frame_size(data[used:]) if buf.undecoded else 0
    assert buf.undecoded == 0
    return out


payloads = st.lists(st.binary(min_size=0, max_size=300), max_size=20)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)
codecs = st.sampled_from(
    [
        LengthPrefixed(4),
        LengthPrefixed(1),
        LengthPrefixed(2, byteorder="little", includes_header=True),
        LengthPrefixed(8, includes_header=True),
        LengthPrefixed(4, vector_min=16),
    ]
)


@settings(max_examples=150, deadline=None)
@given(codecs, payloads, cuts)
def test_length_prefixed_any_split(codec, msgs, cut) -> None:
    msgs = [m[:255] for m in msgs]
    wire = b"".join(enc(codec, m) for m in msgs)
    assert decode_in_pieces(codec, wire, cut) == msgs


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 65535), st.binary(min_size=1, max_size=300)), max_size=20), cuts)
def test_datagram_any_split(msgs, cut) -> None:
    codec = DatagramCodec(vector_min=100)
    wire = b"".join(enc(codec, Datagram(t, d)) for t, d in msgs)
    assert decode_in_pieces(codec, wire, cut) == msgs


def test_lines_encoder_refuses_what_would_not_come_back(delim=b"|||") -> None:
    import pytest

    from boomnet.errors import InvalidMessage

    with pytest.raises(InvalidMessage):
        Lines(delim).encode(b"a||", bytearray())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([b"\n", b"\r\n", b"|||"]), st.lists(st.binary(max_size=200), max_size=20), cuts)
def test_lines_any_split(delim, msgs, cut) -> None:
    codec = Lines(delim, max_line=256)
    msgs = [m for m in msgs if (m + delim).find(delim) == len(m)]  # what one line can carry
    wire = b"".join(enc(codec, m) for m in msgs)
    assert decode_in_pieces(codec, wire, cut) == msgs


# JSON has no infinity (msgspec writes null): finite floats only
ticks = st.lists(st.builds(Tick, st.text(max_size=10), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1)), max_size=15)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["msgpack", "json"]), ticks, cuts)
def test_typed_any_split(fmt, msgs, cut) -> None:
    codec: Typed[Tick] = Typed(Tick, format=fmt)
    wire = b"".join(enc(codec, m) for m in msgs)
    assert decode_in_pieces(codec, wire, cut) == msgs


all_codecs = st.sampled_from(
    [
        LengthPrefixed(4, max_size=1000),
        LengthPrefixed(1),
        LengthPrefixed(2, includes_header=True),
        DatagramCodec(max_payload=1000),
        Lines(max_line=64),
        Lines(b"\r\n", max_line=8, strip_cr=True),
        Typed(Tick),
        Typed(Tick, format="json", framing=Lines(max_line=128)),
    ]
)


@settings(max_examples=300, deadline=None)
@given(all_codecs, st.binary(max_size=400), cuts)
def test_garbage_raises_only_boomnet_errors(codec, garbage, cut) -> None:
    try:
        decode_in_pieces(codec, garbage, cut)
    except AssertionError:
        pass  # a partial frame left over at the end: fine, it is garbage
    except BoomnetError as e:
        assert isinstance(e, FramingError)
