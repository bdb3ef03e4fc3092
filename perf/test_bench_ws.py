"""Micro-benchmarks of the boomnet.ws codec (pytest-benchmark), with websockets' sans-I/O
protocol alongside as a reference point.

    .venv/bin/python -m pytest perf/test_bench_ws.py --benchmark-enable

perf/ is outside the default testpaths; every benchmark also checks its result, so it fails
rather than measuring something broken.
"""

from __future__ import annotations

import pytest

from perf.frames import client_frame, echo_payload, server_frame, trade_message

BATCH = 1_000
MESSAGES = [trade_message(i) for i in range(BATCH)]
WIRE = b"".join(server_frame(m) for m in MESSAGES)
PAYLOAD_BYTES = sum(map(len, MESSAGES))
ECHO = echo_payload(256)
KEY = b"\x37\xfa\x21\x3d"


def test_frames_are_about_180_bytes() -> None:
    assert 175 <= len(WIRE) / BATCH <= 190


def test_decode_batch_of_1000(benchmark) -> None:
    """Copy 1,000 pre-encoded ~180 B text frames into the decoder's buffer and decode them."""
    from boomnet.ws import Decoder

    dec = Decoder()
    n = len(WIRE)

    def run() -> int:
        view = dec.write_view()
        view[:n] = WIRE
        dec.commit(n)
        total = 0
        for frame in dec.decode():
            total += len(frame.payload)
        return total

    assert benchmark(run) == PAYLOAD_BYTES
    assert dec.undecoded == 0


def test_decode_batch_of_1000_no_utf8_check(benchmark) -> None:
    """The same with ``validate_utf8=False``: what UTF-8 validation costs per batch."""
    from boomnet.ws import Decoder

    dec = Decoder(validate_utf8=False)
    n = len(WIRE)

    def run() -> int:
        view = dec.write_view()
        view[:n] = WIRE
        dec.commit(n)
        return len(dec.decode())

    assert benchmark(run) == BATCH


def test_encode_mask_256(benchmark) -> None:
    """One masked 256-byte client text frame, with a fresh mask key each time."""
    from boomnet.ws import Opcode, encode_frame
    from boomnet.ws.encoder import MaskKeys

    keys = MaskKeys()
    text = Opcode.TEXT
    frame = benchmark(lambda: encode_frame(text, ECHO, True, keys.next()))
    assert len(frame) == 256 + 8


def test_encode_mask_256_fixed_key_matches_reference(benchmark) -> None:
    from boomnet.ws import Opcode, encode_frame

    frame = benchmark(encode_frame, Opcode.TEXT, ECHO, True, KEY)
    assert frame == client_frame(ECHO, 0x1, KEY)


# --- reference: websockets' sans-I/O protocol (pure Python parser, C masking) ------------------


def test_reference_websockets_decode_batch_of_1000(benchmark) -> None:
    from websockets.protocol import Protocol, Side

    proto = Protocol(Side.CLIENT, max_size=None)

    def run() -> int:
        proto.receive_data(WIRE)
        return sum(len(ev.data) for ev in proto.events_received())

    assert benchmark(run) == PAYLOAD_BYTES


def test_reference_websockets_encode_mask_256(benchmark) -> None:
    from websockets.frames import Frame, Opcode

    frame = benchmark(lambda: Frame(Opcode.TEXT, ECHO).serialize(mask=True))
    assert len(frame) == 256 + 8


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "--benchmark-enable", "-q"]))
