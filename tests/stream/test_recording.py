"""RecordedStream -> file -> ReplayStream: byte-for-byte and read-for-read, gaps included."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import ConnectionClosed, ConnectionReset, RecordingError
from boomnet.stream import RecordedStream, ReplayStream, Stream, TcpStream
from boomnet.stream.recording import BLOCK_HEADER, HEADER_SIZE

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


def test_replay_with_small_buffer_splits_reads(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"abcdefgh", 0, b"ij"]), "split", directory=tmp_path)
    drain(rec)
    rec.close()
    replay = ReplayStream.from_file("split", directory=tmp_path)
    assert replay.buffered() == 8
    reads, _ = drain(replay, bufsize=3)
    assert reads == [b"abc", b"def", b"gh", b"", b"ij"]


def test_reset_is_replayed_as_reset(tmp_path) -> None:
    rec = RecordedStream(Scripted([b"x"], end=ConnectionReset("rst")), "reset", directory=tmp_path)
    _, end = drain(rec)
    assert isinstance(end, ConnectionReset)
    _, replay_end = drain(ReplayStream.from_file("reset", directory=tmp_path))
    assert isinstance(replay_end, ConnectionReset)


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
