"""The HTTP/2 body growth rule (boomnet.http.body), from its contract: capacity doubles with the
data, never more than BODY_FIRST_ALLOC (and the last 1/8) ahead of the first byte, never past
``most``; every growth is one CPython allocates exactly, so a body of a declared length ends with
no slack; ``take`` hands out small bodies as bytes and large ones without a copy (or copies one
that would keep more than 1/8 slack)."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.http.body import BODY_STEP_MAX, Body, grow
from boomnet.http.parser import BODY_FIRST_ALLOC, SMALL_BODY

_EMPTY = sys.getsizeof(bytearray())


def slack(buf: bytearray) -> int:
    """Bytes allocated past the length (CPython reports its allocation in getsizeof), less the
    trailing NUL it always keeps."""
    return sys.getsizeof(buf) - _EMPTY - len(buf) - 1


def test_a_declared_10_mb_body_grows_by_doubling_to_exactly_its_length() -> None:
    most = 10 * 1024 * 1024
    buf = bytearray()
    caps = []
    filled = 0
    while filled < most:  # bounded: each pass fills the capacity, which grows every time
        grow(buf, filled, 16 * 1024, most)  # a TLS record at a time
        caps.append(len(buf))
        assert slack(buf) <= 0  # every growth allocated exactly
        filled = len(buf)
    assert caps[0] <= BODY_FIRST_ALLOC * 8 // 7 + 1
    assert caps[-1] == most
    for a, b in zip(caps, caps[1:]):
        assert a * 9 // 8 < b <= a + max(a, BODY_STEP_MAX)  # more than 1/8, at most double
    assert len(caps) < 20


def test_growth_never_passes_most_and_is_a_no_op_when_there_is_room() -> None:
    buf = bytearray(100)
    grow(buf, 10, 50, 1_000)
    assert len(buf) == 100
    grow(buf, 50, 50, 1_000)  # exactly full: still no growth
    assert len(buf) == 100
    grow(buf, 100, 10_000, 1_000)
    assert len(buf) == 1_000  # asked past most: gets most


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 300_000), max_size=30), st.integers(0, 3_000_000), st.booleans())
def test_appends_keep_every_byte_and_take_keeps_little_slack(sizes: list[int], most: int, declared: bool) -> None:
    total = sum(sizes)
    body = Body(total if declared else max(most, total))
    expect = bytearray()
    for i, n in enumerate(sizes):
        chunk = bytes([i % 251]) * n
        body.append(chunk)
        expect += chunk
        assert body.filled == len(expect) <= len(body.buf)
        assert len(body.buf) <= max(body.most, body.filled)
    out = body.take()
    assert out == expect
    if total <= SMALL_BODY:
        assert type(out) is bytes
    else:
        assert type(out) is bytearray
        assert slack(out) <= max(0, total // 8)
        if declared:
            assert slack(out) <= 0  # ended exactly full
    assert body.filled == 0 and len(body.buf) == 0  # handed over: the Body is empty again


def test_take_copies_a_body_that_would_keep_much_slack() -> None:
    body = Body(64 * 1024 * 1024)  # no declared length: the limit
    body.append(bytes(SMALL_BODY + 1))
    body.reserve(4 * 1024 * 1024)  # capacity far past what came
    buf = body.buf
    out = body.take()
    assert out is not buf and len(out) == SMALL_BODY + 1 and slack(out) <= 0


def test_take_hands_out_a_full_body_without_a_copy() -> None:
    body = Body(1_000_000)
    body.reserve(1_000_000)
    assert len(body.buf) == 1_000_000
    body.buf[:] = b"x" * 1_000_000
    body.filled = 1_000_000
    buf = body.buf
    assert body.take() is buf


def test_the_small_body_boundary() -> None:
    for size, kind in ((SMALL_BODY, bytes), (SMALL_BODY + 1, bytearray)):
        body = Body(size)
        body.append(b"s" * size)
        out = body.take()
        assert type(out) is kind and out == b"s" * size


def test_take_keeps_at_most_an_eighth_of_slack() -> None:
    for capacity, copied in ((900_000, False), (900_001, True)):  # 100,000 spare of 800,000 is exactly 1/8
        body = Body(10_000_000)
        body.buf = bytearray(b"k" * capacity)
        body.filled = 800_000
        buf = body.buf
        out = body.take()
        assert (out is not buf) == copied and out == b"k" * 800_000
