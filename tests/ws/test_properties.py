"""Property tests of the WebSocket client's framing (hypothesis), over the C and pure-Python paths.

Every property compares *meaning*, not only "no crash": the client's outcome over any split of a
byte stream (frames delivered, then how it ended: EOF, the peer's close with its code, or a
failure with a close code) must equal the verdict of an independent reference parser written
below from RFC 6455 (``reference_verdict``), which shares no code with ``boomnet.ws``.

* Any valid server frame sequence (boundary lengths, fragmentation with interleaved control
  frames, an optional close), cut into arbitrary reads (with empty reads between).
* Invalid streams: random bytes, valid streams with bytes flipped, and "frame soup" (reserved
  opcodes and bits, masked or fragmented controls, bad close codes, bad UTF-8, limits crossed,
  frames truncated at EOF) — same frames before the violation, same close code.
* Whatever the client sends decodes (reference parser and boomnet's Decoder, any split) back to it.
"""

from __future__ import annotations

import codecs
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

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
from .drive import skip_without_c_path

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
    if request.param == "c":
        skip_without_c_path()
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
    parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=False)]
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


# --- the independent reference: RFC 6455 §5 and §7.4, written for this test ---------------------------

#: close codes a peer may send (§7.4.1 defined ones except 1004/1005/1006/1015; 3000-4999)
REF_CLOSE_CODES = frozenset([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, *range(3000, 5000)])
REF_CONTROL = (0x8, 0x9, 0xA)


def reference_verdict(data: bytes, *, assemble: bool = True, max_frame: int = 16 << 20,
                      max_message: int = 16 << 20) -> tuple[list[tuple[Opcode, bool, bytes]], tuple]:
    """What an RFC 6455 client must make of ``data`` (the server's bytes after the 101): the
    frames/messages it delivers, then ``("eof",)``, ``("close", code, reason)`` or
    ``("fail", code)``. Violations count when their frame is complete, except three a client
    may (and boomnet does) act on early: a masked frame and a length over the limits (from the
    header), and invalid UTF-8 already inside a text frame that has not fully arrived (§8.1)."""
    events: list[tuple[Opcode, bool, bytes]] = []
    pos = 0
    message_op = 0  # 1 or 2 while a fragmented message is open
    message_parts: list[bytes] = []
    message_size = 0
    text_check = None  # incremental UTF-8 state of the open text message
    while True:
        if len(data) - pos < 2:
            return events, ("eof",)
        first, second = data[pos], data[pos + 1]
        fin, rsv, op = bool(first & 0x80), (first >> 4) & 7, first & 0xF
        masked, size = bool(second & 0x80), second & 0x7F
        header = 2
        if size == 126:
            if len(data) - pos < 4:
                return events, ("eof",)
            size, header = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif size == 127:
            if len(data) - pos < 10:
                return events, ("eof",)
            size, header = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        if masked:  # §5.1: a server must not mask
            return events, ("fail", 1002)
        if size >= 1 << 63:  # §5.2: the most significant bit must be 0
            return events, ("fail", 1002)
        if size > max_frame or size > max_message:
            return events, ("fail", 1009)
        body = pos + header
        if body + size > len(data):  # truncated at EOF
            arrived = data[body:]
            # a new text frame inside an open message is a violation (counted when complete),
            # not a text frame to check early
            if rsv == 0 and ((op == 1 and not message_op) or (op == 0 and message_op == 1)):
                checker = codecs.getincrementaldecoder("utf-8")()
                if op == 0 and text_check is not None:
                    checker.setstate(text_check.getstate())
                try:
                    checker.decode(arrived, False)
                except UnicodeDecodeError:
                    return events, ("fail", 1007)
            return events, ("eof",)
        payload = data[body : body + size]
        pos = body + size
        if rsv:  # no extension negotiated
            return events, ("fail", 1002)
        if op >= 8:
            if op not in REF_CONTROL or not fin or size > 125:
                return events, ("fail", 1002)
            if op == 0x8:
                if size == 1:
                    return events, ("fail", 1002)
                code, reason = None, ""
                if size >= 2:
                    code = int.from_bytes(payload[:2], "big")
                    if code not in REF_CLOSE_CODES:
                        return events, ("fail", 1002)
                    try:
                        reason = payload[2:].decode("utf-8")
                    except UnicodeDecodeError:
                        return events, ("fail", 1007)
                events.append((Opcode.CLOSE, True, payload))
                return events, ("close", 1005 if code is None else code, reason)
            events.append((Opcode(op), True, payload))
            continue
        if op not in (0, 1, 2):
            return events, ("fail", 1002)
        if op == 0:
            if not message_op:
                return events, ("fail", 1002)
            message_size += size
            if message_size > max_message:
                return events, ("fail", 1009)
        else:
            if message_op:
                return events, ("fail", 1002)
            message_op, message_parts, message_size = op, [], size
            text_check = codecs.getincrementaldecoder("utf-8")() if op == 1 else None
        if text_check is not None:
            try:
                text_check.decode(payload, fin)
            except UnicodeDecodeError:
                return events, ("fail", 1007)
        if assemble:
            message_parts.append(payload)
            if fin:
                events.append((Opcode(message_op), True, b"".join(message_parts)))
        else:
            events.append((Opcode(op), fin, payload))
        if fin:
            message_op, text_check = 0, None


def client_verdict(out: Outcome) -> tuple:
    """The client's outcome in the reference's terms."""
    error = out.error
    if isinstance(error, WebSocketClosed):
        return ("close", out.ws.close_code, out.ws.close_reason)
    if isinstance(error, WebSocketProtocolError):
        return ("fail", error.close_code)
    if type(error) is ConnectionClosed:
        return ("eof",)
    return ("unexpected", repr(error))


def assert_same_verdict(body: bytes, data, **limits) -> Outcome:
    """Run the client over ``body`` (after a valid 101) cut anywhere; require the reference's verdict."""
    assemble = limits.pop("assemble", True)
    stream_bytes = RESPONSE_TEMPLATE + body
    cuts, idle = cut_points(data, len(stream_bytes))
    opts = {}
    if "max_frame" in limits:
        opts = {"max_frame_size": limits["max_frame"], "max_message_size": limits["max_message"]}
    out = run_client(stream_bytes, cuts, idle, assemble=assemble, **opts)
    expected_events, expected_end = reference_verdict(body, assemble=assemble, **limits)
    assert (out.frames, client_verdict(out)) == (expected_events, expected_end)
    assert out.ws.closed and out.stream.is_closed
    head_end = out.stream.written.index(b"\r\n\r\n") + 4
    replies, _rest = wire.parse(bytes(out.stream.written[head_end:]))
    closes = [f.payload for f in replies if f.opcode == wire.CLOSE]
    if expected_end[0] == "fail":  # the failure was announced with its code (§7.1.7)
        assert closes == [expected_end[1].to_bytes(2, "big")]
    elif expected_end[0] == "close":
        assert len(closes) == 1 and closes[0] == (b"" if expected_end[1] == 1005 else expected_end[1].to_bytes(2, "big"))
    else:
        assert closes == []
    return out


def _soup_close(draw) -> bytes:
    code = draw(st.one_of(st.sampled_from([1000, 1005, 1006, 1004, 999, 1016, 2999, 3000, 4999, 5000, 1015]),
                          st.integers(0, 65535)))
    reason = draw(st.one_of(st.text(max_size=20).map(str.encode), st.binary(max_size=6)))
    return draw(st.sampled_from([b"", b"\x03", code.to_bytes(2, "big") + reason, code.to_bytes(2, "big") + reason]))


@st.composite
def frame_soup(draw) -> tuple[bytes, dict]:
    """Frames with any header fields (mostly plausible, often invalid), often ending in a close
    with any code and reason, and the limits to apply."""
    out = []
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 2, 2, 3, 8, 9, 9, 10, 10, 11]))
        fin = draw(st.booleans()) if op < 8 else draw(st.sampled_from([True] * 7 + [False]))
        rsv = draw(st.sampled_from([0] * 20 + [1, 2, 4, 7]))
        if op == 8:
            payload = _soup_close(draw)
        elif op == 1 or op == 0:
            payload = draw(st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=40),
                                     st.sampled_from([b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", "✓".encode()[:2]])))
        else:
            payload = draw(st.one_of(st.binary(max_size=40), st.binary(min_size=120, max_size=140)))
        mask_key = b"\x01\x02\x03\x04" if draw(st.integers(0, 20)) == 0 else None
        out.append(wire.frame(op, payload, fin=fin, mask_key=mask_key, rsv=rsv))
    if draw(st.booleans()):
        out.append(wire.frame(wire.CLOSE, _soup_close(draw)))
    body = b"".join(out)
    if draw(st.integers(0, 3)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # truncated at EOF
    limits = draw(st.sampled_from([{}, {}, {"max_frame": 30, "max_message": 60}, {"max_frame": 200, "max_message": 25}]))
    return body, limits


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
def test_random_bytes_after_the_handshake_get_the_reference_verdict(garbage: bytes, data) -> None:
    assert_same_verdict(garbage, data)


@SETTINGS
@given(session=sessions(), flips=st.lists(st.tuples(st.integers(0), st.integers(1, 255)), min_size=1, max_size=4),
       assemble=st.booleans(), data=st.data())
def test_corrupted_traffic_gets_the_reference_verdict(session, flips, assemble: bool, data) -> None:
    body = bytearray(session[0] or b"\x81\x00")
    for at, xor in flips:
        body[at % len(body)] ^= xor
    assert_same_verdict(bytes(body), data, assemble=assemble, max_frame=1 << 20, max_message=1 << 20)


@settings(SETTINGS, max_examples=300)
@given(soup=frame_soup(), assemble=st.booleans(), data=st.data())
def test_frame_soup_gets_the_reference_verdict(soup, assemble: bool, data) -> None:
    body, limits = soup
    if limits:
        assert_same_verdict(body, data, assemble=assemble, **limits)
    else:
        assert_same_verdict(body, data, assemble=assemble)


@SETTINGS
@given(session=sessions(), assemble=st.booleans(), data=st.data())
def test_valid_traffic_gets_the_reference_verdict(session, assemble: bool, data) -> None:
    out = assert_same_verdict(session[0], data, assemble=assemble)
    assert client_verdict(out)[0] in ("eof", "close")  # the generator only makes valid traffic


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
    for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=False):
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
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips, strict=False))


@st.composite
def response_variants(draw) -> bytes:
    """Valid 101 responses: any header-name/token casing, optional whitespace, extra headers,
    any header order, other Connection tokens; the accept value is filled in later."""
    ows = st.sampled_from(["", " ", "  ", "\t"])
    headers = [
        f"{_casing(draw, 'Upgrade')}:{draw(ows)}{_casing(draw, 'websocket')}{draw(ows)}",
        f"{_casing(draw, 'Connection')}:{draw(ows)}"
        + ", ".join(draw(st.permutations([_casing(draw, "Upgrade"), *draw(st.sampled_from([[], ["keep-alive"]]))]))),
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
