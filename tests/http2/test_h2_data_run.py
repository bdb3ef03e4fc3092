"""The C DATA run loop (``boomnet.http.h2._speedups.data_run``) against a reference written from
its contract: the run of whole DATA frames of one stream, no END_STREAM or PADDED, each within
what is left of the room and of the body's capacity and no larger than the maximum frame size,
copied into the body at ``filled``; it stops
at the first other frame or one cut by ``end``, and never writes outside the body."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.http.h2 import demux

pytestmark = pytest.mark.skipif(not demux.SPEEDUPS, reason="n/a: the C run loop is not built here")


def frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((ftype, flags)) + struct.pack(">I", sid) + payload


def reference(data: bytes, pos: int, end: int, sid: int, room: int, capacity: int, max_frame: int) -> tuple[int, bytes]:
    out = bytearray()
    while end - pos >= 9:
        length = int.from_bytes(data[pos : pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        fsid = int.from_bytes(data[pos + 5 : pos + 9], "big")
        if (ftype != 0 or flags & 0x9 or fsid != sid or pos + 9 + length > end or length > min(room, capacity)
                or length > max_frame):
            break
        out += data[pos + 9 : pos + 9 + length]
        room -= length
        capacity -= length
        pos += 9 + length
    return pos, bytes(out)


frames = st.lists(
    st.tuples(st.sampled_from([0, 0, 0, 1, 8]), st.sampled_from([0, 0, 0x1, 0x8, 0x20]),
              st.sampled_from([1, 1, 3, 1 | 0x80000000]), st.binary(max_size=40)),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(frames, st.integers(0, 40), st.integers(0, 600), st.binary(max_size=5), st.integers(0, 700), st.integers(0, 45))
def test_the_c_run_matches_the_reference(spec, cut, room, prefix, spare, max_frame) -> None:
    wire = prefix + b"".join(frame(*f) for f in spec)
    end = max(len(prefix), len(wire) - cut)
    buf = bytearray(b"kept") + b"\xee" * spare  # 4 bytes received so far; `spare` of capacity
    pos, filled = demux._data_run(memoryview(wire), len(prefix), end, 1, buf, 4, room, max_frame)  # type: ignore[misc]
    want_pos, want = reference(wire, len(prefix), end, 1, room, spare, max_frame)
    assert (pos, filled) == (want_pos, 4 + len(want))
    assert len(buf) == 4 + spare  # never resized
    assert bytes(buf) == b"kept" + want + b"\xee" * (spare - len(want))  # nothing written past the run


def test_bad_arguments_are_errors_not_reads_or_writes_out_of_bounds() -> None:
    run = demux._data_run
    assert run is not None
    data = memoryview(frame(0, 0, 1, b"abc"))
    buf = bytearray(10)
    with pytest.raises(ValueError):
        run(data, 0, len(data) + 1, 1, buf, 0, 10, 100)
    with pytest.raises(ValueError):
        run(data, -1, len(data), 1, buf, 0, 10, 100)
    with pytest.raises(ValueError):
        run(data, 0, len(data), 1, buf, 11, 10, 100)  # filled past the capacity
    with pytest.raises(ValueError):
        run(data, 0, len(data), 1, buf, -1, 10, 100)
    with pytest.raises(TypeError):
        run(data, 0, len(data), 1, b"not a bytearray", 0, 10, 100)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run(data, 0, len(data), 1, buf, 0, 10)  # type: ignore[call-arg]
    assert run(data, 0, len(data), 1, buf, 0, 10, 100) == (len(data), 3) and buf[:3] == b"abc"
    small = bytearray(2)  # no capacity for the frame: nothing copied, the general path takes it
    assert run(data, 0, len(data), 1, small, 0, 10, 100) == (0, 0) and small == bytes(2)
    assert run(data, 0, len(data), 1, buf, 0, 10, 2) == (0, 0)  # larger than the maximum frame size: not taken
