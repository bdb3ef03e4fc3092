"""RecordedStream -> file -> ReplayStream: byte-for-byte and read-for-read, gaps included."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import ConnectionClosed, ConnectionReset, RecordingError, TruncatedStream
from boomnet.stream import RecordedStream, ReplayStream, Stream, TcpStream
from boomnet.stream.recording import BLOCK_HEADER, HEADER_SIZE
from boomnet.stream.redact import DEFAULT_REDACTOR

from .helpers import DEADLINE, Peer, wait_established


def drain(stream: Stream, bufsize: int = 65536, max_reads: int = 100_000) -> tuple[list[bytes], BaseException]:
    """Read until the stream ends; the reads with runs of empty reads collapsed to one ``b""``."""
    reads: list[bytes] = []
    buf = bytearray(bufsize)
    end = time.monotonic() + DEADLINE
    for _ in range(max_reads):
        try:
            n = stream.recv_into(buf)
        except ConnectionClosed as e:
            return reads, e
        if n:
            reads.append(bytes(buf[:n]))
        else:
            if not reads or reads[-1] != b"":
                reads.append(b"")
            assert time.monotonic() < end, "stream did not end in time"
            time.sleep(0.0002)
    raise AssertionError("too many reads")


def test_tcp_record_then_replay_is_identical(tmp_path) -> None:
    gate = threading.Event()

    def bursts(conn: socket.socket) -> None:
        conn.recv(100)  # the subscription
        for i in range(5):
            conn.sendall(bytes([65 + i]) * (1000 * (i + 1)))
            time.sleep(0.02)  # the client sees "nothing now" between bursts
        gate.wait(1)

    with Peer(bursts) as peer:
        live = TcpStream.connect("127.0.0.1", peer.port).into_recorded("feed", directory=tmp_path)
        wait_established(live)
        live.write(b'{"subscribe":"book"}')
        live.flush()
        threading.Timer(0.15, gate.set).start()
        live_reads, live_end = drain(live)
        live.close()
    assert b"".join(live_reads) == b"".join(bytes([65 + i]) * (1000 * (i + 1)) for i in range(5))
    assert b"" in live_reads  # gaps were observed and must be replayed

    replay = ReplayStream.from_file("feed", directory=tmp_path)
    replay.write(b"anything")  # accepted and discarded
    replay_reads, replay_end = drain(replay)
    assert replay_reads == live_reads
    assert type(replay_end) is type(live_end)


def test_replay_compares_writes(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"reply"]), "cmp", directory=tmp_path)
    rec.write(b"sub")
    rec.write(b"scribe")
    drain(rec)
    rec.close()
    ok = ReplayStream.from_file("cmp", directory=tmp_path, compare_writes=True)
    ok.write(b"subs")  # boundaries may differ, bytes may not
    ok.write(b"cribe")
    bad = ReplayStream.from_file("cmp", directory=tmp_path, compare_writes=True)
    with pytest.raises(RecordingError, match="differ"):
        bad.write(b"unsubscribe")


def test_a_write_spanning_recorded_writes_is_compared_piece_by_piece(tmp_path) -> None:
    """One write that covers the end of one recorded write and part of the next, then the rest;
    and a memoryview of wide items is compared by its bytes, not its items."""
    rec = RecordedStream(Scripted([b"reply"]), "span", directory=tmp_path)
    rec.write(b"0123456789")
    rec.write(b"abcdefghij")
    rec.write(b"\x01\x00\x02\x00")  # array("H", [1, 2]) on a little-endian machine
    drain(rec)
    rec.close()
    ok = ReplayStream.from_file("span", directory=tmp_path, compare_writes=True)
    ok.write(b"0123456789abcde")
    ok.write(b"fghij")
    import array
    import sys

    wide = array.array("H", [1, 2])
    if sys.byteorder != "little":  # pragma: no cover - the recording above is little-endian
        wide.byteswap()
    ok.write(memoryview(wide))
    with pytest.raises(RecordingError, match="more than were recorded"):
        ok.write(b"!")
    # a write that starts inside a recorded write and runs into the next
    again = ReplayStream.from_file("span", directory=tmp_path, compare_writes=True)
    again.write(b"01234")
    again.write(b"56789abcde")
    again.write(b"fghij\x01\x00\x02\x00")


def test_wildcard_applies_to_redacted_recordings_only(tmp_path) -> None:
    for name, redact in (("clear", None), ("masked", DEFAULT_REDACTOR)):
        rec = RecordedStream(Scripted([]), name, directory=tmp_path, redact=redact)
        rec.write(b"GET /x?token=abc HTTP/1.1\r\nAccept: */*\r\n\r\n")
        rec.close()
    masked = ReplayStream.from_file("masked", directory=tmp_path, compare_writes=True)
    masked.write(b"GET /x?token=xyz HTTP/1.1\r\nAccept: */*\r\n\r\n")  # the masked value matches any
    clear = ReplayStream.from_file("clear", directory=tmp_path, compare_writes=True)
    clear.write(b"GET /x?token=abc HTTP/1.1\r\nAccept: ")
    with pytest.raises(RecordingError, match="differ"):
        clear.write(b"X")  # a recorded "*" in a clear recording is just a "*"


def test_replay_with_small_buffer_splits_reads(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"abcdefgh", 0, b"ij"]), "split", directory=tmp_path)
    drain(rec)
    rec.close()
    replay = ReplayStream.from_file("split", directory=tmp_path)
    assert replay.buffered() == 8
    reads, _ = drain(replay, bufsize=3)
    assert reads == [b"abc", b"def", b"gh", b"", b"ij"]


@pytest.mark.parametrize(
    "error", [ConnectionClosed("fin"), ConnectionReset("rst"), TruncatedStream("no close_notify")]
)
def test_each_kind_of_end_is_replayed_as_itself(tmp_path, error: ConnectionClosed) -> None:
    rec = RecordedStream(Scripted([b"x"], end=error), "end", directory=tmp_path)
    _, end = drain(rec)
    assert type(end) is type(error)
    _, replay_end = drain(ReplayStream.from_file("end", directory=tmp_path))
    assert type(replay_end) is type(error) and str(replay_end) == f"replay 'end': {error}"


def test_unknown_end_kind_is_a_recording_error(tmp_path) -> None:
    data = bytearray(make_recording(tmp_path))
    # the EOF record payload starts with "how"; no valid writer emits 7. Re-seal the block.
    import zlib

    at = data.index(b"script over") - 1
    data[at] = 7
    start = HEADER_SIZE + BLOCK_HEADER.size
    length = BLOCK_HEADER.unpack_from(data, HEADER_SIZE)[0]
    BLOCK_HEADER.pack_into(data, HEADER_SIZE, length, zlib.crc32(data[start : start + length]))
    with pytest.raises(RecordingError, match=r"unknown end of stream b'\\x07'$"):
        drain(write_and_load(tmp_path, bytes(data)))


def make_recording(tmp_path, name: str = "r") -> bytes:
    rec = RecordedStream(Scripted([b"hello", 0, 0, b"world"]), name, directory=tmp_path)
    rec.write(b"out")
    drain(rec)
    rec.close()
    assert rec.wait_closed()
    return (tmp_path / f"{name}.bnrec").read_bytes()


def write_and_load(tmp_path, data: bytes, **options) -> ReplayStream:
    (tmp_path / "bad.bnrec").write_bytes(data)
    return ReplayStream.from_file("bad", directory=tmp_path, **options)


@pytest.mark.parametrize("cut", [1, 5, 19, 25, 40])
def test_truncated_recording_is_rejected(tmp_path, cut: int) -> None:
    data = make_recording(tmp_path)
    with pytest.raises(RecordingError, match="truncated"):
        write_and_load(tmp_path, data[: len(data) - cut] if cut < len(data) - 20 else data[:cut])


def test_missing_end_record_is_truncation_unless_allowed(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"hello", 0, b"world", 0]), "crash", directory=tmp_path)
    buf = bytearray(64)
    for _ in range(3):
        rec.recv_into(buf)
    rec.flush_recording()  # as a crashed process would leave it: blocks written, no END
    data = (tmp_path / "crash.bnrec").read_bytes()
    rec.close()
    with pytest.raises(RecordingError, match="truncated"):
        write_and_load(tmp_path, data)
    replay = write_and_load(tmp_path, data + b"\x07\x00", allow_truncated=True)  # + a torn block header
    reads, end = drain(replay)
    assert reads == [b"hello", b"", b"world"] and isinstance(end, ConnectionClosed)


@pytest.mark.parametrize("where", ["magic", "version", "payload", "kind", "trailing"])
def test_corrupt_recording_is_rejected(tmp_path, where: str) -> None:
    data = bytearray(make_recording(tmp_path))
    if where == "magic":
        data[0] ^= 0xFF
    elif where == "version":
        data[8] = 99
    elif where == "payload":
        data[data.index(b"hello")] ^= 0x01
    elif where == "kind":
        data[HEADER_SIZE + BLOCK_HEADER.size] = 77  # the first record's kind
    else:
        data += b"junk"
    with pytest.raises(RecordingError):
        write_and_load(tmp_path, bytes(data))


def test_missing_recording_is_recording_error(tmp_path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        ReplayStream.from_file("nothing-here", directory=tmp_path)


def test_recording_writes_to_file_periodically(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"a" * 100] * 50), "periodic", directory=tmp_path, flush_bytes=1000)
    buf = bytearray(1000)
    for _ in range(20):
        rec.recv_into(buf)
    path = tmp_path / "periodic.bnrec"
    end = time.monotonic() + DEADLINE
    while path.stat().st_size < 1000 and time.monotonic() < end:
        time.sleep(0.005)  # the writer thread writes full blocks without being asked
    assert path.stat().st_size > 1000
    rec.close()
    reads, _ = drain(ReplayStream.from_file("periodic", directory=tmp_path))
    assert reads == [b"a" * 100] * 20


class Scripted(Stream):
    """An in-memory inner stream that returns a fixed script of reads: bytes, or 0 for 'nothing'."""

    def __init__(self, script, end: BaseException | None = None):
        self.script = list(script)
        self.end = end or ConnectionClosed("script over")
        self.written = bytearray()

    def recv_into(self, buf) -> int:
        if not self.script:
            raise self.end
        item = self.script.pop(0)
        if item == 0:
            return 0
        buf[: len(item)] = item
        return len(item)

    def write(self, data) -> None:
        self.written += data

    def flush(self) -> bool:
        return True


events = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=300).map(lambda b: ("in", b)),
        st.binary(min_size=0, max_size=50).map(lambda b: ("out", b)),
        st.integers(min_value=1, max_value=5).map(lambda n: ("zeros", n)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=events, reset=st.booleans())
def test_round_trip_property(tmp_path, script, reset) -> None:
    reads: list = []
    for kind, value in script:
        if kind == "in":
            reads.append(value)
        elif kind == "zeros":
            reads.extend([0] * value)
    inner = Scripted(reads, end=ConnectionReset("rst") if reset else None)
    rec = RecordedStream(inner, "prop", directory=tmp_path)
    buf = bytearray(512)
    seen: list[bytes] = []
    writes = iter([v for k, v in script if k == "out"])
    for kind, value in script:  # interleave writes with reads as scripted
        if kind == "out":
            rec.write(next(writes))
            continue
        for _ in range(1 if kind == "in" else value):
            n = rec.recv_into(buf)
            if n or not seen or seen[-1] != b"":
                seen.append(bytes(buf[:n]))
    with pytest.raises(ConnectionClosed):
        rec.recv_into(buf)
    rec.close()
    assert inner.written == b"".join(v for k, v in script if k == "out")

    replay = ReplayStream.from_file("prop", directory=tmp_path, compare_writes=True)
    replay.write(bytes(inner.written))
    replayed, end = drain(replay, bufsize=512)
    assert replayed == seen
    assert isinstance(end, ConnectionReset) == reset


def test_each_gap_replays_as_exactly_one_empty_read(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"x", 0, 0, 0, b"y", 0]), "gaps", directory=tmp_path)
    buf = bytearray(16)
    results = [rec.recv_into(buf) for _ in range(6)]
    assert results == [1, 0, 0, 0, 1, 0]
    rec.close()
    replay = ReplayStream.from_file("gaps", directory=tmp_path)
    assert [replay.recv_into(buf) for _ in range(4)] == [1, 0, 1, 0]
    with pytest.raises(ConnectionClosed):
        replay.recv_into(buf)


def test_header_only_file_is_truncated(tmp_path) -> None:
    data = make_recording(tmp_path)
    for cut in (0, 10, 20):
        with pytest.raises(RecordingError, match="truncated"):
            write_and_load(tmp_path, data[:cut])


def test_recording_above_tls_holds_plaintext(tmp_path, server_ssl_context, ca_file) -> None:
    secret = b"plaintext market data " * 50

    def serve(conn) -> None:
        conn.recv(5)
        conn.sendall(secret)

    with Peer(serve, ssl_context=server_ssl_context) as peer:
        tls = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", ca_file=ca_file)
        live = tls.into_recorded("tls", directory=tmp_path)
        wait_established(live)
        live.write(b"hello")
        live.flush()
        live_reads, _ = drain(live)
        live.close()
        assert live.wait_closed()
    assert b"".join(live_reads) == secret
    raw = (tmp_path / "tls.bnrec").read_bytes()
    assert b"plaintext market data" in raw and b"hello" in raw
    replay_reads, _ = drain(ReplayStream.from_file("tls", directory=tmp_path))
    assert replay_reads == live_reads


def test_version_1_files_still_replay(tmp_path) -> None:
    """Version 1 (per-record checksums, no blocks) was the first format; it stays readable."""
    import zlib

    from boomnet.stream.recording import END, FILE_HEADER, GAP, IN, MAGIC_V1, OUT, RECORD_HEADER

    def record(kind: int, payload: bytes) -> bytes:
        head = RECORD_HEADER.pack(kind, len(payload), 0)
        return head + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head)))

    body = record(OUT, b"sub") + record(IN, b"abc") + record(GAP, struct.pack("<I", 3)) + record(IN, b"de")
    data = FILE_HEADER.pack(MAGIC_V1, 1, 0, 0) + body + record(END, b"")
    reads, _ = drain(write_and_load(tmp_path, data))
    assert reads == [b"abc", b"", b"de"]
    with pytest.raises(RecordingError, match="truncated"):
        write_and_load(tmp_path, data[:-3])
    broken = bytearray(data)
    broken[data.index(b"abc")] ^= 1
    with pytest.raises(RecordingError, match="checksum"):
        write_and_load(tmp_path, bytes(broken))


# --- the file header (version 3: covered by its own checksum) ----------------------------------


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
@pytest.mark.parametrize("allow_truncated", [False, True])
def test_every_header_byte_is_covered(tmp_path, flip: int, allow_truncated: bool) -> None:
    data = make_recording(tmp_path)
    assert ReplayStream.from_file("r", directory=tmp_path).recording.version == 3
    for i in range(HEADER_SIZE):
        broken = bytearray(data)
        broken[i] ^= flip
        with pytest.raises(RecordingError, match=r"corrupt|unsupported"):
            write_and_load(tmp_path, bytes(broken), allow_truncated=allow_truncated)


def test_unknown_header_flags_are_refused(tmp_path) -> None:
    import zlib

    from boomnet.stream.recording import FILE_HEADER, HEADER_CRC, MAGIC, VERSION

    data = make_recording(tmp_path)
    head = FILE_HEADER.pack(MAGIC, VERSION, 0x4, 0)  # a flag this reader does not know, checksum right
    with pytest.raises(RecordingError, match="flags"):
        write_and_load(tmp_path, head + HEADER_CRC.pack(zlib.crc32(head)) + data[HEADER_SIZE:])


@pytest.mark.parametrize("version, flags", [(3, 0), (2, 1), (1, 2)])
def test_old_magic_takes_old_versions_without_flags_only(tmp_path, version: int, flags: int) -> None:
    from boomnet.stream.recording import FILE_HEADER, MAGIC_V1

    data = make_recording(tmp_path)
    body = data[HEADER_SIZE:]  # version 3 blocks, which a version 2 reader would accept
    assert drain(write_and_load(tmp_path, FILE_HEADER.pack(MAGIC_V1, 2, 0, 0) + body))[0] == [b"hello", b"", b"world"]
    with pytest.raises(RecordingError, match="corrupt"):
        write_and_load(tmp_path, FILE_HEADER.pack(MAGIC_V1, version, flags, 0) + body)


def test_version_2_recordings_in_the_repository_still_replay() -> None:
    from pathlib import Path

    directory = Path(__file__).resolve().parents[2] / "recordings"
    names = sorted(p.stem for p in directory.glob("*.bnrec"))
    assert len(names) >= 3
    for name in names:
        replay = ReplayStream.from_file(name, directory=directory)
        assert replay.recording.version == 2 and replay.recording.complete
        assert next(replay.recording.writes()).startswith(b"GET ")  # read before the end closes the file
        reads, end = drain(replay)
        assert sum(map(len, reads)) > 0 and isinstance(end, ConnectionClosed)


def test_writes_yields_each_outbound_chunk_in_order(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"in", 0, b"in2"]), "w", directory=tmp_path)
    rec.write(b"one")
    drain(rec)
    rec.write(memoryview(b"two"))  # after EOF the recording is finished: not recorded
    rec.close()
    rec2 = RecordedStream(Scripted([b"x"]), "w2", directory=tmp_path)
    rec2.write(b"a")
    rec2.write(bytearray(b"bc"))
    rec2.write(b"")
    drain(rec2)
    rec2.close()
    assert list(ReplayStream.from_file("w", directory=tmp_path).recording.writes()) == [b"one"]
    assert list(ReplayStream.from_file("w2", directory=tmp_path).recording.writes()) == [b"a", b"bc", b""]


# --- file mode ----------------------------------------------------------------------------------


def test_recording_file_is_private_even_over_a_wider_existing_file(tmp_path) -> None:
    import os
    import stat

    old_umask = os.umask(0)  # the most permissive umask: the mode must not come from it
    try:
        path = tmp_path / "sub" / "m.bnrec"
        rec = RecordedStream(Scripted([]), "m", directory=tmp_path / "sub")
        rec.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)  # an older, world-readable recording of the same name
        elsewhere = tmp_path / "target"
        elsewhere.write_bytes(b"not yours")
        link = tmp_path / "sub" / "l.bnrec"
        link.symlink_to(elsewhere)  # and a symlink planted where a recording will go
        again = RecordedStream(Scripted([]), "m", directory=tmp_path / "sub")
        linked = RecordedStream(Scripted([]), "l", directory=tmp_path / "sub")
        again.close()
        linked.close()
        assert again.wait_closed() and linked.wait_closed()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not link.is_symlink() and stat.S_IMODE(link.stat().st_mode) == 0o600
        assert elsewhere.read_bytes() == b"not yours"
        assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["l.bnrec", "m.bnrec"]  # no temp left
    finally:
        os.umask(old_umask)


# --- slow and failing disks -----------------------------------------------------------------------


class GatedFile:
    """A file whose writes wait for ``gate`` (a disk that stalls), then go to a real file."""

    def __init__(self, path, gate: threading.Event, fail_after: int | None = None, error: int = 0):
        from boomnet.stream.recorded import create_private

        self.file = create_private(path)
        self.gate = gate
        self.writes = 0
        self.fail_after = fail_after
        self.error = error

    def write(self, data) -> int:
        assert self.gate.wait(DEADLINE), "the test never opened the gate"
        self.writes += 1
        if self.fail_after is not None and self.writes > self.fail_after:
            import errno
            import os

            raise OSError(self.error or errno.ENOSPC, os.strerror(self.error or errno.ENOSPC))
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()


def gated(gate: threading.Event, **options):
    return lambda path: GatedFile(path, gate, **options)


@pytest.mark.parametrize("limit", [1, 3])
@pytest.mark.parametrize("blocks", ["limit-1", "limit", "limit+1"])
def test_queue_limit_boundary(tmp_path, limit: int, blocks: str, caplog) -> None:
    """With the disk stalled, ``max_pending_blocks`` blocks wait; one more drops the recording."""
    import logging

    from boomnet.stream.recorded import dropped_recordings

    count = {"limit-1": limit - 1, "limit": limit, "limit+1": limit + 1}[blocks]
    gate = threading.Event()
    chunks = [bytes([65 + i]) * 10 for i in range(count)]
    inner = Scripted(list(chunks))
    before = dropped_recordings()
    rec = RecordedStream(
        inner, "q", directory=tmp_path, flush_interval=0, max_pending_blocks=limit, opener=gated(gate)
    )
    buf = bytearray(64)
    with caplog.at_level(logging.ERROR, logger="boomnet.stream.recorded"):
        got = [bytes(buf[: rec.recv_into(buf)]) for _ in chunks]  # each read hands over one block
    assert got == chunks  # the feed is untouched either way
    dropped = count > limit
    assert rec.recording is not dropped
    assert dropped_recordings() == before + dropped
    assert (rec.failure is not None and "too slow" in rec.failure) is dropped
    assert [r for r in caplog.records if r.levelno == logging.ERROR].__len__() == dropped
    gate.set()
    rec.close()
    if dropped:
        with pytest.raises(RecordingError, match="too slow"):
            rec.wait_closed()
        replay = ReplayStream.from_file("q", directory=tmp_path, allow_truncated=True)
        assert drain(replay)[0] == chunks[:limit]  # what was queued before the drop is on disk
    else:
        assert rec.wait_closed()
        assert drain(ReplayStream.from_file("q", directory=tmp_path))[0] == chunks


def test_close_does_not_wait_for_a_stalled_disk(tmp_path) -> None:
    gate = threading.Event()
    rec = RecordedStream(Scripted([b"data"] * 3), "slow", directory=tmp_path, flush_interval=0, opener=gated(gate))
    buf = bytearray(16)
    for _ in range(3):
        rec.recv_into(buf)
    opener = threading.Timer(DEADLINE / 2, gate.set)  # a safety net: the disk "recovers" later
    opener.start()
    try:
        rec.close()
        assert not gate.is_set(), "close() waited for the disk"
        assert not rec.wait_closed(timeout=0.01)  # not on disk yet
    finally:
        gate.set()
        opener.cancel()
    assert rec.wait_closed()
    assert drain(ReplayStream.from_file("slow", directory=tmp_path))[0] == [b"data"] * 3


def test_from_file_waits_for_a_recording_still_being_finished(tmp_path) -> None:
    gate = threading.Event()
    rec = RecordedStream(Scripted([b"x", b"y"]), "late", directory=tmp_path, opener=gated(gate))
    drain(rec)  # EOF: the recording is finished and handed to the writer thread
    threading.Timer(0.05, gate.set).start()
    replay = ReplayStream.from_file("late", directory=tmp_path)  # would be truncated without the wait
    assert replay.recording.complete and drain(replay)[0] == [b"x", b"y"]


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EIO"])
def test_disk_error_drops_the_recording_and_keeps_the_feed(tmp_path, errno_name: str, caplog) -> None:
    import errno
    import logging

    from boomnet.stream.recorded import dropped_recordings

    gate = threading.Event()
    gate.set()
    reads = [bytes([97 + i % 26]) * 100 for i in range(40)]
    inner = Scripted(list(reads))
    before = dropped_recordings()
    # the header and the first block (2 writes) succeed, then every write fails
    opener = gated(gate, fail_after=3, error=getattr(errno, errno_name))
    with caplog.at_level(logging.ERROR, logger="boomnet.stream.recorded"):
        rec = RecordedStream(inner, "full", directory=tmp_path, flush_interval=0, opener=opener)
        buf = bytearray(256)
        got = []
        end = time.monotonic() + DEADLINE
        for _ in range(len(reads)):
            got.append(bytes(buf[: rec.recv_into(buf)]))
            rec.write(b"order")  # writes go on too
            while rec.recording and rec.failure is None and len(got) == 3:
                assert time.monotonic() < end  # let the writer thread meet the error
                time.sleep(0.001)
        with pytest.raises(ConnectionClosed):
            rec.recv_into(buf)
    assert got == reads and inner.written == b"order" * len(reads)
    assert not rec.recording and rec.failure is not None and os_error_text(errno_name) in rec.failure
    assert dropped_recordings() == before + 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "dropped" in errors[0].getMessage()
    rec.close()  # nothing raised
    with pytest.raises(RecordingError, match="dropped"):
        rec.wait_closed()
    replay = ReplayStream.from_file("full", directory=tmp_path, allow_truncated=True)
    assert not replay.recording.complete and drain(replay)[0] == reads[:1]


def os_error_text(name: str) -> str:
    import errno
    import os

    return os.strerror(getattr(errno, name))


def test_replay_is_always_polled(tmp_path) -> None:
    make_recording(tmp_path)
    replay = ReplayStream.from_file("r", directory=tmp_path)
    hints = [replay.read_hint()]
    assert replay.fileno() == -1
    drain(replay)
    hints.append(replay.read_hint())
    assert all(h > 0 for h in hints)


def test_recorded_stream_passes_read_hint_through() -> None:
    class Hinting(Scripted):
        hint = 0

        def read_hint(self) -> int:
            return self.hint

    import tempfile

    with tempfile.TemporaryDirectory() as d:
        inner = Hinting([])
        rec = RecordedStream(inner, "h", directory=d)
        assert rec.read_hint() == 0
        inner.hint = 5
        assert rec.read_hint() == 5
        rec.close()
        rec.wait_closed()


def test_exit_does_not_wait_for_a_recording_left_open(tmp_path) -> None:
    from boomnet.stream.recorded import wait_finishing

    gate = threading.Event()
    left_open = RecordedStream(Scripted([]), "open", directory=tmp_path)  # never closed
    closing = RecordedStream(Scripted([b"z"]), "closing", directory=tmp_path, flush_interval=0, opener=gated(gate))
    drain(closing)
    assert not wait_finishing(None, timeout=0.05)  # the closed one is still being written...
    gate.set()
    assert wait_finishing(None, timeout=DEADLINE)  # ...and only it is waited for
    assert left_open.recording
    left_open.close()


def test_bad_options_fail_at_construction(tmp_path) -> None:
    from boomnet.errors import LocalError

    with pytest.raises(TypeError):
        RecordedStream(Scripted([]), "t", directory=tmp_path, redcat=None)  # type: ignore[call-arg]
    for bad in ({"flush_bytes": 0}, {"flush_interval": -1}, {"max_pending_blocks": 0}):
        with pytest.raises(LocalError):
            RecordedStream(Scripted([]), "t", directory=tmp_path, **bad)
    data = make_recording(tmp_path)
    with pytest.raises(TypeError):
        ReplayStream.from_file("r", directory=tmp_path, compare_write=True)
    with pytest.raises(LocalError):
        ReplayStream.from_file("r", directory=tmp_path, wildcard=b"**")
    assert data


def test_uncreatable_recording_is_a_recording_error(tmp_path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(RecordingError, match="cannot create"):
        RecordedStream(Scripted([]), "x", directory=tmp_path / "file")  # a file where a directory should be


# --- structure inside checksummed blocks (a crafted or buggy file, checksums right) --------------


def v3_file(*blocks: bytes) -> bytes:
    """A version 3 file whose blocks are ``blocks`` (raw record bytes), each correctly sealed."""
    from boomnet.stream.recording import file_header, seal_block

    return file_header(0) + b"".join(seal_block(b) + b for b in blocks)


def rec(kind: int, payload: bytes = b"", length: int | None = None) -> bytes:
    from boomnet.stream.recording import RECORD_HEADER

    return RECORD_HEADER.pack(kind, len(payload) if length is None else length, 0) + payload


@pytest.mark.parametrize(
    "blocks, message",
    [
        ((rec(1, b"ok") + b"\x01\x00\x00",), "record header overruns"),
        ((rec(77, b"x") + rec(255),), "unknown record kind 77"),
        ((rec(1, b"abc", length=9), rec(255)), "record overruns"),
        ((rec(255) + rec(1, b"late"),), "records after END"),
        ((rec(1, b"a"), rec(255), rec(1, b"b")), "after the END record"),
    ],
)
def test_bad_structure_with_right_checksums_is_corrupt(tmp_path, blocks, message: str) -> None:
    good = v3_file(rec(1, b"ok"), rec(255))
    assert drain(write_and_load(tmp_path, good))[0] == [b"ok"]  # the helper builds valid files
    for allow in (False, True):
        with pytest.raises(RecordingError, match=message):
            write_and_load(tmp_path, v3_file(*blocks), allow_truncated=allow)


def test_header_errors_name_their_cause(tmp_path) -> None:
    import zlib

    from boomnet.stream.recording import FILE_HEADER, HEADER_CRC, MAGIC, file_header

    data = make_recording(tmp_path)
    with pytest.raises(RecordingError, match="bad magic"):
        write_and_load(tmp_path, b"NOTAREC\x00" + data[8:])
    head = FILE_HEADER.pack(MAGIC, 4, 0, 0)  # a future version, its checksum right
    with pytest.raises(RecordingError, match="unsupported recording version 4"):
        write_and_load(tmp_path, head + HEADER_CRC.pack(zlib.crc32(head)) + data[HEADER_SIZE:])
    with pytest.raises(ValueError, match="flags"):
        file_header(0, 0x4)


def v1_record(kind: int, payload: bytes) -> bytes:
    import zlib

    from boomnet.stream.recording import RECORD_HEADER

    head = RECORD_HEADER.pack(kind, len(payload), 0)
    return head + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head)))


def test_version_1_structure_and_truncation(tmp_path) -> None:
    from boomnet.stream.recording import FILE_HEADER, MAGIC_V1

    head = FILE_HEADER.pack(MAGIC_V1, 1, 0, 0)
    body = v1_record(1, b"abc") + v1_record(1, b"de")
    whole = head + body + v1_record(255, b"")
    replay = write_and_load(tmp_path, whole)
    assert replay.recording.version == 1 and replay.recording.complete
    with pytest.raises(RecordingError, match="unknown record kind 9"):
        write_and_load(tmp_path, head + v1_record(9, b"x") + v1_record(255, b""))
    with pytest.raises(RecordingError, match="after the END"):
        write_and_load(tmp_path, whole + v1_record(1, b"z"))
    for tail in (0, 1, 5, 12, 13, 16):  # a torn last record: fewer bytes than a header, or than a record
        torn = head + body + v1_record(255, b"")[:tail]
        replay = write_and_load(tmp_path, torn, allow_truncated=True)
        assert replay.recording.version == 1 and not replay.recording.complete
        assert drain(replay)[0] == [b"abc", b"de"]


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_record_writer_capacity_boundary(extra: int) -> None:
    """A record that exactly fills the block buffer fits; one byte more goes to the next block."""
    from boomnet.stream.recording import RECORD_HEADER, RecordWriter

    capacity = 64
    writer = RecordWriter(capacity)
    payload = b"x" * (capacity - RECORD_HEADER.size + extra)
    assert writer.add(1, 0, payload) is True  # alone in an empty block it always fits (one-off if big)
    assert writer.pos == RECORD_HEADER.size + len(payload)
    buf, used = writer.take()
    assert used == RECORD_HEADER.size + len(payload) and len(buf) >= used
    writer.add(1, 0, b"")  # a small record first: now the big one fits only if it fits the rest
    assert writer.add(1, 0, payload[: capacity - 2 * RECORD_HEADER.size + extra]) is (extra <= 0)
    fresh = bytearray(capacity)
    writer.take(fresh)
    assert writer.buf is fresh  # a recycled buffer of the full capacity is reused


def test_smallest_valid_options_are_accepted(tmp_path) -> None:
    """The boundary of the option checks: 1 byte blocks, no interval, one pending block."""
    rec = RecordedStream(
        Scripted([b"ab", b"c"]), "tiny", directory=tmp_path, flush_bytes=1, flush_interval=0, max_pending_blocks=1
    )
    buf = bytearray(8)
    for _ in range(2):
        rec.recv_into(buf)  # one block each (flush_interval 0) ...
        assert rec.flush_recording()  # ... written before the next: one pending block is enough
    with pytest.raises(ConnectionClosed):
        rec.recv_into(buf)
    assert rec.wait_closed() and rec.failure is None
    assert drain(ReplayStream.from_file("tiny", directory=tmp_path))[0] == [b"ab", b"c"]


# --- replay details ------------------------------------------------------------------------------


def test_paced_replay_waits_for_each_record_s_time(tmp_path) -> None:
    from boomnet.stream.recording import RECORD_HEADER, file_header, seal_block

    t = 100_000_000  # the read happened 0.1 s into the recording
    records = RECORD_HEADER.pack(IN_KIND, 2, t) + b"hi" + RECORD_HEADER.pack(255, 0, t)
    (tmp_path / "paced.bnrec").write_bytes(file_header(0) + seal_block(records) + records)
    replay = ReplayStream.from_file("paced", directory=tmp_path, speed=2.0)  # twice as fast: 0.05 s
    buf = bytearray(8)
    started = time.monotonic()
    assert replay.recv_into(buf) == 0  # not due yet
    end = started + DEADLINE
    while (n := replay.recv_into(buf)) == 0:
        assert time.monotonic() < end
        time.sleep(0.001)
    assert bytes(buf[:n]) == b"hi" and time.monotonic() - started >= 0.05
    fast = ReplayStream.from_file("paced", directory=tmp_path)  # unpaced: at once
    assert fast.recv_into(buf) == 2


IN_KIND = 1


def test_replay_writes_flush_and_buffered(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"abcdefgh"]), "details", directory=tmp_path)
    rec.write(b"req")
    drain(rec)
    rec.close()
    replay = ReplayStream.from_file("details", directory=tmp_path, compare_writes=True)
    assert replay.flush() is True and replay.pending == 0
    assert replay.buffered() == 8  # the OUT record before it is skipped
    replay.recv_into(bytearray(3))
    assert replay.buffered() == 5  # what is left of a partly read record
    replay.write(b"req")
    with pytest.raises(RecordingError, match="more than were recorded"):
        replay.write(b"x")
    drain(replay)
    assert replay.buffered() == 0 and replay.closed
    with pytest.raises(ConnectionClosed):
        replay.write(b"after the end")


def test_finished_recordings_leave_the_registry(tmp_path) -> None:
    from boomnet.stream.record_sink import _finishing

    rec = RecordedStream(Scripted([]), "reg", directory=tmp_path)
    assert rec.path in _finishing
    rec.close()
    assert rec.wait_closed() and rec.path not in _finishing


def test_flush_recording_reports_a_disk_error(tmp_path) -> None:
    gate = threading.Event()
    gate.set()
    rec = RecordedStream(Scripted([b"x"]), "flushfail", directory=tmp_path, opener=gated(gate, fail_after=1))
    rec.recv_into(bytearray(4))
    assert rec.flush_recording() is False  # the block met ENOSPC while we waited
    assert rec.failure is not None
    rec.close()


def test_record_times_are_relative_to_the_start_and_in_order(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"a", 0, b"b"]), "times", directory=tmp_path)
    rec.write(b"w")
    drain(rec)
    rec.close()
    times = list(ReplayStream.from_file("times", directory=tmp_path).recording.times)
    assert len(times) >= 4 and times == sorted(times)
    assert times[0] >= 0 and times[-1] < 60 * 10**9  # nanoseconds since this recording began


# --- exact boundaries of the parser: a file that is only a header, 8 bytes left, 13 bytes left ----


def test_a_file_that_is_only_its_header_replays_empty_when_truncation_is_allowed(tmp_path) -> None:
    from boomnet.stream.recording import FILE_HEADER, MAGIC_V1

    v3 = make_recording(tmp_path)[:HEADER_SIZE]
    for data, version in [(v3, 3), (FILE_HEADER.pack(MAGIC_V1, 2, 0, 0), 2), (FILE_HEADER.pack(MAGIC_V1, 1, 0, 0), 1)]:
        replay = write_and_load(tmp_path, data, allow_truncated=True)
        assert replay.recording.version == version and not replay.recording.complete
        assert len(replay.recording.kinds) == 0
        with pytest.raises(RecordingError, match="truncated at offset"):
            write_and_load(tmp_path, data)
    for cut in range(FILE_HEADER.size, HEADER_SIZE):  # a version 3 header one to four bytes short
        with pytest.raises(RecordingError, match="no file header"):
            write_and_load(tmp_path, v3[:cut], allow_truncated=True)


@pytest.mark.parametrize("allow", [False, True])
def test_a_block_header_that_ends_the_file_is_checked(tmp_path, allow: bool) -> None:
    """Eight bytes left are a whole block header (of an empty block): its checksum is verified."""
    good = v3_file(rec(1, b"ok"), rec(255))
    end_block = len(BLOCK_HEADER.pack(0, 0)) + len(rec(255))
    body = good[: len(good) - end_block]  # without the END block: a truncated file
    with pytest.raises(RecordingError, match="checksum mismatch"):
        write_and_load(tmp_path, body + BLOCK_HEADER.pack(0, 1), allow_truncated=allow)
    if allow:
        replay = write_and_load(tmp_path, body + BLOCK_HEADER.pack(0, 0), allow_truncated=True)
        assert not replay.recording.complete and drain(replay)[0] == [b"ok"]
        replay = write_and_load(tmp_path, body + BLOCK_HEADER.pack(0, 0)[:7], allow_truncated=True)
        assert not replay.recording.complete and drain(replay)[0] == [b"ok"]


def test_an_end_record_with_a_payload_is_corrupt(tmp_path) -> None:
    from boomnet.stream.recording import FILE_HEADER, MAGIC_V1

    with pytest.raises(RecordingError, match="END record with a payload"):
        write_and_load(tmp_path, v3_file(rec(1, b"a") + rec(255, b"x")))
    v1 = FILE_HEADER.pack(MAGIC_V1, 1, 0, 0) + v1_record(1, b"a")
    assert write_and_load(tmp_path, v1 + v1_record(255, b"")).recording.complete
    with pytest.raises(RecordingError, match="END record with a payload"):
        write_and_load(tmp_path, v1 + v1_record(255, b"x"))


def test_version_1_record_header_that_ends_the_file_is_checked(tmp_path) -> None:
    """Exactly one record header left (13 bytes): a torn record if its kind is known, corrupt if not."""
    from boomnet.stream.recording import FILE_HEADER, MAGIC_V1, RECORD_HEADER

    head = FILE_HEADER.pack(MAGIC_V1, 1, 0, 0) + v1_record(1, b"abc")
    torn = write_and_load(tmp_path, head + RECORD_HEADER.pack(1, 5, 0), allow_truncated=True)
    assert not torn.recording.complete and drain(torn)[0] == [b"abc"]
    with pytest.raises(RecordingError, match="unknown record kind 9"):
        write_and_load(tmp_path, head + RECORD_HEADER.pack(9, 5, 0), allow_truncated=True)


def test_bytes_after_the_end_record_are_counted_in_the_error(tmp_path) -> None:
    late = rec(1, b"b")
    with pytest.raises(RecordingError, match=f"corrupt \\({BLOCK_HEADER.size + len(late)} bytes after the END record\\)"):
        write_and_load(tmp_path, v3_file(rec(1, b"a"), rec(255), late))


@pytest.mark.parametrize("speed, due", [(1.0, 1000), (2.0, 500), (0.5, 2000)])
def test_a_paced_record_is_due_exactly_at_its_time(tmp_path, monkeypatch, speed: float, due: int) -> None:
    """With the monotonic clock in the test's hand: a record at t = 1000 ns reads as 0 bytes one
    nanosecond before its (speed-scaled) time, and as its bytes at that exact time."""
    import boomnet.stream.replay as replay_module
    from boomnet.stream.recording import RECORD_HEADER, file_header, seal_block

    now = [5_000_000]
    monkeypatch.setattr(replay_module.time, "monotonic_ns", lambda: now[0])
    records = RECORD_HEADER.pack(IN_KIND, 1, 0) + b"a" + RECORD_HEADER.pack(IN_KIND, 1, 1000) + b"b"
    records += RECORD_HEADER.pack(255, 0, 1000)
    (tmp_path / "exact.bnrec").write_bytes(file_header(0) + seal_block(records) + records)
    replay = ReplayStream.from_file("exact", directory=tmp_path, speed=speed)
    buf = bytearray(4)
    assert replay.recv_into(buf) == 1 and buf[:1] == b"a"  # t = 0: due at the first read
    now[0] += due - 1
    assert replay.recv_into(buf) == 0
    now[0] += 1
    assert replay.recv_into(buf) == 1 and buf[:1] == b"b"


def test_a_write_longer_than_the_recording_names_the_extra_bytes(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"in"]), "longer", directory=tmp_path)
    rec.write(b"req")
    drain(rec)
    rec.close()
    replay = ReplayStream.from_file("longer", directory=tmp_path, compare_writes=True)
    with pytest.raises(RecordingError, match="wrote 2 bytes more than were recorded"):
        replay.write(b"reqXY")  # the first 3 bytes match the recorded write


def test_recording_defaults_are_the_documented_ones(tmp_path) -> None:
    """README: blocks of 1 MiB, handed over at least every second, 8 may wait for the disk."""
    rec = RecordedStream(Scripted([]), "defaults", directory=tmp_path)
    try:
        assert rec.flush_bytes == 1024 * 1024
        assert rec.flush_interval_ns == 1_000_000_000
        assert rec._writer.capacity == 1024 * 1024
    finally:
        rec.close()
        assert rec.wait_closed()


def test_a_gap_longer_than_a_u32_is_recorded_as_the_largest_count(tmp_path) -> None:
    """A GAP record counts the empty reads of a run in 32 bits: a longer run (about 4 billion
    empty polls, hours of busy polling) is recorded as 0xFFFFFFFF, never wrapped or refused."""
    from boomnet.stream.recording import GAP, GAP_COUNT, parse

    rec = RecordedStream(Scripted([b"", b"x"]), "gap", directory=tmp_path)
    buf = bytearray(16)
    assert rec.recv_into(buf) == 0  # opens the run of empty reads
    rec._zero_reads = 0xFFFFFFFF + 5  # as if the run had gone on that long
    assert rec.recv_into(buf) == 1  # data ends the run: its GAP record is written
    rec.close()
    ReplayStream.from_file("gap", directory=tmp_path)  # waits for the file to be finished
    recording = parse((tmp_path / "gap.bnrec").read_bytes())
    gaps = [i for i, kind in enumerate(recording.kinds) if kind == GAP]
    assert len(gaps) == 1
    at = recording.offsets[gaps[0]]
    assert GAP_COUNT.unpack_from(recording.data, at) == (0xFFFFFFFF,)


def test_a_record_that_opens_a_new_block_keeps_its_time(tmp_path) -> None:
    """When a record does not fit the current block, the block is handed over and the record goes
    into the next one, with its time relative to the recording's start like any other."""
    from boomnet.stream.recording import OUT, parse

    rec = RecordedStream(Scripted([]), "blocks", directory=tmp_path, flush_bytes=4096)
    started = time.monotonic()
    for i in range(6):
        rec.write(bytes([65 + i]) * 3000)  # each one fills most of a block
    rec.close()
    elapsed_ns = (time.monotonic() - started) * 1e9
    ReplayStream.from_file("blocks", directory=tmp_path)  # waits for the file to be finished
    recording = parse((tmp_path / "blocks.bnrec").read_bytes())
    outs = [i for i, kind in enumerate(recording.kinds) if kind == OUT]
    assert len(outs) == 6
    times = [recording.times[i] for i in outs]
    assert times == sorted(times) and all(0 <= t <= elapsed_ns + 1e6 for t in times)
