"""The sans-I/O decoder, encoder and handshake, on bytes; the client over an in-memory stream."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.errors import (
    ConnectionClosed,
    HandshakeError,
    InvalidUrl,
    InvalidUtf8,
    MessageTooBig,
    WebSocketClosed,
    WebSocketProtocolError,
)
from boomnet.stream.base import Stream
from boomnet.url import Url
from boomnet.ws import Decoder, Opcode, WebSocket, encode_frame, mask_payload
from boomnet.ws.handshake import accept_for, parse_response, parse_ws_url

from .drive import skip_without_c_path


@pytest.fixture(autouse=True, params=["c", "pure"])
def decoder_impl(request, monkeypatch):
    """Run every test over the C fast path (when built) and over pure Python."""
    import boomnet.ws.decoder as decoder_module

    if request.param == "c":
        skip_without_c_path()
    else:
        monkeypatch.setattr(decoder_module, "_scan", None)
    return request.param


def test_c_and_python_masking_agree() -> None:
    from boomnet.ws.encoder import _mask_payload_py

    for n in (0, 1, 3, 4, 7, 8, 9, 255, 4097):
        data = bytes((i * 7) % 256 for i in range(n))
        assert mask_payload(data, b"\x9a\x01\xff\x10") == _mask_payload_py(data, b"\x9a\x01\xff\x10")


def test_c_utf8_validator_agrees_with_python() -> None:
    speedups = pytest.importorskip("boomnet.ws._speedups")
    samples = [b"", b"ascii only", "κόσμε".encode(), b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
               b"\xf4\x90\x80\x80", b"\xf0\x9f\x98\x80", b"abc\xe2\x82", b"\xff", b"12345678\xc3\xa9abcdefgh"]
    for s in samples:
        try:
            s.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            ok = False
        assert speedups.utf8_valid(s) is ok, s


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """Reference encoder written independently of boomnet's: unmasked server frame."""
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 65536:
        head = bytes([b0, 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, 127]) + struct.pack("!Q", n)
    return head + payload


def decode_all(data: bytes, step: int | None = None, **opts) -> tuple[list[tuple[Opcode, bool, bytes]], Decoder]:
    dec = Decoder(**opts)
    got = []
    step = step or len(data) or 1
    for i in range(0, max(len(data), 1), step):
        dec.feed(data[i : i + step])
        got.extend((f.opcode, f.fin, bytes(f.payload)) for f in dec.decode())
        if dec.error is not None:
            break
    return got, dec


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("step", [None, 1, 7, 4096])
def test_length_encodings_any_split(size: int, step: int | None) -> None:
    if step == 1 and size > 70_000:
        pytest.skip("n/a: byte-by-byte over 200 kB is slow and adds nothing")
    payload = bytes(i % 251 for i in range(size))
    data = server_frame(2, payload) + server_frame(1, b"tail")
    got, dec = decode_all(data, step)
    assert dec.error is None
    assert got == [(Opcode.BINARY, True, payload), (Opcode.TEXT, True, b"tail")]
    assert dec.undecoded == 0


def test_batch_returns_every_complete_frame_and_keeps_partial() -> None:
    frames = [server_frame(1, f'{{"i":{i}}}'.encode()) for i in range(100)]
    data = b"".join(frames)
    dec = Decoder()
    dec.feed(data[:-3])
    first = [bytes(f.payload) for f in dec.decode()]
    assert len(first) == 99 and dec.undecoded == len(frames[-1]) - 3
    dec.feed(data[-3:])
    assert [bytes(f.payload) for f in dec.decode()] == [b'{"i":99}']


def test_payload_is_a_view_into_the_buffer() -> None:
    dec = Decoder()
    dec.feed(server_frame(1, b"hello"))
    (frame,) = dec.decode()
    assert isinstance(frame.payload, memoryview)
    assert frame.text() == "hello" and frame.bytes() == b"hello"


def test_pooled_payload_views_are_reused_only_when_nobody_else_holds_them() -> None:
    dec = Decoder()
    dec.feed(server_frame(1, b"aaaa") + server_frame(2, b"bb") + server_frame(1, b"zz"))
    f1, f2, f3 = dec.decode()
    kept = f1.payload  # the caller keeps one view ...
    f2.payload.release()  # ... and releases another
    exported = memoryview(f3.payload)  # ... and exports the third  # noqa: F841
    dec.feed(server_frame(1, b"cccccc") + server_frame(1, b"d") + server_frame(2, b"e") + server_frame(1, b"ff"))
    got = [(f.opcode, bytes(f.payload)) for f in dec.decode()]
    assert got == [(Opcode.TEXT, b"cccccc"), (Opcode.TEXT, b"d"), (Opcode.BINARY, b"e"), (Opcode.TEXT, b"ff")]
    assert len(kept) == 4 and all(f.payload is not kept for f in dec._out)  # never re-aimed under the caller
    # a view nobody else holds is recycled in place by the C path (no allocation per frame)
    pool_views = [id(f.payload) for f in dec._out]
    dec.feed(server_frame(1, b"x") * 4)
    assert [bytes(f.payload) for f in dec.decode()] == [b"x"] * 4
    import boomnet.ws.decoder as decoder_module
    if decoder_module._scan is not None:
        assert id(dec._out[3].payload) == pool_views[3]


def test_fragmented_message_assembled_with_interleaved_control() -> None:
    data = (
        server_frame(1, b"he", fin=False)
        + server_frame(9, b"ping!")
        + server_frame(0, b"ll", fin=False)
        + server_frame(10, b"")
        + server_frame(0, b"o", fin=True)
    )
    for step in (None, 1, 3):
        got, dec = decode_all(data, step)
        assert dec.error is None
        assert got == [(Opcode.PING, True, b"ping!"), (Opcode.PONG, True, b""), (Opcode.TEXT, True, b"hello")]


def test_fragments_delivered_raw_when_assembly_is_off() -> None:
    data = server_frame(2, b"ab", fin=False) + server_frame(0, b"cd", fin=False) + server_frame(0, b"e")
    got, _dec = decode_all(data, assemble=False)
    assert got == [(Opcode.BINARY, False, b"ab"), (Opcode.CONTINUATION, False, b"cd"), (Opcode.CONTINUATION, True, b"e")]


def test_ping_and_close_are_reported_for_answering() -> None:
    dec = Decoder()
    dec.feed(server_frame(9, b"p1") + server_frame(8, struct.pack("!H", 1001) + "bye ✓".encode()) + server_frame(1, b"x"))
    got = [(f.opcode, bytes(f.payload)) for f in dec.decode()]
    assert [op for op, _ in got] == [Opcode.PING, Opcode.CLOSE]  # nothing after CLOSE is decoded
    assert dec.control[0] == (Opcode.PING, b"p1")
    assert dec.close_seen and dec.close_code == 1001 and dec.close_reason == "bye ✓"


@pytest.mark.parametrize(
    "data, error, code",
    [
        (server_frame(1, b"x", rsv=4), WebSocketProtocolError, 1002),
        (server_frame(3, b"x"), WebSocketProtocolError, 1002),
        (server_frame(0xB, b""), WebSocketProtocolError, 1002),
        (server_frame(9, b"x" * 126), WebSocketProtocolError, 1002),
        (server_frame(9, b"x", fin=False), WebSocketProtocolError, 1002),
        (server_frame(0, b"x"), WebSocketProtocolError, 1002),
        (server_frame(1, b"a", fin=False) + server_frame(1, b"b"), WebSocketProtocolError, 1002),
        (server_frame(8, b"\x03"), WebSocketProtocolError, 1002),
        (server_frame(8, struct.pack("!H", 1005)), WebSocketProtocolError, 1002),
        (server_frame(8, struct.pack("!H", 999)), WebSocketProtocolError, 1002),
        (server_frame(8, struct.pack("!H", 5000)), WebSocketProtocolError, 1002),
        (server_frame(8, struct.pack("!H", 1000) + b"\xff"), InvalidUtf8, 1007),
        (server_frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), InvalidUtf8, 1007),
        (server_frame(1, b"ok", fin=False) + server_frame(0, b"\xff", fin=False), InvalidUtf8, 1007),
        (server_frame(1, b"\xe2\x82", fin=False) + server_frame(0, b""), InvalidUtf8, 1007),
        (bytes([0x81, 0xFF]) + b"\x80" + b"\0" * 7, WebSocketProtocolError, 1002),  # 64-bit length MSB set
        (bytes([0x81, 0x85]) + b"\0\0\0\0hello", WebSocketProtocolError, 1002),  # masked server frame
    ],
)
def test_violations_raise_project_errors_with_close_code(data: bytes, error: type, code: int) -> None:
    got, dec = decode_all(b"".join([server_frame(1, b"before"), data]))
    assert got[0] == (Opcode.TEXT, True, b"before")  # frames before the violation survive
    assert isinstance(dec.error, error)
    assert dec.error.close_code == code


def test_invalid_utf8_fails_fast_inside_a_frame_still_arriving() -> None:
    bad = server_frame(1, b"valid start " + b"\xff" + b"x" * 1000)
    dec = Decoder()
    dec.feed(bad[:20])  # the frame is far from complete, but the bad byte is already here
    assert dec.decode() == [] and isinstance(dec.error, InvalidUtf8)
    # a valid multi-byte character split across reads is fine, in a frame and across fragments
    good = server_frame(1, "ab✓".encode(), fin=False) + server_frame(0, "✓cd".encode() * 50)
    for cut in range(1, len(good)):
        dec = Decoder()
        dec.feed(good[:cut])
        dec.decode()
        dec.feed(good[cut:])
        frames = [f.text() for f in dec.decode()]
        assert dec.error is None and frames == ["ab✓" + "✓cd" * 50], cut


def test_limits_on_by_default_and_configurable() -> None:
    dec = Decoder()
    assert dec.max_frame_size == 16 * 1024 * 1024 and dec.max_message_size == 16 * 1024 * 1024
    # the header alone is enough to refuse a too-big frame: no waiting for its bytes
    dec.feed(bytes([0x82, 127]) + struct.pack("!Q", 16 * 1024 * 1024 + 1))
    dec.decode()
    assert isinstance(dec.error, MessageTooBig) and dec.error.close_code == 1009
    _got, dec = decode_all(server_frame(2, b"a" * 10, fin=False) + server_frame(0, b"b" * 10), max_message_size=15)
    assert isinstance(dec.error, MessageTooBig)


def test_big_frame_grows_buffer_and_shrinks_back() -> None:
    dec = Decoder(buffer_size=128 * 1024)
    payload = b"z" * (3 * 1024 * 1024)
    got, dec = decode_all(server_frame(2, payload) + server_frame(1, b"small"), 65536, buffer_size=128 * 1024)
    assert got[0][2] == payload and got[1][2] == b"small"
    dec.write_view()
    assert len(dec._buf) <= 4 * 128 * 1024


def test_mask_roundtrip_and_encoder_layout() -> None:
    key = b"\x01\x02\x03\x04"
    data = bytes(range(256)) * 5
    masked = mask_payload(data, key)
    assert masked != data and mask_payload(masked, key) == data
    assert bytes(b ^ key[i % 4] for i, b in enumerate(data[:9])) == masked[:9]
    frame = encode_frame(Opcode.TEXT, b"abc", True, key)
    assert frame[:2] == bytes([0x81, 0x83]) and frame[2:6] == key and mask_payload(frame[6:], key) == b"abc"
    assert encode_frame(Opcode.BINARY, b"x" * 70000)[:2] == bytes([0x82, 127])
    # the decoder, set up like a server, reads what the encoder writes
    dec = Decoder(allow_masked=True)
    dec.feed(frame + encode_frame(Opcode.BINARY, data, False, key) + encode_frame(Opcode.CONTINUATION, b"!", True, key))
    got = [(f.opcode, bytes(f.payload)) for f in dec.decode()]
    assert got == [(Opcode.TEXT, b"abc"), (Opcode.BINARY, data + b"!")]


# --- handshake -----------------------------------------------------------------------------------


def response(key: str, status: str = "101 Switching Protocols", extra: str = "", accept: str | None = None) -> bytes:
    accept = accept_for(key) if accept is None else accept
    return (
        f"HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode()


def test_accept_matches_rfc_example() -> None:
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_url_parsing() -> None:
    u = parse_ws_url("wss://Stream.Binance.com:9443/stream?streams=a/b")
    assert isinstance(u, Url)  # the one URL type
    assert (u.secure, u.host, u.port, u.target, u.host_header) == (
        True, "stream.binance.com", 9443, "/stream?streams=a/b", "stream.binance.com:9443")
    assert parse_ws_url("ws://[::1]/").host_header == "[::1]"
    for bad in ("http://x/", "ws://x/#frag", "ws:///path", "ws://x/a b"):
        with pytest.raises(InvalidUrl):
            parse_ws_url(bad)
    with pytest.raises(InvalidUrl):  # the client refuses it at construction, before any I/O
        WebSocket(MemoryStream([]), "https://x/")


def test_response_validation() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert parse_response(response(key)[:-2], key) is None  # incomplete
    _resp, n = parse_response(response(key) + b"\x81\x00", key)
    assert n == len(response(key))
    with pytest.raises(HandshakeError) as e:
        parse_response(b"HTTP/1.1 403 Forbidden\r\nX-Why: no\r\n\r\nbody", key)
    assert e.value.status == 403 and ("X-Why", "no") in e.value.headers and e.value.body == b"body"
    with pytest.raises(HandshakeError):
        parse_response(response(key, accept="AAAA"), key)
    with pytest.raises(HandshakeError):
        parse_response(response(key, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"), key)
    with pytest.raises(HandshakeError):
        parse_response(response(key, extra="Sec-WebSocket-Protocol: chat\r\n"), key, ())
    assert parse_response(response(key, extra="Sec-WebSocket-Protocol: chat\r\n"), key, ("chat",))[0].subprotocol == "chat"
    with pytest.raises(HandshakeError):
        parse_response(b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 20000, key)  # head too large


# --- the client over an in-memory stream ---------------------------------------------------------


class MemoryStream(Stream):
    """Reads come from a script of chunks (``b''`` = nothing available now); writes are collected."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = list(chunks)
        self.written = bytearray()
        self.pending = 0
        self.is_closed = False

    def recv_into(self, buf) -> int:
        if not self.chunks:
            raise ConnectionClosed("end of script")
        chunk = self.chunks.pop(0)
        n = min(len(chunk), len(buf))
        buf[:n] = chunk[:n]
        if n < len(chunk):
            self.chunks.insert(0, chunk[n:])
        return n

    def write(self, data) -> None:
        self.written += data

    def flush(self) -> bool:
        return True

    def close(self) -> None:
        self.is_closed = True


def open_client(chunks_after_handshake: list[bytes], first_with_response: bytes = b"", **opts):
    stream = MemoryStream([])
    ws = WebSocket(stream, "ws://example.test/feed", **opts)
    stream.chunks = [b"", response(ws._key) + first_with_response, *chunks_after_handshake]
    assert ws.establish() is False  # nothing yet
    assert ws.establish() is True
    assert stream.written.startswith(b"GET /feed HTTP/1.1\r\nHost: example.test\r\n")
    stream.written.clear()
    return ws, stream


def client_frames(written: bytes) -> list[tuple[int, bytes]]:
    dec = Decoder(allow_masked=True)
    dec.feed(written)
    return [(f.opcode, bytes(f.payload)) for f in dec.decode()]


def test_frames_arriving_with_the_handshake_response_are_not_lost() -> None:
    ws, _ = open_client([], first_with_response=server_frame(1, b"early"))
    assert ws.buffered() > 0
    assert [f.text() for f in ws.read_batch()] == ["early"]


def test_client_pongs_echoes_close_and_reports_closed() -> None:
    close = server_frame(8, struct.pack("!H", 1001) + b"going")
    ws, stream = open_client([server_frame(9, b"hb") + server_frame(1, b"m1"), b"", close])
    assert [(f.opcode, f.bytes()) for f in ws.read_batch()] == [(Opcode.PING, b"hb"), (Opcode.TEXT, b"m1")]
    assert client_frames(stream.written) == [(Opcode.PONG, b"hb")]
    assert ws.read_batch() == []
    stream.written.clear()
    assert [f.opcode for f in ws.read_batch()] == [Opcode.CLOSE]
    assert client_frames(stream.written) == [(Opcode.CLOSE, struct.pack("!H", 1001))]
    assert ws.closed and stream.is_closed and ws.close_code == 1001 and ws.close_reason == "going"
    with pytest.raises(WebSocketClosed):
        ws.read_batch()


def test_client_fails_with_1002_after_delivering_earlier_frames() -> None:
    ws, stream = open_client([server_frame(1, b"good") + server_frame(5, b"bad")])
    assert [f.text() for f in ws.read_batch()] == ["good"]
    # the failure waits for the next call, so the application may still answer "good"
    assert stream.written == b"" and not ws.closed
    ws.send_text("reply to good")
    with pytest.raises(WebSocketProtocolError) as e:
        ws.read_batch()
    assert e.value.close_code == 1002
    assert client_frames(stream.written) == [(Opcode.TEXT, b"reply to good"), (Opcode.CLOSE, struct.pack("!H", 1002))]
    assert ws.closed and stream.is_closed
    with pytest.raises(WebSocketProtocolError):
        ws.read_batch()


def test_violation_alone_in_its_batch_fails_at_once() -> None:
    ws, stream = open_client([server_frame(5, b"bad")])
    with pytest.raises(WebSocketProtocolError):
        ws.read_batch()
    assert client_frames(stream.written) == [(Opcode.CLOSE, struct.pack("!H", 1002))]
    assert ws.closed and stream.is_closed


def test_close_batched_with_data_is_answered_on_next_call() -> None:
    ws, stream = open_client([server_frame(1, b"last") + server_frame(8, struct.pack("!H", 1000))])
    assert [f.opcode for f in ws.read_batch()] == [Opcode.TEXT, Opcode.CLOSE]
    assert ws.buffered() > 0  # tells a readiness selector to call read_batch again
    ws.send_text("echo last")
    with pytest.raises(WebSocketClosed):
        ws.read_batch()
    assert client_frames(stream.written) == [(Opcode.TEXT, b"echo last"), (Opcode.CLOSE, struct.pack("!H", 1000))]
    assert ws.closed and ws.close_code == 1000


def test_close_timeout_when_peer_never_answers() -> None:
    now = [0.0]
    ws, stream = open_client([b""] * 5, clock=lambda: now[0], close_timeout=2.0)
    ws.close()
    assert ws.read_batch() == [] and not ws.closed
    assert ws.buffered() > 0  # keeps itself polled while the close is unanswered
    now[0] = 3.0
    assert ws.read_batch() == [] and ws.closed and stream.is_closed


def test_client_sends_masked_and_fragments() -> None:
    ws, stream = open_client([])
    ws.send_text("héllo")
    ws.send_binary(b"ab", fin=False)
    ws.send_binary(b"cd", fin=True)
    ws.send_ping(b"p")
    assert all(b & 0x80 for b in stream.written[1:2])  # mask bit set
    assert client_frames(stream.written) == [
        (Opcode.TEXT, "héllo".encode()), (Opcode.BINARY, b"abcd"), (Opcode.PING, b"p")]
    with pytest.raises(ValueError):
        ws.send_ping(b"x" * 126)


def test_client_initiated_close_waits_for_peer() -> None:
    ws, stream = open_client([b"", server_frame(8, struct.pack("!H", 1000))])
    ws.close(1000, "done")
    assert client_frames(stream.written) == [(Opcode.CLOSE, struct.pack("!H", 1000) + b"done")]
    assert not ws.closed and not ws.open
    with pytest.raises(WebSocketClosed):
        ws.send_text("late")
    assert ws.read_batch() == []
    assert [f.opcode for f in ws.read_batch()] == [Opcode.CLOSE]
    assert ws.closed and stream.is_closed


def test_eof_without_close_is_connection_closed() -> None:
    ws, _ = open_client([server_frame(1, b"a")])
    assert len(ws.read_batch()) == 1
    with pytest.raises(ConnectionClosed):
        ws.read_batch()
    assert ws.closed and ws.close_code == 1006


def test_refused_upgrade_raises_handshake_error_with_status() -> None:
    stream = MemoryStream([b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n"])
    ws = WebSocket(stream, "ws://example.test/")
    with pytest.raises(HandshakeError) as e:
        ws.establish()
    assert e.value.status == 429 and ("Retry-After", "5") in e.value.headers
    assert stream.is_closed and ws.closed


def test_handshake_deadline() -> None:
    now = [0.0]
    stream = MemoryStream([b""] * 10)
    ws = WebSocket(stream, "ws://example.test/", handshake_timeout=1.0, clock=lambda: now[0])
    assert ws.establish() is False
    now[0] = 2.0
    from boomnet.errors import ConnectTimeout
    with pytest.raises(ConnectTimeout):
        ws.establish()



@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_c_utf8_validator_matches_python_on_random_bytes(data: bytes) -> None:
    speedups = pytest.importorskip("boomnet.ws._speedups")
    try:
        data.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    assert speedups.utf8_valid(data) is ok
