"""The decoder's edges, each at its exact boundary: header lengths that are one byte short (with
stale bytes behind them in the reused buffer), the 64-bit length's top bit, the message limit met
by a first fragment, the fail-fast UTF-8 check of frames still arriving (checked once per byte,
continuations too), nothing decoded after a violation or a close, the byte count ``received``, and
which frames take the inline path. Frames are built with the independent encoder in ``wire.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

import boomnet.ws.decoder as decoder_module
from boomnet.errors import InvalidUtf8, MessageTooBig, WebSocketProtocolError
from boomnet.ws import Decoder, Opcode
from boomnet.buffer import MIN_FREE

from . import wire
from .drive import skip_without_c_path


@pytest.fixture(autouse=True, params=["c", "pure"])
def impl(request, monkeypatch) -> str:
    """Every test over the C fast path (when built) and over pure Python."""
    if request.param == "c":
        skip_without_c_path()
    else:
        monkeypatch.setattr(decoder_module, "_scan", None)
    return str(request.param)


def frames_of(dec: Decoder) -> list[tuple[Opcode, bool, bytes]]:
    return [(f.opcode, f.fin, bytes(f.payload)) for f in dec.decode()]


def decoder_with_stale(stale: bytes, **options: object) -> Decoder:
    """A decoder whose buffer, from offset 0, still holds ``stale`` bytes of an earlier batch that
    was decoded and consumed (the next feed lands at offset 0 again, over them)."""
    dec = Decoder(**options)  # type: ignore[arg-type]
    dec.feed(stale)
    assert frames_of(dec) and dec.error is None and dec.undecoded == 0
    return dec


# --- a header one byte short never reads the stale bytes behind it -------------------------------


def test_a_lone_first_byte_is_not_parsed_with_the_stale_byte_behind_it() -> None:
    dec = decoder_with_stale(wire.frame(wire.BINARY, b"\x85\x85"))  # offset 3 keeps 0x85: mask bit, length 5
    dec.feed(wire.frame(wire.BINARY) + b"\x82")  # an empty frame, then the first byte of the next
    assert frames_of(dec) == [(Opcode.BINARY, True, b"")]
    assert dec.error is None and dec.undecoded == 1
    dec.feed(b"\x01Z")
    assert frames_of(dec) == [(Opcode.BINARY, True, b"Z")] and dec.error is None


@pytest.mark.parametrize("lead", [b"", b"\x82\x00"], ids=["first", "after-a-frame"])
@pytest.mark.parametrize("limit,have", [(0x10000, 2), (0x10000, 9), (200, 2), (200, 3)],
                         ids=["64-bit-2", "64-bit-9", "16-bit-2", "16-bit-3"])
def test_a_length_one_byte_short_is_not_completed_from_stale_bytes(limit: int, have: int, lead: bytes) -> None:
    """With ``max_frame_size`` = the frame's length, a stale 0xff read as the length's last byte
    would refuse a frame that is exactly at the limit (at the buffer's start, and after a frame):
    the 64-bit form 00 00 00 00 00 01 00 00 and the 16-bit form 00 c8 both end in a byte below
    0xff, and the header is cut before it."""
    dec = decoder_with_stale(wire.frame(wire.BINARY, b"\xff" * 20), max_frame_size=limit)
    frame = wire.frame(wire.BINARY, b"q" * limit)
    dec.feed(lead + frame[:have])
    assert frames_of(dec) == ([(Opcode.BINARY, True, b"")] if lead else []) and dec.error is None
    dec.feed(frame[have:])
    assert frames_of(dec) == [(Opcode.BINARY, True, b"q" * limit)] and dec.error is None


def test_64_bit_length_top_bit_is_a_protocol_error_the_bit_below_is_too_big() -> None:
    """RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0 (1002); any other
    length above the limit is a too-big message (1009). Both decided from the header alone."""
    for length, error, code in [
        (1 << 63, WebSocketProtocolError, 1002),
        ((1 << 63) | 5, WebSocketProtocolError, 1002),
        ((1 << 63) - 1, MessageTooBig, 1009),
        (1 << 62, MessageTooBig, 1009),
        (1 << 56, MessageTooBig, 1009),
    ]:
        dec = Decoder()
        dec.feed(bytes([0x82, 127]) + struct.pack("!Q", length))
        assert frames_of(dec) == []
        assert type(dec.error) is error and dec.error.close_code == code, hex(length)
        if code == 1002:
            assert "most significant bit" in str(dec.error)


# --- the message limit, met exactly by a first fragment ------------------------------------------


@pytest.mark.parametrize("assemble", [True, False])
def test_first_fragment_of_exactly_the_message_limit(assemble: bool) -> None:
    limit = 300
    ok = wire.frame(wire.BINARY, b"a" * limit, fin=False) + wire.frame(wire.CONT, b"")
    dec = Decoder(max_message_size=limit, assemble=assemble)
    dec.feed(ok)
    got = frames_of(dec)
    assert dec.error is None
    assert b"".join(p for _, _, p in got) == b"a" * limit
    over = wire.frame(wire.BINARY, b"a" * limit, fin=False) + wire.frame(wire.CONT, b"b")
    dec = Decoder(max_message_size=limit, assemble=assemble)
    dec.feed(over)
    frames_of(dec)
    assert isinstance(dec.error, MessageTooBig)


# --- nothing after a violation or a close ----------------------------------------------------------


def test_nothing_is_decoded_after_a_violation() -> None:
    dec = Decoder()
    dec.feed(wire.frame(3, b"x"))  # reserved opcode
    assert frames_of(dec) == [] and dec.error is not None
    dec.feed(wire.frame(wire.TEXT, b"later"))
    assert frames_of(dec) == []


def test_nothing_is_decoded_after_a_close_in_a_later_batch() -> None:
    dec = Decoder()
    dec.feed(wire.frame(wire.CLOSE, wire.close_payload(1000)))
    assert [op for op, _, _ in frames_of(dec)] == [Opcode.CLOSE]
    dec.feed(wire.frame(wire.TEXT, b"after the close"))
    assert frames_of(dec) == [] and dec.error is None


# --- reserved opcodes are named for what they are -------------------------------------------------


@pytest.mark.parametrize("op", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002_and_named(op: int) -> None:
    dec = Decoder()
    dec.feed(wire.frame(op, b"x"))
    frames_of(dec)
    assert type(dec.error) is WebSocketProtocolError
    kind = "reserved control opcode" if op >= 8 else "reserved opcode"
    assert str(dec.error).startswith(f"{kind} {op:#x}"), dec.error


# --- UTF-8 of frames still arriving ------------------------------------------------------------------


def test_invalid_utf8_in_a_continuation_still_arriving_fails_fast() -> None:
    first = wire.frame(wire.TEXT, "ok ✓".encode(), fin=False)
    cont = wire.frame(wire.CONT, b"fine " + b"\xff" + b"x" * 500)
    dec = Decoder()
    dec.feed(first + cont[:12])  # the continuation is far from complete; its bad byte is here
    assert frames_of(dec) == [] and isinstance(dec.error, InvalidUtf8)


def test_invalid_utf8_in_a_text_frame_with_a_64_bit_length_fails_fast() -> None:
    frame = wire.frame(wire.TEXT, b"\xff" + b"x" * 70_000)
    dec = Decoder()
    dec.feed(frame[:30])
    assert frames_of(dec) == [] and isinstance(dec.error, InvalidUtf8)


def test_a_new_text_frame_inside_a_fragmented_text_message_is_1002_not_1007() -> None:
    """The first fragment ends inside a UTF-8 character; a *new* text frame (a violation) must not
    be checked as its continuation while it arrives: its verdict is the protocol error."""
    dec = Decoder()
    dec.feed(wire.frame(wire.TEXT, b"a\xe2\x82", fin=False) + wire.frame(wire.TEXT, b"plain ascii" * 20)[:20])
    assert frames_of(dec) == [] and dec.error is None
    dec.feed(wire.frame(wire.TEXT, b"plain ascii" * 20)[20:])
    frames_of(dec)
    assert type(dec.error) is WebSocketProtocolError, dec.error
    assert "fragmented message is unfinished" in str(dec.error)


class CountingUtf8:
    """Stands in for the incremental UTF-8 decoder: counts the bytes each check is given."""

    checked = 0
    made = 0

    def __init__(self) -> None:
        import codecs

        self._real = codecs.getincrementaldecoder("utf-8")()
        CountingUtf8.made += 1

    def decode(self, data: memoryview, final: bool = False) -> str:
        CountingUtf8.checked += len(data)
        return str(self._real.decode(data, final))

    def getstate(self) -> tuple[bytes, int]:
        state: tuple[bytes, int] = self._real.getstate()
        return state

    def setstate(self, state: tuple[bytes, int]) -> None:
        self._real.setstate(state)


@pytest.fixture
def counting_utf8(monkeypatch) -> Iterator[type[CountingUtf8]]:
    CountingUtf8.checked = CountingUtf8.made = 0
    monkeypatch.setattr(decoder_module, "_Utf8Decoder", CountingUtf8)
    yield CountingUtf8


@pytest.mark.parametrize("lead", [0, 1, 3])
def test_a_text_frame_arriving_in_pieces_is_checked_once_per_byte(counting_utf8, lead: int) -> None:
    """Fail-fast costs one pass: each read checks only the bytes new since the last one, also when
    whole frames come before the partial one (so it does not sit at the buffer's start)."""
    payload = "κόσμε ✓ ".encode() * 40
    frame = wire.frame(wire.TEXT, payload)
    dec = Decoder()
    dec.feed(b"".join(wire.frame(wire.BINARY, b"lead") for _ in range(lead)) + frame[:10])
    assert len(frames_of(dec)) == lead
    pieces = [frame[i : i + 37] for i in range(10, len(frame), 37)]
    for piece in pieces[:-1]:
        dec.feed(piece)
        assert frames_of(dec) == [] and dec.error is None
    partial_bytes = len(frame) - len(pieces[-1]) - 4  # 4: the 16-bit length header
    assert counting_utf8.made == 1
    assert counting_utf8.checked == partial_bytes
    dec.feed(pieces[-1])
    assert frames_of(dec) == [(Opcode.TEXT, True, payload)] and dec.error is None


def test_received_counts_every_byte_across_partial_frames() -> None:
    data = b"".join(wire.frame(wire.TEXT, b"x" * n) for n in (1, 200, 3, 70_000, 5))
    dec = Decoder()
    fed = 0
    for i in range(0, len(data), 150):  # frames end mid-read: partial frames carry over
        chunk = data[i : i + 150]
        dec.feed(chunk)
        fed += len(chunk)
        frames_of(dec)
        assert dec.received == fed
    assert dec.undecoded == 0 and dec.error is None


# --- masked whole messages (a decoder that allows them) are checked too --------------------------


def test_a_masked_whole_text_message_with_invalid_utf8_is_refused() -> None:
    dec = Decoder(allow_masked=True)
    dec.feed(wire.frame(wire.TEXT, b"ok", mask_key=b"\x01\x02\x03\x04"))
    assert frames_of(dec) == [(Opcode.TEXT, True, b"ok")]
    dec.feed(wire.frame(wire.TEXT, b"bad \xff", mask_key=b"\x01\x02\x03\x04"))
    frames_of(dec)
    assert isinstance(dec.error, InvalidUtf8)


# --- buffer growth for a big frame: it fits, with MIN_FREE to spare, no more ---------------------


def test_the_buffer_grows_to_fit_a_big_frame_that_is_not_first_in_its_batch() -> None:
    big = 1024 * 1024
    lead = wire.frame(wire.BINARY, b"l" * 100_000)
    head = wire.frame(wire.BINARY, b"b" * big)[:10]
    dec = Decoder()
    dec.feed(lead + head)
    assert [len(p) for _, _, p in frames_of(dec)] == [100_000]
    view = dec.write_view()
    assert len(view) == big + MIN_FREE  # the whole payload still to come, plus the free margin


# --- which frames take the inline path ------------------------------------------------------------


def test_whole_unmasked_text_and_binary_frames_never_reach_the_slow_path(impl, monkeypatch) -> None:
    if impl == "c":
        pytest.skip("n/a: the C loop takes these frames before the Python paths")
    calls: list[int] = []
    real = Decoder._slow

    def spy(self: Decoder, b0: int, b1: int, start: int, stop: int) -> object:
        calls.append(b0)
        return real(self, b0, b1, start, stop)

    monkeypatch.setattr(Decoder, "_slow", spy)
    dec = Decoder()
    dec.feed(wire.frame(wire.TEXT, "✓".encode()) + wire.frame(wire.BINARY, b"\x00\xff") + wire.frame(wire.TEXT))
    assert [op for op, _, _ in frames_of(dec)] == [Opcode.TEXT, Opcode.BINARY, Opcode.TEXT]
    assert calls == []
    dec.feed(wire.frame(wire.PING, b"p") + wire.frame(wire.TEXT, b"f", fin=False) + wire.frame(wire.CONT, b"g"))
    assert [op for op, _, _ in frames_of(dec)] == [Opcode.PING, Opcode.TEXT]
    assert calls == [0x89, 0x01, 0x80]  # control frames and fragments do


def test_the_c_loop_is_not_handed_frames_inside_a_fragmented_message(impl, monkeypatch) -> None:
    """The C scanner delivers whole messages only; while a fragmented message is open, a FIN text
    frame is a violation the Python path must see (it is not a message of its own)."""
    speedups = pytest.importorskip("boomnet.ws._speedups", reason="the C extension was not built")
    monkeypatch.setattr(decoder_module, "_scan", speedups.scan)
    dec = Decoder()
    dec.feed(wire.frame(wire.TEXT, b"first", fin=False) + wire.frame(wire.TEXT, b"not a message"))
    assert frames_of(dec) == []
    assert type(dec.error) is WebSocketProtocolError and "unfinished" in str(dec.error)


@pytest.mark.parametrize("cut", [None, 2, 4, 5])
def test_a_new_text_frame_with_bad_utf8_inside_an_open_message_is_1002_for_any_split(cut: int | None) -> None:
    """Found by the frame-soup property: an empty unfinished text fragment, then a NEW text frame
    whose first byte is invalid UTF-8. Whole, it was 1002; cut inside the new frame, the early
    UTF-8 check judged it 1007. The verdict is the sequencing violation, whatever the split."""
    data = b"\x01\x00" + b"\x01\x02\x80\x00"
    dec = Decoder()
    for part in ([data] if cut is None else [data[:cut], data[cut:]]):
        dec.feed(part)
        frames_of(dec)
    assert type(dec.error) is WebSocketProtocolError, dec.error
    assert dec.error.close_code == 1002
