"""The frame demultiplexer's edge cases, through H2Connection (so they hold whatever the demux's
internals are): frames written by hand from RFC 9113 section 4.1 —
``[u24 length][u8 type][u8 flags][1 reserved bit + u31 stream id][payload]`` — after h2's own
server role (an independent implementation) has answered the request's HEADERS.

DATA (type 0): flags END_STREAM 0x1, PADDED 0x8 (then the first payload byte is the pad length).
GOAWAY (type 7). The reserved bit "MUST be ignored when receiving" (RFC 9113, 4.1).
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events

from boomnet.http.h2 import H2Connection

from .test_h2_frames import ChunkStream


def frame(ftype: int, flags: int, sid: int, payload: bytes, *, reserved: bool = False) -> bytes:
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags])
            + (sid | (0x80000000 if reserved else 0)).to_bytes(4, "big") + payload)


def data(sid: int, payload: bytes, *, end: bool = False, reserved: bool = False) -> bytes:
    return frame(0, 0x1 if end else 0, sid, payload, reserved=reserved)


def padded(sid: int, payload: bytes, pad: int, *, end: bool = False) -> bytes:
    return frame(0, 0x8 | (0x1 if end else 0), sid, bytes([pad]) + payload + b"\x00" * pad)


def setup(n: int = 1, *, headers_first: bool = True):  # type: ignore[no-untyped-def]
    """A client with ``n`` GET requests whose response HEADERS (no content-length) are either
    delivered already (``headers_first``) or returned as bytes to send with the body."""
    stream = ChunkStream()
    client = H2Connection(stream, "example", scheme="https")  # type: ignore[arg-type]
    client.establish()
    reqs = [client.request("GET", f"/{i}") for i in range(n)]
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    events = server.receive_data(bytes(stream.sent))
    sids = [e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)]
    for sid in sids:
        server.send_headers(sid, [(":status", "200")])
    head = server.data_to_send()
    if headers_first:
        stream.chunks.append(head)
        client.poll()
        head = b""
    return client, stream, reqs, sids, head


def deliver(client: H2Connection, stream: ChunkStream, wire: bytes, step: int | None = None) -> None:
    step = step or len(wire) or 1
    for i in range(0, len(wire), step):
        stream.chunks.append(wire[i : i + step])
    for _ in range(len(stream.chunks) + 3):
        client.poll()


def body(req) -> bytes | None:  # type: ignore[no-untyped-def]
    assert req.error is None, req.error
    return None if req.response is None else req.response.body


def test_every_cut_of_data_frames_after_the_headers() -> None:
    wire = data(1, b"hello ") + data(1, b"") + data(1, b"world", end=True)
    for step in (1, 2, 8, 9, 10, 11, 15, 16, 17, len(wire)):
        client, stream, [req], [sid], _ = setup()
        assert sid == 1
        deliver(client, stream, wire, step)
        assert body(req) == b"hello world", step


def test_an_empty_end_stream_data_frame_ends_the_body() -> None:
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, data(sid, b"abc") + data(sid, b"", end=True))
    assert body(req) == b"abc"
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, data(sid, b"", end=True))
    assert body(req) == b""


def test_the_reserved_bit_of_the_stream_id_is_ignored() -> None:
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, data(sid, b"abc", reserved=True) + data(sid, b"def", end=True, reserved=True), 5)
    assert body(req) == b"abcdef"


def test_padded_data_is_delivered_without_its_padding() -> None:
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, padded(sid, b"abc", 4) + data(sid, b"-") + padded(sid, b"xyz", 0, end=True), 3)
    assert body(req) == b"abc-xyz"


def test_data_in_the_same_read_as_its_headers() -> None:
    # the HEADERS must reach h2 before the DATA is judged, or the body would be lost or reordered
    for step in (None, 1, 9, 13):
        client, stream, [req], [sid], head = setup(headers_first=False)
        deliver(client, stream, head + data(sid, b"early ") + data(sid, b"bytes", end=True), step)
        assert body(req) == b"early bytes", step


def test_two_streams_interleaved() -> None:
    client, stream, reqs, sids, _ = setup(2)
    a, b = sids
    wire = data(a, b"A1") + data(b, b"B1") + padded(a, b"A2", 1) + data(b, b"B2", end=True) + data(a, b"A3", end=True)
    for step in (1, 4, 9, 10, len(wire)):
        client, stream, reqs, sids, _ = setup(2)
        deliver(client, stream, wire, step)
        assert [body(r) for r in reqs] == [b"A1A2A3", b"B1B2"], step


def test_goaway_is_handled_before_the_frames_after_it() -> None:
    client, stream, [req], [sid], _ = setup()
    goaway = frame(7, 0, 0, (sid).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    deliver(client, stream, data(sid, b"ab") + goaway + data(sid, b"cd", end=True))
    assert client.draining and body(req) == b"abcd"


def test_data_on_stream_zero_is_a_protocol_error() -> None:
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, data(0, b"x"))
    assert client.closed_error is not None and "protocol error" in str(client.closed_error).lower()
    assert req.error is not None


def test_all_31_bits_of_the_stream_id_count() -> None:
    # stream 1 + 2**24 shares its low three bytes with stream 1: it must not be taken for it
    client, stream, [req], [sid], _ = setup()
    deliver(client, stream, data(sid, b"mine") + data(sid + (1 << 24), b"NOT") + data(sid, b"", end=True))
    # h2 sees a DATA frame on a stream that was never opened: a connection error
    assert client.closed_error is not None and "16777217" in str(client.closed_error)
    assert req.response is None and req.error is not None
