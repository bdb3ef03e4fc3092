"""The frame demultiplexer of H2Connection (response DATA straight into bodies, the rest to h2,
h2 fed right after GOAWAY) under every split of the server's bytes. The server side is h2's own
server role (an independent implementation of the framing), driven by hand in the test."""

from __future__ import annotations

import random

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import GoAwayFrame
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.http.h2 import H2Connection


class ChunkStream:
    """A stream that delivers pre-cut chunks; what the client writes goes to ``sent``."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.sent = bytearray()
        self.pending = 0

    def establish(self) -> bool:
        return True

    def recv_into(self, buf: memoryview) -> int:
        if not self.chunks:
            return 0
        chunk = self.chunks.pop(0)
        buf[: len(chunk)] = chunk
        return len(chunk)

    def write(self, data: bytes) -> None:
        self.sent += data

    def flush(self) -> bool:
        return True

    def read_hint(self) -> int:
        return len(self.chunks)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def _exchange(bodies: list[bytes], goaway_after: int | None) -> tuple[H2Connection, ChunkStream, list[object], bytes]:
    stream = ChunkStream()
    client = H2Connection(stream, "example", scheme="https")  # type: ignore[arg-type]
    client.establish()
    reqs = [client.request("GET", f"/{i}") for i in range(len(bodies))]
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    events = server.receive_data(bytes(stream.sent))
    stream_ids = [e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)]
    assert len(stream_ids) == len(bodies)
    wire = bytearray()
    for n, (sid, body) in enumerate(zip(stream_ids, bodies)):
        server.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
        for i in range(0, len(body), 5000):  # many DATA frames, some straddling any cut
            server.send_data(sid, body[i : i + 5000])
        server.end_stream(sid)
        wire += server.data_to_send()
        if goaway_after is not None and n == goaway_after:
            # a graceful GOAWAY in the middle, still owing the later streams (built with
            # hyperframe: h2's server role itself refuses to send after its own GOAWAY)
            wire += GoAwayFrame(0, last_stream_id=stream_ids[-1], error_code=0).serialize()
    return client, stream, reqs, bytes(wire)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=2**32), st.booleans())
def test_any_split_delivers_every_body_intact(n: int, seed: int, goaway: bool) -> None:
    rng = random.Random(seed)
    bodies = [rng.randbytes(rng.randint(0, 40_000)) for _ in range(n)]
    client, stream, reqs, wire = _exchange(bodies, 0 if goaway else None)
    pos = 0
    while pos < len(wire):  # random cuts: inside frame headers, payloads, between frames
        step = rng.choice((1, 2, 7, 9, 10, 100, 4096, 16384, 70000))
        stream.chunks.append(wire[pos : pos + step])
        pos += step
    for _ in range(len(stream.chunks) + 5):
        client.poll()
    assert [r.error for r in reqs] == [None] * n  # type: ignore[attr-defined]
    assert [r.response.body for r in reqs] == bodies  # type: ignore[attr-defined]
    assert client.draining == goaway


def test_a_wrong_content_length_is_an_error() -> None:
    stream = ChunkStream()
    client = H2Connection(stream, "example", scheme="https")  # type: ignore[arg-type]
    client.establish()
    req = client.request("GET", "/")
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    sid = [e.stream_id for e in server.receive_data(bytes(stream.sent)) if isinstance(e, h2.events.RequestReceived)][0]
    server.send_headers(sid, [(":status", "200"), ("content-length", "10")])
    stream.chunks.append(server.data_to_send())
    client.poll()  # headers first, so the body takes the fast path
    server.send_data(sid, b"12345", end_stream=True)  # 5 bytes, not 10
    stream.chunks.append(server.data_to_send())
    client.poll()
    assert req.response is None and "content-length" in str(req.error)
