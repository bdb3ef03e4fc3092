"""Property tests of the WebSocket client's framing (hypothesis), over the C and pure-Python paths.

* Any valid server frame sequence (boundary lengths, fragmentation with interleaved control
  frames, an optional close), cut into arbitrary reads (with empty reads between), decodes to
  exactly what a reference decoder says — handshake response included in the cut byte stream.
* Garbage (random bytes, or a valid stream with bytes flipped) ends only in boomnet's own errors
  and never hangs.
* Whatever the client sends decodes (reference parser and boomnet's Decoder, any split) back to it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import (
    ConnectionClosed,
    HandshakeError,
    MessageTooBig,
    WebSocketClosed,
    WebSocketProtocolError,
)
from boomnet.stream.base import Stream
from boomnet.ws import Decoder, Opcode, WebSocket
from boomnet.ws.handshake import accept_for

from . import wire

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOUNDARY_LENGTHS = [0, 1, 124, 125, 126, 127, 65535, 65536, 65537]
ACCEPT_PLACEHOLDER = b"@" * 28  # same length as any Sec-WebSocket-Accept value
RESPONSE_TEMPLATE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT_PLACEHOLDER + b"\r\n\r\n"
)


@pytest.fixture(scope="module", params=["c", "pure"], autouse=True)
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every property over the C fast path (when built) and over pure Python."""
    import boomnet.ws.decoder as decoder_module
    import boomnet.ws.encoder as encoder_module

    saved = decoder_module._scan, encoder_module.mask_payload
    if request.param == "c" and decoder_module._scan is None:
        pytest.skip("C fast path not built")
    if request.param == "pure":
        decoder_module._scan = None
        encoder_module.mask_payload = encoder_module._mask_payload_py
    yield request.param
    decoder_module._scan, encoder_module.mask_payload = saved


# --- an in-memory server: the cut byte stream, handed out read by read ----------------------------


class CutStream(Stream):
    """Serves ``data`` (the server's bytes) in pieces ending at ``cuts``; ``idle`` pieces are
    preceded by one empty read. Answers the handshake: the accept placeholder is filled in once the
    request (with its key) has been written. Then EOF (``ConnectionClosed``)."""

    def __init__(self, data: bytes, cuts: list[int], idle: set[int]) -> None:
        self.data = bytearray(data)
        self.ends = sorted({c for c in cuts if 0 < c < len(data)} | {len(data)})
        self.idle = set(idle)
        self.piece = 0
        self.pos = 0
        self.written = bytearray()
        self.answered = False
        self.is_closed = False
        self.reads = 0

    def write(self, data) -> None:
        self.written += data
        if not self.answered and b"\r\n\r\n" in self.written:
            key = re.search(rb"Sec-WebSocket-Key: (\S+)", bytes(self.written)).group(1).decode()
            at = self.data.find(ACCEPT_PLACEHOLDER)
            if at >= 0:
                self.data[at : at + 28] = accept_for(key).encode()
            self.answered = True

    def flush(self) -> bool:
        return True

    def recv_into(self, buf) -> int:
        self.reads += 1
        if not self.answered:
            return 0
        if self.pos >= len(self.data):
            raise ConnectionClosed("end of the scripted stream")
        if self.piece in self.idle:
            self.idle.discard(self.piece)
            return 0
        end = self.ends[self.piece]
        n = min(end - self.pos, len(buf))
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        if self.pos == end:
            self.piece += 1
        return n

    def close(self) -> None:
        self.is_closed = True

    @property
    def closed(self) -> bool:
        return self.is_closed


@dataclass
class Outcome:
    frames: list[tuple[Opcode, bool, bytes]]
    error: BaseException | None  # what ended the reading (None: handshake never completed)
    stream: CutStream
    ws: WebSocket


def run_client(data: bytes, cuts: list[int], idle: set[int], **options) -> Outcome:
    """Handshake and read until the connection ends; every loop bounded (a hang is a failure)."""
    stream = CutStream(data, cuts, idle)
    ws = WebSocket(stream, "ws://peer.test/feed", **options)
    budget = len(stream.ends) + len(idle) + 10
    frames: list[tuple[Opcode, bool, bytes]] = []
    error: BaseException | None = None
    try:
        for _ in range(budget):
            if ws.establish():
                break
        else:
            raise AssertionError("handshake did not complete within the read budget")
        for _ in range(budget):
            frames.extend((f.opcode, f.fin, f.bytes()) for f in ws.read_batch())
        else:
            raise AssertionError(f"still reading after {budget} calls: a hang")
    except (ConnectionClosed, WebSocketProtocolError, HandshakeError) as exc:
        error = exc
    return Outcome(frames, error, stream, ws)


# --- generating valid server traffic --------------------------------------------------------------

_TEXT_BLOCK = ("aé✓😀 κόσμε-" * 9000).encode()


def text_payload(n: int, seed: int) -> bytes:
    """Valid UTF-8 of exactly ``n`` bytes with multi-byte characters."""
    start = seed % 40
    while _TEXT_BLOCK[start] & 0xC0 == 0x80:
        start += 1
    chunk = _TEXT_BLOCK[start : start + n]
    while chunk and len(chunk.decode("utf-8", "ignore").encode()) != len(chunk):
        chunk = chunk[:-1]  # drop a cut-off trailing character
    return chunk + b"a" * (n - len(chunk))


lengths = st.one_of(st.integers(0, 40), st.sampled_from(BOUNDARY_LENGTHS), st.integers(0, 600))
control = st.tuples(st.sampled_from([wire.PING, wire.PONG]), st.binary(max_size=125))


@st.composite
def messages(draw) -> tuple[list[bytes], list[tuple]]:
    """A data message as wire frames (fragments, controls between them) and the expected events."""
    opcode = draw(st.sampled_from([wire.TEXT, wire.BINARY]))
    n = draw(lengths)
    seed = draw(st.integers(0, 2**16))
    payload = text_payload(n, seed) if opcode == wire.TEXT else random.Random(seed).randbytes(n)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    parts = [payload[a:b] for a, b in zip([0] + cuts, cuts + [n])]
    frames: list[bytes] = []
    raw: list[tuple] = []  # (opcode, fin, payload) per wire frame, in order
    for i, part in enumerate(parts):
        if i:
            for c_op, c_payload in draw(st.lists(control, max_size=2)):
                frames.append(wire.frame(c_op, c_payload))
                raw.append((c_op, True, c_payload))
        fin = i == len(parts) - 1
        op = opcode if i == 0 else wire.CONT
        frames.append(wire.frame(op, part, fin=fin))
        raw.append((op, fin, part))
    return frames, raw


@st.composite
def sessions(draw):
    """(server bytes after the 101, raw wire frames in order, close payload or None)."""
    frames: list[bytes] = []
    raw: list[tuple] = []
    for item in draw(st.lists(st.one_of(messages(), control), max_size=6)):
        if isinstance(item[0], list):
            frames += item[0]
            raw += item[1]
        else:
            frames.append(wire.frame(*item))
            raw.append((item[0], True, item[1]))
    close = draw(st.one_of(
        st.none(),
        st.just(b""),
        st.tuples(st.sampled_from([1000, 1001, 1011, 3000, 4999]), st.text(max_size=30))
        .map(lambda cr: wire.close_payload(cr[0], cr[1][:30])),
    ))
    if close is not None:
        frames.append(wire.frame(wire.CLOSE, close))
        raw.append((wire.CLOSE, True, close))
        frames.append(draw(st.binary(max_size=20)))  # anything after the close is ignored
    return b"".join(frames), raw, close


def expected_events(raw: list[tuple], assemble: bool) -> list[tuple[Opcode, bool, bytes]]:
    """What the client should deliver, computed from the wire frames by the simplest means."""
    out: list[tuple[Opcode, bool, bytes]] = []
    op, parts = None, []
    for opcode, fin, payload in raw:
        if opcode >= 8 or not assemble:
            out.append((Opcode(opcode), fin, payload))
        else:
            if opcode != wire.CONT:
                op, parts = opcode, []
            parts.append(payload)
            if fin:
                out.append((Opcode(op), True, b"".join(parts)))
        if opcode == wire.CLOSE:
            break
    return out


def cut_points(data, total: int) -> tuple[list[int], set[int]]:
    cuts = data.draw(st.lists(st.integers(0, total), max_size=25), label="cuts")
    idle = set(data.draw(st.lists(st.integers(0, 30), max_size=6), label="idle reads"))
    return cuts, idle


# --- properties --------------------------------------------------------------------------------------


@SETTINGS
@given(session=sessions(), assemble=st.booleans(), data=st.data())
def test_any_split_of_valid_traffic_decodes_identically(session, assemble: bool, data) -> None:
    body, raw, close = session
    stream_bytes = RESPONSE_TEMPLATE + body
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle, assemble=assemble)

    assert out.frames == expected_events(raw, assemble)
    if close is None:
        assert type(out.error) is ConnectionClosed  # plain EOF, after every frame was delivered
        assert out.ws.close_code == 1006
    else:
        assert isinstance(out.error, WebSocketClosed)
        expected_code = int.from_bytes(close[:2], "big") if close else 1005
        assert out.ws.close_code == expected_code
    assert out.ws.closed and out.stream.is_closed

    # what the client wrote back: a pong per ping (same payload), then the close echo
    head_end = out.stream.written.index(b"\r\n\r\n") + 4
    replies, rest = wire.parse(bytes(out.stream.written[head_end:]))
    assert rest == b"" and all(f.masked for f in replies)
    pings = [p for op, _, p in expected_events(raw, True) if op == Opcode.PING]
    assert [f.payload for f in replies if f.opcode == wire.PONG] == pings
    closes = [f.payload for f in replies if f.opcode == wire.CLOSE]
    assert closes == ([] if close is None else [close[:2]])


@SETTINGS
@given(garbage=st.binary(max_size=400), data=st.data())
def test_random_bytes_after_the_handshake_end_in_boomnet_errors(garbage: bytes, data) -> None:
    stream_bytes = RESPONSE_TEMPLATE + garbage
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle)
    assert isinstance(out.error, (ConnectionClosed, WebSocketProtocolError))
    assert out.ws.closed


@SETTINGS
@given(session=sessions(), flips=st.lists(st.tuples(st.integers(0), st.integers(1, 255)), min_size=1, max_size=4),
       assemble=st.booleans(), data=st.data())
def test_corrupted_traffic_ends_in_boomnet_errors(session, flips, assemble: bool, data) -> None:
    body = bytearray(session[0] or b"\x81\x00")
    for at, xor in flips:
        body[at % len(body)] ^= xor
    stream_bytes = RESPONSE_TEMPLATE + bytes(body)
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle, assemble=assemble, max_frame_size=1 << 20,
                     max_message_size=1 << 20)
    assert isinstance(out.error, (ConnectionClosed, WebSocketProtocolError))
    if isinstance(out.error, WebSocketProtocolError):
        assert out.error.close_code in (1002, 1007, 1009)
    assert out.ws.closed


@SETTINGS
@given(garbage=st.binary(max_size=300), data=st.data())
def test_garbage_instead_of_a_handshake_response(garbage: bytes, data) -> None:
    cuts, idle = cut_points(data, len(garbage))
    out = run_client(garbage or b"\r\n\r\n", cuts, idle)
    assert isinstance(out.error, HandshakeError)
    assert out.ws.closed and out.stream.is_closed


# --- the client's own frames ------------------------------------------------------------------------

sends = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.lists(st.text(max_size=50), min_size=1, max_size=3)),
        st.tuples(st.just("binary"), st.lists(st.binary(max_size=300), min_size=1, max_size=3)),
        st.tuples(st.just("sized"), st.lists(st.sampled_from(BOUNDARY_LENGTHS), min_size=1, max_size=2)),
        st.tuples(st.just("ping"), st.binary(max_size=125)),
    ),
    max_size=6,
)


@SETTINGS
@given(plan=sends, close=st.tuples(st.sampled_from([1000, 1001, 4000]), st.text(max_size=20)), data=st.data())
def test_client_frames_decode_back_for_any_split(plan, close, data) -> None:
    stream = CutStream(RESPONSE_TEMPLATE, [], set())
    ws = WebSocket(stream, "ws://peer.test/")
    for _ in range(5):
        if ws.establish():
            break
    assert ws.open
    head_end = stream.written.index(b"\r\n\r\n") + 4
    expected: list[tuple[int, bytes]] = []  # whole messages / control frames, in order
    wire_expected: list[tuple[int, bool, bytes]] = []
    for kind, value in plan:
        if kind == "ping":
            ws.send_ping(value)
            expected.append((wire.PING, value))
            wire_expected.append((wire.PING, True, value))
            continue
        parts = [p.encode() for p in value] if kind == "text" else (
            [random.Random(n).randbytes(n) for n in value] if kind == "sized" else value)
        send = ws.send_text if kind == "text" else ws.send_binary
        for i, part in enumerate(parts):
            send(part, fin=i == len(parts) - 1)
            op = (wire.TEXT if kind == "text" else wire.BINARY) if i == 0 else wire.CONT
            wire_expected.append((op, i == len(parts) - 1, part))
        expected.append((wire.TEXT if kind == "text" else wire.BINARY, b"".join(parts)))
    reason = close[1].encode()[:100].decode("utf-8", "ignore")
    ws.close(close[0], reason)
    expected.append((wire.CLOSE, wire.close_payload(close[0], reason)))
    wire_expected.append((wire.CLOSE, True, wire.close_payload(close[0], reason)))
    sent = bytes(stream.written[head_end:])

    # 1. the reference parser: every frame masked, fresh key, exact opcodes/fins/payloads
    frames, rest = wire.parse(sent)
    assert rest == b""
    assert [(f.opcode, f.fin, f.payload) for f in frames] == wire_expected
    assert all(f.masked and f.rsv == 0 for f in frames)

    # 2. boomnet's own decoder, server-side settings, fed in arbitrary pieces
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(sent) - 1)), max_size=20))))
    dec = Decoder(allow_masked=True, assemble=True)
    got: list[tuple[int, bytes]] = []
    for a, b in zip([0] + cuts, cuts + [len(sent)]):
        dec.feed(sent[a:b])
        got.extend((int(f.opcode), f.bytes()) for f in dec.decode())
        assert dec.error is None
    assert got == expected


# --- limits, UTF-8 switch, close codes --------------------------------------------------------------


@SETTINGS
@given(limit=st.integers(1, 70000), extra=st.integers(0, 2), fragments=st.integers(1, 3), data=st.data())
def test_size_limits_are_exact(limit: int, extra: int, fragments: int, data) -> None:
    """A message of exactly ``max_message_size`` (or a frame of ``max_frame_size``) passes; one
    byte more fails with MessageTooBig (1009) — whichever way the bytes are cut."""
    size = limit + extra
    payload = bytes(size)
    step = -(-size // fragments) or 1
    parts = [payload[i : i + step] for i in range(0, size, step)] or [b""]
    body = b"".join(wire.frame(wire.BINARY if i == 0 else wire.CONT, p, fin=i == len(parts) - 1)
                    for i, p in enumerate(parts))
    stream_bytes = RESPONSE_TEMPLATE + body
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle, max_frame_size=limit, max_message_size=limit)
    if extra == 0:
        assert out.frames == [(Opcode.BINARY, True, payload)] and type(out.error) is ConnectionClosed
    else:
        assert out.frames == [] and isinstance(out.error, MessageTooBig) and out.error.close_code == 1009


@SETTINGS
@given(junk=st.binary(min_size=1, max_size=40), data=st.data())
def test_utf8_validation_can_be_switched_off(junk: bytes, data) -> None:
    body = wire.frame(wire.TEXT, junk) + wire.frame(wire.TEXT, junk[:1], fin=False) + wire.frame(wire.CONT, junk[1:])
    stream_bytes = RESPONSE_TEMPLATE + body
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle, validate_utf8=False)
    assert out.frames == [(Opcode.TEXT, True, junk)] * 2 and type(out.error) is ConnectionClosed


def _close_code_allowed(code: int) -> bool:  # RFC 6455 §7.4 and the IANA registry, spelled out
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or 3000 <= code <= 4999


@SETTINGS
@given(code=st.one_of(st.integers(0, 65535), st.integers(995, 1020), st.integers(2995, 3005), st.integers(4995, 5005)),
       data=st.data())
def test_close_codes_accepted_or_refused_per_rfc(code: int, data) -> None:
    stream_bytes = RESPONSE_TEMPLATE + wire.frame(wire.CLOSE, wire.close_payload(code, "r"))
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle)
    head_end = out.stream.written.index(b"\r\n\r\n") + 4
    replies, _ = wire.parse(bytes(out.stream.written[head_end:]))
    if _close_code_allowed(code):
        assert isinstance(out.error, WebSocketClosed) and out.ws.close_code == code
        assert [(f.opcode, f.payload) for f in replies] == [(wire.CLOSE, code.to_bytes(2, "big"))]
    else:
        assert type(out.error) is WebSocketProtocolError and out.error.close_code == 1002
        assert [(f.opcode, f.payload) for f in replies] == [(wire.CLOSE, (1002).to_bytes(2, "big"))]


# --- the handshake response, in the many spellings servers use ---------------------------------------


def _casing(draw, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips))


@st.composite
def response_variants(draw) -> bytes:
    """Valid 101 responses: any header-name/token casing, optional whitespace, extra headers,
    any header order, other Connection tokens; the accept value is filled in later."""
    ows = st.sampled_from(["", " ", "  ", "\t"])
    headers = [
        f"{_casing(draw, 'Upgrade')}:{draw(ows)}{_casing(draw, 'websocket')}{draw(ows)}",
        f"{_casing(draw, 'Connection')}:{draw(ows)}"
        + ", ".join(draw(st.permutations([_casing(draw, "Upgrade")] + draw(st.sampled_from([[], ["keep-alive"]]))))),
        f"{_casing(draw, 'Sec-WebSocket-Accept')}:{draw(ows)}{ACCEPT_PLACEHOLDER.decode()}{draw(ows)}",
    ]
    headers += draw(st.lists(st.sampled_from(["Server: test/1.0", "Date: Mon, 01 Jan 2024 00:00:00 GMT",
                                              "X-Empty:", "Set-Cookie: a=b; Path=/"]), max_size=3))
    headers = draw(st.permutations(headers))
    status = draw(st.sampled_from(["HTTP/1.1 101 Switching Protocols", "HTTP/1.1 101 ", "HTTP/1.1 101",
                                   "HTTP/1.1 101 Web Socket Protocol Handshake"]))
    return ("\r\n".join([status, *headers]) + "\r\n\r\n").encode()


@settings(SETTINGS, max_examples=60)
@given(response=response_variants(), data=st.data())
def test_valid_handshake_spellings_are_accepted(response: bytes, data) -> None:
    stream_bytes = response + wire.frame(wire.TEXT, b"hello")
    cuts, idle = cut_points(data, len(stream_bytes))
    out = run_client(stream_bytes, cuts, idle)
    assert out.frames == [(Opcode.TEXT, True, b"hello")]
    assert type(out.error) is ConnectionClosed
