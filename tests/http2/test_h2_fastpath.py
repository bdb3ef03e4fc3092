"""The DATA fast path of H2Connection (frames appended straight to the body, without h2): exact
flow-control credit that never stalls a large download, the body limit at its exact boundary on
a frame cut by a read, padded frames and the reserved bit, interleaved streams. The server is
h2's own server role (an independent implementation of the framing and of the flow-control
accounting), driven by hand. Every test runs on both DATA run loops (C and pure Python)."""

from __future__ import annotations

import hashlib
import random
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

from boomnet.errors import BodyTooLarge, DeadlineExceeded, HttpProtocolError
from boomnet.http.h2 import H2Connection, demux
from boomnet.http.limits import HttpLimits


@pytest.fixture(autouse=True, params=["c", "python"])
def run_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both DATA run loops: the C one (when built) and the pure-Python reference."""
    if request.param == "python":
        monkeypatch.setattr(demux, "_data_run", None)
    elif not demux.SPEEDUPS:
        pytest.skip("n/a: the C run loop is not built here")
    return str(request.param)


class CutStream:
    """Delivers the bytes queued in ``wire`` in reads of at most ``cut`` bytes (a TLS stream
    gives any cut); what the client writes goes to ``sent``."""

    def __init__(self, cut: int = 65536) -> None:
        self.wire = bytearray()
        self.sent = bytearray()
        self.cut = cut
        self.pending = 0

    def establish(self) -> bool:
        return True

    def recv_into(self, buf: memoryview) -> int:
        n = min(len(buf), len(self.wire), self.cut)
        buf[:n] = self.wire[:n]
        del self.wire[:n]
        return n

    def write(self, data: bytes) -> None:
        self.sent += data

    def flush(self) -> bool:
        return True

    def buffered(self) -> int:
        return 0

    def read_hint(self) -> int:
        return len(self.wire)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


class Pair:
    """Our client and h2's server role over one CutStream."""

    def __init__(self, cut: int = 65536, limits: HttpLimits | None = None) -> None:
        self.stream = CutStream(cut)
        self.now = 0.0
        self.client = H2Connection(self.stream, "example", scheme="https",  # type: ignore[arg-type]
                                   limits=limits or HttpLimits(), clock=lambda: self.now)
        self.client.establish()
        self.server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.server.initiate_connection()
        self.credit = {0: 0}  # WINDOW_UPDATE increments the client sent, per stream
        self.resets: list[int] = []

    def to_server(self) -> list[int]:
        """The client's bytes to the server; returns the stream ids of new requests."""
        data = bytes(self.stream.sent)
        self.stream.sent.clear()
        pos = 24 if data.startswith(b"PRI * HTTP/2.0") else 0
        while pos < len(data):  # RST_STREAM frames, seen on the wire (h2 drops those of closed streams)
            length, ftype = int.from_bytes(data[pos : pos + 3], "big"), data[pos + 3]
            if ftype == 0x3:
                self.resets.append(int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF)
            pos += 9 + length
        events = self.server.receive_data(data)
        for e in events:
            if isinstance(e, h2.events.WindowUpdated):
                self.credit[e.stream_id] = self.credit.get(e.stream_id, 0) + e.delta
        return [e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)]

    def to_client(self) -> None:
        self.stream.wire += self.server.data_to_send()
        for _ in range(len(self.stream.wire) // self.stream.cut + 2):
            self.client.poll()


@pytest.mark.parametrize("cut", [65_536, 16_384 + 9])  # reads cut frames / each read is one whole frame
def test_a_download_of_2_5_windows_never_stalls_and_credit_is_exact(cut: int) -> None:
    p = Pair(cut=cut)
    req = p.client.request("GET", "/big")
    (sid,) = p.to_server()
    size = 40 * 1024 * 1024  # 2.5x our 16 MiB windows: only the client's WINDOW_UPDATEs let it through
    p.server.send_headers(sid, [(":status", "200"), ("content-length", str(size))])
    rng = random.Random(7)
    chunk = rng.randbytes(1 << 20)
    sent = 0
    for _ in range(10_000):  # bounded: a stalled window ends the loop with the body incomplete
        if sent == size:
            break
        window = min(p.server.local_flow_control_window(sid), size - sent)
        while window > 0:
            step = min(window, p.server.max_outbound_frame_size, size - sent)
            off = sent % len(chunk)
            step = min(step, len(chunk) - off)
            sent += step
            p.server.send_data(sid, chunk[off : off + step], end_stream=sent == size)
            window -= step
        p.to_client()
        p.to_server()
    assert req.error is None and req.response is not None
    body = req.response.body
    assert len(body) == size
    expected = hashlib.sha256()
    for _ in range(size // len(chunk)):
        expected.update(chunk)
    assert hashlib.sha256(body).digest() == expected.digest()
    # never more credit than bytes received, and never so little that the sender must stop
    # (what is still owed is under half the window)
    owed = size - (p.credit[0] - (16 * 1024 * 1024 - 65_535))  # less the client's opening increment
    assert 0 <= owed < 8 * 1024 * 1024
    assert p.credit.get(sid, 0) <= size


@pytest.mark.parametrize("extra", [0, 1])
@pytest.mark.parametrize("cut", [7_001, 1 << 20])  # frames cut by every read / whole frames
@pytest.mark.parametrize("separate_end", [False, True])  # END_STREAM on the last DATA frame / an empty one
def test_the_body_limit_holds_at_its_exact_boundary(extra: int, cut: int, separate_end: bool) -> None:
    limit = 50_000
    p = Pair(cut=cut, limits=HttpLimits(max_body_size=limit))
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    body = random.Random(1).randbytes(limit + extra)
    p.server.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
    p.to_client()  # the headers first: the body takes the fast path
    for i in range(0, len(body), 16_384):
        p.server.send_data(sid, body[i : i + 16_384], end_stream=not separate_end and i + 16_384 >= len(body))
    if separate_end:
        p.server.end_stream(sid)
    p.to_client()
    p.to_server()
    if extra:
        assert isinstance(req.error, BodyTooLarge) and req.response is None
        assert sid in p.resets  # the stream is reset; the connection lives on
        assert p.client.closed_error is None
    else:
        assert req.error is None and req.response is not None and req.response.body == body
        assert not p.resets


@pytest.mark.parametrize("cut", [1_000, 1 << 20])  # the dropped frame cut by reads / whole
def test_bytes_dropped_over_the_limit_are_still_credited_to_the_connection(cut: int) -> None:
    # 1,100 responses of 16,384 + 2 x 4,000 bytes, all over the limit at their first frame:
    # 26.8 MB, far more than the 16 MiB connection window. Had the dropped bytes (the first frame
    # on our side, the later ones through h2) not been given back, the server could not send.
    p = Pair(cut=cut, limits=HttpLimits(max_body_size=100))
    for _ in range(1_100):
        big = p.client.request("GET", "/big")
        (sid,) = p.to_server()
        p.server.send_headers(sid, [(":status", "200")])
        p.to_client()
        assert p.server.outbound_flow_control_window >= 24_384
        for size in (16_384, 4_000, 4_000):  # all in flight before our RST_STREAM reaches the server
            p.server.send_data(sid, bytes(size))
        p.to_client()
        p.to_server()
        assert isinstance(big.error, BodyTooLarge) and sid in p.resets
    assert p.credit[0] >= 8 * 1024 * 1024
    small = p.client.request("GET", "/small")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.server.send_data(sid, b"ok", end_stream=True)
    p.to_client()
    assert small.response is not None and small.response.body == b"ok"
    assert p.client.closed_error is None


def test_padded_frames_and_plain_ones_of_one_stream_stay_in_order() -> None:
    p = Pair(cut=3_000)
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.to_client()
    parts = [bytes([i]) * (1000 + 37 * i) for i in range(40)]
    for i, part in enumerate(parts):  # padded frames go to h2, the others straight to the body
        p.server.send_data(sid, part, pad_length=(i % 7) if i % 3 == 0 else None, end_stream=i == len(parts) - 1)
    p.to_client()
    assert req.response is not None and req.response.body == b"".join(parts)


@pytest.mark.parametrize("cut", [1, 100, 1 << 20])
def test_trailers_right_after_the_data_end_the_body(cut: int) -> None:
    p = Pair(cut=cut)
    req = p.client.request("GET", "/", headers=[("te", "trailers")])
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.to_client()
    body = random.Random(5).randbytes(40_000)
    for i in range(0, len(body), 8_192):  # DATA frames, then HEADERS (trailers) in the same read
        p.server.send_data(sid, body[i : i + 8_192])
    p.server.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
    p.to_client()
    assert req.error is None and req.response is not None and req.response.body == body
    assert ("x-checksum", "abc") in req.trailers


def test_headers_without_end_stream_after_data_are_never_taken_as_body() -> None:
    p = Pair()
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.to_client()
    p.server.send_data(sid, bytes(16_000))
    wire = p.server.data_to_send()
    p.server.send_headers(sid, [("x-late", "1")], end_stream=True)
    late = bytearray(p.server.data_to_send())
    assert late[3] == 0x1 and late[4] & 0x1
    late[4] &= ~0x1  # the same HEADERS frame without END_STREAM: malformed after DATA (RFC 9113 8.1)
    p.stream.wire += wire + late
    for _ in range(5):
        p.client.poll()
    assert req.response is None and isinstance(req.error, HttpProtocolError)


def test_a_stream_that_ends_between_the_reads_of_one_frame_loses_nothing_else() -> None:
    p = Pair()
    slow = p.client.request("GET", "/slow", deadline=1.0)
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.to_client()
    p.server.send_data(sid, bytes(16_000))
    wire = p.server.data_to_send()
    p.stream.wire += wire[:5_000]  # the frame's first part...
    p.client.poll()
    p.now = 2.0
    p.client.poll()  # ...then the request's deadline passes (the stream is reset)...
    assert isinstance(slow.error, DeadlineExceeded)
    p.stream.wire += wire[5_000:]  # ...then the rest of the frame arrives: dropped, credited
    p.client.poll()
    assert p.client.closed_error is None
    p.to_server()
    fresh = p.client.request("GET", "/fresh")
    (sid2,) = p.to_server()
    p.server.send_headers(sid2, [(":status", "200")])
    p.server.send_data(sid2, b"ok", end_stream=True)
    p.to_client()
    assert fresh.response is not None and fresh.response.body == b"ok"
    assert p.client._unacked == 16_002  # every byte of the dropped frame counts for the window (+ "ok")


def test_the_reserved_bit_of_a_stream_id_is_ignored() -> None:
    p = Pair(cut=4_096)
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200")])
    p.to_client()
    body = random.Random(3).randbytes(30_000)
    wire = bytearray()
    for i in range(0, len(body), 10_000):  # hand-built DATA frames with the R bit set (RFC 9113 4.1)
        last = i + 10_000 >= len(body)
        payload = body[i : i + 10_000]
        wire += len(payload).to_bytes(3, "big") + bytes([0, 1 if last else 0]) + (sid | 0x80000000).to_bytes(4, "big")
        wire += payload
    p.stream.wire += wire
    for _ in range(20):
        p.client.poll()
    assert req.error is None and req.response is not None and req.response.body == body


@pytest.mark.parametrize("cut", [1, 9, 100, 8_201, 65_536])
def test_interleaved_streams_each_get_their_own_bytes_and_credit(cut: int) -> None:
    p = Pair(cut=cut)
    reqs = [p.client.request("GET", f"/{i}") for i in range(3)]
    sids = p.to_server()
    rng = random.Random(cut)
    bodies = [rng.randbytes(60_000 + 1000 * i) for i in range(3)]
    for sid, body in zip(sids, bodies):
        p.server.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
    offsets = [0, 0, 0]
    while any(off < len(b) for off, b in zip(offsets, bodies)):  # frame by frame, stream after stream
        for i, sid in enumerate(sids):
            if offsets[i] < len(bodies[i]):
                step = rng.randint(1, 9_000)
                part = bodies[i][offsets[i] : offsets[i] + step]
                offsets[i] += len(part)
                p.server.send_data(sid, part, end_stream=offsets[i] == len(bodies[i]))
    p.to_client()
    assert [r.error for r in reqs] == [None, None, None]
    assert [r.response.body for r in reqs if r.response is not None] == bodies


@pytest.mark.parametrize("cut", [7_001, 1 << 20])
def test_a_declared_body_ends_exactly_full_with_no_slack(cut: int) -> None:
    # capacity grows by doubling up to the declared length and never past it: the body handed
    # out is its buffer, with no over-allocation kept for its life (bytearray += keeps up to 1/8)
    p = Pair(cut=cut)
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    size = 3 * 1024 * 1024 + 12_345
    body = random.Random(11).randbytes(size)
    p.server.send_headers(sid, [(":status", "200"), ("content-length", str(size))])
    p.to_client()
    buf = None
    for i in range(0, size, 16_384):
        p.server.send_data(sid, body[i : i + 16_384], end_stream=i + 16_384 >= size)
        if i % (1 << 20) == 0:
            p.to_client()
            p.to_server()
            assert len(req.received.buf) <= size  # capacity never past the declared length
            assert len(req.received.buf) - req.received.filled <= max(req.received.filled, 256 * 1024)
            if req.response is None:
                buf = req.received.buf  # (grown in place: the same object to the end)
    p.to_client()
    assert req.response is not None and req.response.body == body
    got = req.response.body
    assert got is buf  # the very buffer it was received into: it ended exactly full, nothing was copied
    slack = sys.getsizeof(got) - sys.getsizeof(bytearray()) - len(got)
    assert slack <= 1  # CPython keeps one byte for a trailing NUL


@pytest.mark.parametrize("cut", [1_000, 1 << 20])
def test_data_past_the_content_length_fails_that_stream_at_once(cut: int) -> None:
    p = Pair(cut=cut)
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200"), ("content-length", "20000")])
    p.to_client()
    p.server.send_data(sid, bytes(16_384))
    p.server.send_data(sid, bytes(16_384), end_stream=True)  # 32,768 bytes: past the declared 20,000
    p.to_client()
    p.to_server()
    assert req.response is None and isinstance(req.error, HttpProtocolError)
    assert "content-length" in str(req.error) and not isinstance(req.error, BodyTooLarge)
    assert sid in p.resets and p.client.closed_error is None  # that stream only
    ok = p.client.request("GET", "/ok")
    (sid2,) = p.to_server()
    p.server.send_headers(sid2, [(":status", "200"), ("content-length", "2")])
    p.server.send_data(sid2, b"ok", end_stream=True)
    p.to_client()
    assert ok.response is not None and ok.response.body == b"ok"


@pytest.mark.parametrize("cut", [1_000, 1 << 20])
@pytest.mark.parametrize("first", [False, True])  # the stream's first DATA frame / after a normal one
def test_a_data_frame_over_our_max_frame_size_fails_the_connection_with_frame_size_error(cut: int, first: bool) -> None:
    p = Pair(cut=cut)
    req = p.client.request("GET", "/")
    (sid,) = p.to_server()
    p.server.send_headers(sid, [(":status", "200"), ("content-length", "40000")])
    p.to_client()
    wire = bytearray()
    if not first:
        p.server.send_data(sid, bytes(4_000))
        wire += p.server.data_to_send()
    payload = bytes(20_000)  # we advertise the default SETTINGS_MAX_FRAME_SIZE, 16,384 (RFC 9113 4.2)
    wire += len(payload).to_bytes(3, "big") + b"\x00\x00" + sid.to_bytes(4, "big") + payload
    p.stream.wire += wire
    for _ in range(30):
        p.client.poll()
    assert isinstance(p.client.closed_error, HttpProtocolError)
    assert req.response is None and isinstance(req.error, HttpProtocolError)
    goaway = [e for e in p.server.receive_data(bytes(p.stream.sent)) if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway and goaway[0].error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR
