"""The file-backed replay (RecordingFile): validated by streaming, replayed from the open file.

It must be indistinguishable from the in-memory replay (``parse`` of the whole file), read for read
and error for error, on every version of the format, and never deliver a byte that is not the
validated one when the file changes under it. Files are built here from the format's spec
(``boomnet.stream.recording``'s docstring), with block sizes, window sizes and record sizes chosen
so that blocks and records straddle window refills and blocks larger than the window occur.
"""

from __future__ import annotations

import os
import random
import struct
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from boomnet.errors import ConnectionClosed, LocalError, RecordingError
from boomnet.stream import ReplayStream
from boomnet.stream.recording import (
    END, EOF, FILE_HEADER, GAP, IN, MAGIC_V1, OUT, RECORD_HEADER, RecordWriter, file_header, parse, seal_block,
)
from boomnet.stream.recording_file import DIRECT, WINDOW, RecordingFile
from tests.stream.helpers import open_descriptors

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
SMALL = 2 * DIRECT  # the smallest window: refills every 64 KiB


class Blob(bytes):
    """Random bytes that print as their size (hypothesis prints failing examples)."""

    def __repr__(self) -> str:
        return f"<{len(self)} random bytes>"


def blob(n: int, seed: int) -> bytes:
    return Blob(random.Random(seed).randbytes(n))


def encode(version: int, records: list[tuple[int, bytes]], capacity: int, end: bool = True, flags: int = 0) -> bytes:
    """A recording file of ``version`` holding ``records`` (and the END record if ``end``)."""
    records = [*records, (END, b"")] if end else list(records)
    if version == 1:
        out = bytearray(FILE_HEADER.pack(MAGIC_V1, 1, 0, 7))
        for t, (kind, payload) in enumerate(records):
            head = RECORD_HEADER.pack(kind, len(payload), t)
            out += head + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head)))
        return bytes(out)
    out = bytearray(file_header(7, flags) if version == 3 else FILE_HEADER.pack(MAGIC_V1, 2, 0, 7))
    writer = RecordWriter(capacity)

    def seal() -> None:
        buf, used = writer.take()
        out.extend(seal_block(memoryview(buf)[:used]) + buf[:used])

    for t, (kind, payload) in enumerate(records):
        if not writer.add(kind, t, payload):
            seal()
            writer.add(kind, t, payload)
    if writer.pos:
        seal()
    return bytes(out)


def record_lists() -> st.SearchStrategy[list[tuple[int, bytes]]]:
    """Small reads, writes and gaps, up to three large reads (up to 3 small windows) among them,
    and maybe an EOF record last."""
    record = st.one_of(
        st.binary(max_size=300).map(lambda p: (IN, p)),
        st.binary(max_size=200).map(lambda p: (OUT, p)),
        st.integers(1, 2**32 - 1).map(lambda n: (GAP, struct.pack("<I", n))),
    )
    large = st.tuples(st.integers(0, 25), st.integers(DIRECT - 2, 3 * SMALL), st.integers(0, 99), st.sampled_from([IN, OUT]))
    end = st.one_of(st.just([]), st.tuples(st.integers(0, 3), st.binary(max_size=20)).map(lambda e: [(EOF, bytes([e[0]]) + e[1])]))

    def build(parts: tuple[list[tuple[int, bytes]], list[tuple[int, int, int, int]], list[tuple[int, bytes]]]) -> list[tuple[int, bytes]]:
        records, bigs, last = parts
        records = list(records)
        for at, n, seed, kind in bigs:
            records.insert(at % (len(records) + 1), (kind, blob(n, seed)))
        return records + last

    return st.tuples(st.lists(record, max_size=25), st.lists(large, max_size=3), end).map(build)


def outcome(stream: ReplayStream, sizes: list[int]) -> list[object]:
    """Every read (its bytes) and the final exception (type and text), with reads of ``sizes``."""
    out: list[object] = []
    rec = stream.recording
    limit = sum(rec.lengths) // min(sizes) + 2 * len(rec.kinds) + 10
    for k in range(limit):
        buf = bytearray(sizes[k % len(sizes)])
        try:
            n = stream.recv_into(memoryview(buf))
        except (ConnectionClosed, RecordingError) as e:
            return [*out, (type(e), str(e))]
        out.append(bytes(buf[:n]))
    raise AssertionError("the replay did not end")


def index(rec: object) -> tuple[object, ...]:
    return tuple(getattr(rec, k) for k in ("start_ns", "kinds", "times", "offsets", "lengths", "complete", "version", "flags"))


def fds(where: Path) -> int:
    """Descriptors of this process open on files under ``where``. (Not all of them: sockets and
    pipes left by other tests are closed by the garbage collector at any moment, which made a
    process-wide count flaky.)"""
    prefix = os.path.realpath(where) + os.sep
    return sum(target.startswith(prefix) for target in open_descriptors())


# --- the file replay is the memory replay --------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    version=st.sampled_from([1, 2, 3]),
    records=record_lists(),
    capacity=st.sampled_from([64, 4096, 70_000, 1 << 20]),
    window=st.sampled_from([SMALL, SMALL + 1, 300_000, None]),
    sizes=st.lists(st.integers(1, 300_000), min_size=1, max_size=6),
)
def test_file_replay_equals_memory_replay_read_for_read(version, records, capacity, window, sizes) -> None:
    data = encode(version, records, capacity)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.bnrec"
        path.write_bytes(data)
        memory = ReplayStream(parse(data, source=str(path)))
        before = fds(path.parent)
        source = RecordingFile.open(path, **({} if window is None else {"window": window}))
        file = ReplayStream(source)
        assert index(source) == index(memory.recording)
        assert list(source.writes()) == list(memory.recording.writes())
        assert outcome(file, sizes) == outcome(memory, sizes)
        assert source.closed and fds(path.parent) == before  # the end closed the file


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    version=st.sampled_from([1, 2, 3]),
    records=record_lists(),
    end=st.booleans(),
    capacity=st.sampled_from([64, 4096, 70_000]),
    window=st.sampled_from([SMALL, SMALL + 7, None]),
    allow_truncated=st.booleans(),
    damage=st.tuples(st.sampled_from(["flip", "cut", "append", "set"]), st.integers(0, 2**31), st.integers(1, 255)),
)
def test_validation_matches_parse_on_damaged_files(version, records, end, capacity, window, allow_truncated, damage) -> None:
    """Whatever the damage, streaming validation accepts exactly what parse() accepts, with the
    same index, or refuses with the same message, and leaves no descriptor open."""
    data = bytearray(encode(version, records, capacity, end))
    how, where, value = damage
    at = where % (len(data) + 1)
    if how == "flip" and at < len(data):
        data[at] ^= value
    elif how == "cut":
        del data[at:]
    elif how == "append":
        data += bytes([value]) * (where % 40 + 1)
    elif at < len(data):
        data[at] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.bnrec"
        path.write_bytes(data)
        options = {} if window is None else {"window": window}
        before = fds(path.parent)
        try:
            expected: object = parse(bytes(data), allow_truncated=allow_truncated, source=str(path))
        except RecordingError as e:
            expected = str(e)
        try:
            got: object = RecordingFile.open(path, allow_truncated=allow_truncated, **options)
        except RecordingError as e:
            got = str(e)
        if isinstance(expected, str):
            assert got == expected
            assert fds(path.parent) == before  # a refused file is closed again
        else:
            assert not isinstance(got, str), got
            assert index(got) == index(expected)
            assert [got.payload(i) for i in range(len(got.kinds))] == [expected.payload(i) for i in range(len(expected.kinds))]
            got.close()


def same_outcome(tmp_path: Path, data: bytes, window: int = SMALL, allow_truncated: bool = False) -> object:
    """parse() and RecordingFile.open() agree on ``data``: the error message, or the index."""
    path = tmp_path / "same.bnrec"
    path.write_bytes(data)
    try:
        expected: object = index(parse(data, allow_truncated=allow_truncated, source=str(path)))
    except RecordingError as e:
        expected = str(e)
    try:
        rec = RecordingFile.open(path, allow_truncated=allow_truncated, window=window)
    except RecordingError as e:
        got: object = str(e)
    else:
        got = index(rec)
        rec.close()
    assert got == expected
    return got


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("at", [0.0, 0.3, 0.999])
def test_damage_inside_a_record_larger_than_the_window_is_found(tmp_path, version: int, at: float) -> None:
    """A block (version 1: a record) larger than the window is checksummed piece by piece."""
    records = [(IN, b"abc"), (IN, blob(3 * SMALL, 1)), (OUT, b"x")]
    data = bytearray(encode(version, records, 4096))
    start = data.index(records[1][1])
    data[start + int(at * len(records[1][1]))] ^= 0x40
    assert "checksum mismatch" in str(same_outcome(tmp_path, bytes(data)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    big=st.integers(0, 3 * SMALL),
    records=st.lists(
        st.tuples(st.sampled_from([IN, OUT, GAP, EOF, END, 0, 9]), st.integers(0, 40), st.sampled_from([0, 0, 1, -1, 10**6])),
        max_size=6,
    ),
    cut=st.integers(0, 60),
    window=st.sampled_from([SMALL, None]),
)
@example(big=3 * SMALL, records=[(END, 0, 0), (IN, 5, 0)], cut=0, window=SMALL)  # records after END
@example(big=3 * SMALL, records=[(END, 3, 0)], cut=0, window=SMALL)  # END with a payload
@example(big=3 * SMALL, records=[(IN, 3, 10**6)], cut=0, window=SMALL)  # a record overruns its block
@example(big=3 * SMALL, records=[(9, 3, 0)], cut=0, window=SMALL)  # an unknown kind
@example(big=3 * SMALL, records=[(IN, 3, 0)], cut=5, window=SMALL)  # a cut record header
def test_bad_structure_with_right_checksums_is_found_as_parse_finds_it(tmp_path, big, records, cut, window) -> None:
    """Blocks whose checksums are right but whose records are not (unknown kinds, lengths that
    overrun the block, a cut header, END with a payload or not last), small and larger than the
    window."""
    body = bytearray()
    for t, (kind, length, lie) in enumerate([(IN, big, 0), *records]):
        body += RECORD_HEADER.pack(kind, max(0, length + lie), t) + bytes(length)
    if cut % 2:
        del body[len(body) - min(cut, len(body)) :]
    tail = RECORD_HEADER.pack(END, 0, 0)
    data = file_header(7) + seal_block(body) + bytes(body) + seal_block(tail) + tail
    same_outcome(tmp_path, data, window or WINDOW)


def test_a_short_read_is_a_recording_error_even_if_the_stamp_looks_the_same(tmp_path, monkeypatch) -> None:
    """The short-read guard on its own (the size check would also catch a truncation)."""
    path, data, records = many_reads(tmp_path)
    source = RecordingFile.open(path, window=SMALL)
    replay = ReplayStream(source)
    monkeypatch.setattr(RecordingFile, "_check", lambda self: None)
    os.truncate(path, len(data) // 2)
    got, end = read_all(replay)
    assert isinstance(end, RecordingError) and "shorter than when it was validated" in str(end)
    assert f"(ends at offset {len(data) // 2}, {len(data)} bytes were validated)" in str(end)
    assert b"".join(p for _, p in records).startswith(got) and source.closed


@pytest.mark.parametrize("name", sorted(p.stem for p in RECORDINGS.glob("*.bnrec")))
@pytest.mark.parametrize("window", [SMALL, None])
def test_committed_recordings_replay_the_same_from_the_file(name: str, window: int | None) -> None:
    """Real recordings (version 2, the committed simulator feeds) with reads of every size."""
    data = (RECORDINGS / f"{name}.bnrec").read_bytes()
    for sizes in ([65536], [1, 7, 4096, 300_000], [DIRECT, DIRECT - 1]):
        memory = ReplayStream(parse(data))
        source = RecordingFile.open(RECORDINGS / f"{name}.bnrec", **({} if window is None else {"window": window}))
        assert outcome(ReplayStream(source), sizes) == outcome(memory, sizes)


def test_compare_writes_reads_outbound_records_from_the_file(tmp_path) -> None:
    """compare_writes on a file source: outbound records far from the window are read on demand."""
    records = [(OUT, b"GET / HTTP/1.1\r\n"), (IN, blob(150_000, 1)), (OUT, b"two"), (IN, b"x" * 10), (OUT, blob(90_000, 2))]
    (tmp_path / "w.bnrec").write_bytes(encode(3, records, 4096))
    source = RecordingFile.open(tmp_path / "w.bnrec", window=SMALL)
    replay = ReplayStream(source, compare_writes=True)
    replay.write(b"GET / HTTP/1.1\r\n")
    assert len(outcome(replay, [100_000])[:2]) == 2  # reads on: the window moved past the writes
    fresh = ReplayStream(RecordingFile.open(tmp_path / "w.bnrec", window=SMALL), compare_writes=True)
    fresh.write(b"GET / HTTP/1.1\r\n")
    fresh.recv_into(bytearray(200_000))
    fresh.write(b"tw")
    fresh.write(b"o")
    big = blob(90_000, 2)
    fresh.write(big[:70_000])
    with pytest.raises(RecordingError, match="differ"):
        fresh.write(big[70_000:-1] + b"\x00")
    fresh.close()
    assert replay.recording.closed and fresh.recording.closed


# --- the file changes under the replay -----------------------------------------------------------


def many_reads(tmp_path: Path, name: str = "big", count: int = 500) -> tuple[Path, bytes, list[tuple[int, bytes]]]:
    """``count`` reads of 1..5000 bytes (500: ~1.3 MB, many window refills at the smallest window)."""
    rnd = random.Random(5)
    records = [(IN, rnd.randbytes(rnd.randint(1, 5000))) for _ in range(count)]
    data = encode(3, [*records, (EOF, b"\x00done")], 20_000)
    path = tmp_path / f"{name}.bnrec"
    path.write_bytes(data)
    os.utime(path, ns=(10**18, 10**18))  # an mtime unlike its ctime: messages and checks must not mix them up
    return path, data, records


def read_all(replay: ReplayStream, size: int = 3000) -> tuple[bytes, BaseException]:
    got = bytearray()
    buf = bytearray(size)
    for _ in range(100_000):
        try:
            n = replay.recv_into(buf)
        except (ConnectionClosed, RecordingError) as e:
            return bytes(got), e
        got += buf[:n]
    raise AssertionError("the replay did not end")


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_a_file_truncated_after_validation_is_a_recording_error_never_wrong_bytes(tmp_path, cut: float) -> None:
    path, data, records = many_reads(tmp_path)
    expected = b"".join(p for _, p in records)
    source = RecordingFile.open(path, window=SMALL)
    replay = ReplayStream(source)
    first = bytearray(4000)
    n = replay.recv_into(first)
    os.truncate(path, int(len(data) * cut))
    got, end = read_all(replay)
    got = bytes(first[:n]) + got
    assert isinstance(end, RecordingError) and str(path) in str(end)
    assert expected.startswith(got) and len(got) < len(expected)  # a prefix, then the error
    assert source.closed
    with pytest.raises(ConnectionClosed):  # and the replay stays over
        replay.recv_into(first)


def test_a_file_rewritten_in_place_after_validation_is_a_recording_error(tmp_path) -> None:
    path, data, records = many_reads(tmp_path)
    expected = b"".join(p for _, p in records)
    replay = ReplayStream(RecordingFile.open(path, window=SMALL))
    st_before = os.stat(path)
    with open(path, "r+b") as f:  # same size, other bytes, in the second half
        f.seek(len(data) // 2)
        f.write(bytes(1000))
    os.utime(path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns + 10**9))  # a time the check can tell apart
    got, end = read_all(replay)
    assert isinstance(end, RecordingError) and "changed since it was validated" in str(end) and str(path) in str(end)
    assert expected.startswith(got) and len(got) < len(data) // 2


@pytest.mark.parametrize("change", ["append", "rewrite"])
@pytest.mark.parametrize("eof", [True, False])
def test_a_change_to_a_file_held_whole_is_reported_at_its_end(tmp_path, change: str, eof: bool) -> None:
    """A small file is held whole in the window since validation: its bytes are the validated
    ones; the change is reported instead of the recorded end (an EOF record, or none)."""
    path, data, records = many_reads(tmp_path, "small", 100)
    if not eof:
        path.write_bytes(encode(3, records, 20_000))
    assert len(data) < WINDOW
    replay = ReplayStream(RecordingFile.open(path))  # the default window holds all of it
    st_before = os.stat(path)
    with open(path, "r+b") as f:
        if change == "append":
            f.seek(0, os.SEEK_END)
            f.write(b"more")
        else:
            f.seek(100)
            f.write(b"\xff" * 50)
    os.utime(path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns + 10**9))
    got, end = read_all(replay)
    assert got == b"".join(p for _, p in records)
    assert isinstance(end, RecordingError) and "changed since it was validated" in str(end)
    was, now = st_before, os.stat(path)
    assert f"(size {was.st_size} -> {now.st_size}, mtime_ns {was.st_mtime_ns} -> {now.st_mtime_ns}, " in str(end)
    assert f"ctime_ns {was.st_ctime_ns} -> {now.st_ctime_ns})" in str(end)


def test_a_file_replaced_by_rename_is_not_a_change(tmp_path) -> None:
    """The descriptor stays on the validated file: replacing the name changes nothing."""
    path, data, records = many_reads(tmp_path)
    replay = ReplayStream(RecordingFile.open(path, window=SMALL))
    other = tmp_path / "other.bnrec"
    other.write_bytes(encode(3, [(IN, b"something else")], 64))
    os.replace(other, path)
    got, end = read_all(replay)
    assert got == b"".join(p for _, p in records)
    assert type(end) is ConnectionClosed and "done" in str(end)


def next_ctime_tick(path: Path) -> None:
    """Wait until a change made now gets another ctime than ``path``'s (the kernel's timestamp
    clock is coarse): poll a scratch file's ctime, bounded."""
    scratch = path.with_name("scratch")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        scratch.write_bytes(b"x")
        if scratch.stat().st_ctime_ns != path.stat().st_ctime_ns:
            return
    raise AssertionError("the ctime clock did not move in 5 s")


def test_a_rewrite_with_its_mtime_set_back_is_caught_by_ctime(tmp_path) -> None:
    path, data, records = many_reads(tmp_path)
    replay = ReplayStream(RecordingFile.open(path, window=SMALL))
    st_before = os.stat(path)
    next_ctime_tick(path)
    with open(path, "r+b") as f:
        f.seek(len(data) // 2)
        f.write(bytes(1000))
    os.utime(path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))  # mtime as it was; ctime moves
    assert os.stat(path).st_mtime_ns == st_before.st_mtime_ns
    got, end = read_all(replay)
    assert isinstance(end, RecordingError) and "changed since it was validated" in str(end)
    assert b"".join(p for _, p in records).startswith(got)


@pytest.mark.parametrize("write", [False, True])
def test_chmod_is_not_a_change_but_a_write_with_it_is(tmp_path, write: bool) -> None:
    path, data, records = many_reads(tmp_path)
    replay = ReplayStream(RecordingFile.open(path, window=SMALL))
    st_before = os.stat(path)
    next_ctime_tick(path)
    if write:
        with open(path, "r+b") as f:
            f.seek(len(data) // 2)
            f.write(bytes(10))
        os.utime(path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns + 10**9))
    os.chmod(path, 0o400)  # the chmod explains ctime: only the mtime tells the write
    got, end = read_all(replay)
    if write:
        assert isinstance(end, RecordingError) and b"".join(p for _, p in records).startswith(got)
    else:
        assert got == b"".join(p for _, p in records) and type(end) is ConnectionClosed


# --- descriptors ------------------------------------------------------------------------------------


def test_the_descriptor_is_closed_at_the_end_by_close_and_after_errors(tmp_path) -> None:
    path, data, _ = many_reads(tmp_path)
    before = fds(tmp_path)
    ended = ReplayStream.from_file("big", tmp_path)
    assert fds(tmp_path) == before + 1
    read_all(ended)
    assert fds(tmp_path) == before and ended.recording.closed
    closed = ReplayStream.from_file("big", tmp_path)
    closed.recv_into(bytearray(10))
    closed.close()
    closed.close()  # idempotent
    assert fds(tmp_path) == before
    with pytest.raises(ConnectionClosed):
        closed.recv_into(bytearray(10))
    with pytest.raises(RecordingError, match="closed"):
        closed.recording.payload(0)
    (tmp_path / "bad.bnrec").write_bytes(data[:-1])
    with pytest.raises(RecordingError, match="truncated"):
        ReplayStream.from_file("bad", tmp_path)
    with pytest.raises(RecordingError, match="cannot read"):
        ReplayStream.from_file("missing", tmp_path)
    with pytest.raises(LocalError, match="wildcard"):
        ReplayStream.from_file("big", tmp_path, wildcard=b"**")
    assert fds(tmp_path) == before


def test_a_file_source_replays_in_one_stream(tmp_path) -> None:
    many_reads(tmp_path)
    first = ReplayStream.from_file("big", tmp_path)
    with pytest.raises(LocalError, match="already being replayed"):
        ReplayStream(first.recording)
    first.close()
    memory = parse((tmp_path / "big.bnrec").read_bytes())
    assert outcome(ReplayStream(memory), [999]) == outcome(ReplayStream(memory), [999])  # memory: any number


def test_an_endpoint_replay_closes_its_recording() -> None:
    from tests.binance.helpers import Collector, replay

    recordings = Path(__file__).resolve().parents[2] / "recordings"  # where replay() reads from
    before = fds(recordings)
    feed = replay("binance-sim-btcusdt", Collector(["btcusdt@trade"]))
    assert feed.connections and fds(recordings) == before


# --- memory --------------------------------------------------------------------------------------------


def test_memory_stays_bounded_by_the_index_and_the_window(tmp_path) -> None:
    """A 50 MB recording: validating it and replaying it allocate about the window, not the file."""
    chunk = blob(64 << 10, 3)
    path = tmp_path / "huge.bnrec"
    with open(path, "wb") as f:
        f.write(file_header(1))
        writer = RecordWriter(1 << 20)
        for t in range(800):
            if not writer.add(IN, t, chunk):
                buf, used = writer.take()
                f.write(seal_block(memoryview(buf)[:used]) + buf[:used])
                writer.add(IN, t, chunk)
        writer.add(END, 0)
        buf, used = writer.take()
        f.write(seal_block(memoryview(buf)[:used]) + buf[:used])
    size = path.stat().st_size
    assert size > 50_000_000
    buf = bytearray(256 << 10)
    tracemalloc.start()
    try:
        replay = ReplayStream.from_file("huge", tmp_path)
        _, validating = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = 0
        while True:
            try:
                total += replay.recv_into(buf)
            except ConnectionClosed:
                break
        _, replaying = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 800 * len(chunk)
    assert validating < 3_000_000 and replaying < 3_000_000, (validating, replaying, size)


# --- the checksum ------------------------------------------------------------------------------------


@given(st.binary(max_size=10_000), st.integers(0, 2**32 - 1))
def test_the_checksum_is_zlib_crc32(data: bytes, start: int) -> None:
    """Whichever implementation was picked (zlib-ng's when installed), it is zlib's CRC-32."""
    from boomnet.stream.recording import crc32

    assert crc32(data, start) == zlib.crc32(data, start)
    assert crc32(memoryview(data)[1:], 0) == zlib.crc32(data[1:])


def test_the_checksum_falls_back_to_zlib(monkeypatch) -> None:
    """Without zlib-ng, or with one that does not compute CRC-32 (never trusted unchecked), zlib's."""
    import importlib
    import types

    from boomnet.stream import recording

    def missing(name: str) -> types.ModuleType:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", missing)
    assert recording._crc32() is zlib.crc32
    wrong = types.SimpleNamespace(crc32=lambda data, value=0: zlib.adler32(data, value))
    monkeypatch.setattr(importlib, "import_module", lambda name: wrong)
    assert recording._crc32() is zlib.crc32


# --- random access into a file source ---------------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(["window", "span"]),
            st.sampled_from(["base", "end", "anywhere"]),
            st.integers(-3, 3),
            st.integers(0, 10**7),
            st.one_of(st.integers(0, 5), st.integers(0, DIRECT - 1)),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_window_and_span_return_the_file_s_bytes_wherever_they_are_asked(tmp_path, calls) -> None:
    """``window(start, n)`` holds the bytes ``[start, start + n)`` at ``start - base``; ``span``
    returns them, inside the window, across either of its edges or outside it."""
    path, data, _ = many_reads(tmp_path, "random", 200)
    source = RecordingFile.open(path, window=SMALL)
    for how, anchor, delta, anywhere, n in calls:
        _, base, end = source.held()
        start = {"base": base + delta, "end": end + delta, "anywhere": anywhere % len(data)}[anchor]
        start = min(max(start, 0), len(data))
        n = min(n, len(data) - start)
        if how == "window":
            buf, base, end = source.window(start, n)
            assert base <= start and start + n <= end <= base + len(buf)
            assert bytes(buf[start - base : start - base + n]) == data[start : start + n]
        else:
            assert source.span(start, n) == data[start : start + n]
        held, base, end = source.held()
        assert bytes(held[: end - base]) == data[base:end]
    source.close()


def test_a_replay_whose_window_starts_after_its_next_read_refills_it(tmp_path) -> None:
    """The replay's window test at its edges: a read starting one byte before the window, and
    one ending exactly at the window's end."""
    path, data, records = many_reads(tmp_path, "edges", 200)
    expected = b"".join(p for _, p in records)
    memory = parse(data)
    first = memory.offsets[0]
    for base in (first + 1, first - 5):
        source = RecordingFile.open(path, window=SMALL)
        source.window(base, 0)  # the window now starts at base: held() is what the replay starts with
        got, end = read_all(ReplayStream(source), 1000)
        assert got == expected and type(end) is ConnectionClosed
    source = RecordingFile.open(path, window=SMALL)
    _, _, wend = source.window(first, 100)
    got, end = read_all(ReplayStream(source), wend - first)  # the first read ends at the window's end
    assert got == expected


def test_the_smallest_window(tmp_path) -> None:
    path, data, records = many_reads(tmp_path, "w", 20)
    with pytest.raises(LocalError, match=f"at least {SMALL} bytes, got {SMALL - 1}"):
        RecordingFile.open(path, window=SMALL - 1)
    got, end = read_all(ReplayStream(RecordingFile.open(path, window=SMALL)))
    assert got == b"".join(p for _, p in records)


def test_os_errors_while_reading_or_checking_are_recording_errors(tmp_path, monkeypatch) -> None:
    import errno

    path, data, _ = many_reads(tmp_path)
    for name in ("preadv", "fstat"):
        source = RecordingFile.open(path, window=SMALL)
        replay = ReplayStream(source)

        def failing(*args: object, **kwargs: object) -> object:
            raise OSError(errno.EIO, "disk gone")

        with monkeypatch.context() as m:
            m.setattr(os, name, failing)
            got, end = read_all(replay)
        assert isinstance(end, RecordingError) and "disk gone" in str(end) and str(path) in str(end)
        assert source.closed


@pytest.mark.parametrize("version", [1, 3])
@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("lead", [0, 1, 9, 30])
def test_records_and_blocks_the_size_of_the_window(tmp_path, version: int, delta: int, lead: int) -> None:
    """A block (version 3) or a record with its checksum (version 1) of exactly the window's size,
    one byte less or more, after a small record that shifts where window refills fall."""
    overhead = RECORD_HEADER.size + (4 if version == 1 else 8)
    size = SMALL - overhead + delta
    records = [(IN, blob(lead, 1)), (IN, blob(size, 2)), (OUT, blob(size, 3)), (IN, b"z")]
    data = encode(version, records, size + RECORD_HEADER.size)  # version 3: one record a block
    assert "truncated" not in str(same_outcome(tmp_path, data))
    source = RecordingFile.open(tmp_path / "same.bnrec", window=SMALL)
    assert outcome(ReplayStream(source), [SMALL // 3]) == outcome(ReplayStream(parse(data)), [SMALL // 3])
    damaged = bytearray(data)
    damaged[data.index(records[2][1]) + size - 1] ^= 1  # the last payload byte of the second large one
    assert "checksum mismatch" in str(same_outcome(tmp_path, bytes(damaged)))


def test_version_1_records_cut_by_window_ends_at_every_place(tmp_path) -> None:
    """Small version 1 records across many window ends: a record's checksum, header or payload
    falls on a window's edge somewhere (the record is then brought whole into the window)."""
    rnd = random.Random(7)
    records = [(IN, rnd.randbytes(rnd.randint(0, 40))) for _ in range(40_000)]
    data = encode(1, records, 0)
    assert len(data) > 20 * SMALL
    same_outcome(tmp_path, data)
    source = RecordingFile.open(tmp_path / "same.bnrec", window=SMALL)
    assert [source.payload(i) for i in range(0, len(records), 97)] == [p for _, p in records[::97]]
    source.close()


def test_a_file_chmod_ed_before_validation_is_not_a_change(tmp_path) -> None:
    """ctime later than mtime at validation (a chmod then): an unchanged file replays to its end."""
    path, data, records = many_reads(tmp_path)
    next_ctime_tick(path)
    os.chmod(path, 0o600)
    got, end = read_all(ReplayStream(RecordingFile.open(path, window=SMALL)))
    assert got == b"".join(p for _, p in records) and type(end) is ConnectionClosed
