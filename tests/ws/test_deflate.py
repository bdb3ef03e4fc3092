"""permessage-deflate (RFC 7692), receive side: unit tests on independently compressed bytes, and
interop with servers that compress (websockets, aiohttp) — the kosoku fuzzing server's 12.*/13.*
cases cannot judge it (they fail inside the server, see README)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from boomnet.errors import HandshakeError, MessageTooBig, WebSocketProtocolError
from boomnet.ws import Decoder, Opcode, connect
from boomnet.ws.deflate import DeflateParams, Inflater, parse_response_extensions

MiB = 1024 * 1024


def deflate_message(data: bytes, compressor: Any = None) -> bytes:
    """RFC 7692 §7.2.1 with zlib directly (independent of boomnet): raw deflate, sync flush,
    the 00 00 ff ff tail removed."""
    c = compressor or zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def frame(b0: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([b0, n]) + payload
    if n < 65536:
        return bytes([b0, 126]) + n.to_bytes(2, "big") + payload
    return bytes([b0, 127]) + n.to_bytes(8, "big") + payload


def decoder(no_context_takeover: bool = False, **opts: Any) -> Decoder:
    dec = Decoder(**opts)
    dec.inflater = Inflater(DeflateParams(server_no_context_takeover=no_context_takeover))
    return dec


# --- negotiation --------------------------------------------------------------------------------


def test_response_parameters_parsed_and_checked() -> None:
    assert parse_response_extensions(None, True) is None
    p = parse_response_extensions('permessage-deflate; server_no_context_takeover; client_max_window_bits="10"', True)
    assert p == DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    for bad in (
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; mystery=1",
        "x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
    ):
        with pytest.raises(HandshakeError):
            parse_response_extensions(bad, True)
    with pytest.raises(HandshakeError):
        parse_response_extensions("permessage-deflate", False)  # not offered


# --- decoding independently compressed frames ---------------------------------------------------


@pytest.mark.parametrize("takeover", [True, False])
def test_compressed_messages_inflate_with_and_without_context_takeover(takeover: bool) -> None:
    c = zlib.compressobj(wbits=-15) if takeover else None
    messages = [b'{"e":"trade","p":"1.0"}' * 20, "κόσμε ✓".encode() * 50, b"", b'{"e":"trade","p":"1.0"}' * 20]
    wire = b"".join(frame(0xC1, deflate_message(m, c)) for m in messages)
    wire += frame(0x81, b"plain text") + frame(0xC2, deflate_message(b"\x00\x01" * 1000, c))
    for step in (len(wire), 7, 1):
        dec = decoder(no_context_takeover=not takeover)
        got = []
        for i in range(0, len(wire), step):
            dec.feed(wire[i : i + step])
            got += [(f.opcode, f.bytes()) for f in dec.decode()]
        assert dec.error is None
        assert got == [(Opcode.TEXT, m) for m in messages] + [(Opcode.TEXT, b"plain text"), (Opcode.BINARY, b"\x00\x01" * 1000)]


def test_fragmented_compressed_message_with_control_frame_between() -> None:
    body = b"abc" * 5000
    compressed = deflate_message(body)
    third = len(compressed) // 3
    wire = (
        frame(0x41, compressed[:third])  # RSV1 on the first fragment only
        + frame(0x89, b"hb")
        + frame(0x00, compressed[third : 2 * third])
        + frame(0x80, compressed[2 * third :])
    )
    for assemble in (True, False):
        dec = decoder(assemble=assemble)
        dec.feed(wire)
        frames = [(f.opcode, f.fin, f.bytes()) for f in dec.decode()]
        assert dec.error is None
        if assemble:
            assert frames == [(Opcode.PING, True, b"hb"), (Opcode.TEXT, True, body)]
        else:
            assert b"".join(p for op, _, p in frames if op is not Opcode.PING) == body
            assert frames[-1][1] is True


@pytest.mark.parametrize(
    "wire, error",
    [
        (frame(0xC1, deflate_message(b"x")), WebSocketProtocolError),  # no inflater: RSV1 unexpected
        (frame(0x41, b"") + frame(0x40 | 0x80, b""), WebSocketProtocolError),  # RSV1 on a continuation
        (frame(0xC9, b""), WebSocketProtocolError),  # RSV1 on a control frame
        (frame(0xE1, deflate_message(b"x")), WebSocketProtocolError),  # RSV2 too
    ],
)
def test_rsv1_misuse_is_a_protocol_error(wire: bytes, error: type) -> None:
    dec = Decoder() if wire.startswith(b"\xc1") else decoder()
    dec.feed(wire)
    dec.decode()
    assert isinstance(dec.error, error) and dec.error.close_code == 1002


def test_corrupt_data_and_invalid_utf8_after_inflating() -> None:
    dec = decoder()
    dec.feed(frame(0xC1, b"\xff\xff\xff garbage"))
    dec.decode()
    assert isinstance(dec.error, WebSocketProtocolError) and dec.error.close_code == 1002
    dec = decoder()
    dec.feed(frame(0xC1, deflate_message(b"ok \xed\xa0\x80")))
    dec.decode()
    assert dec.error is not None and dec.error.close_code == 1007


def test_deflate_bomb_is_stopped_at_max_message_size() -> None:
    bomb = deflate_message(b"\0" * (64 * MiB))  # ~64 KiB on the wire
    assert len(bomb) < 100_000
    dec = decoder(max_message_size=1 * MiB)
    dec.feed(frame(0xC2, bomb))
    dec.decode()
    assert isinstance(dec.error, MessageTooBig) and dec.error.close_code == 1009


# --- interop: servers that compress --------------------------------------------------------------


class Loop:
    """An asyncio loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.stop()


BIG = (b'{"e":"depthUpdate","b":[["0.0024","10"]],"a":[["0.0026","100"]]}' * 40000)  # 2.6 MB, compressible
SCRIPT: list[Any] = ["hello ✓", b"\x00\x01\x02" * 100, BIG.decode(), os.urandom(200_000), ["frag-", "ment", "ed ✓"]]


async def websockets_handler(ws: Any) -> None:
    ws.extensions_seen = [type(e).__name__ for e in ws.protocol.extensions]
    for message in SCRIPT:
        await ws.send(message)  # a list is sent as one fragmented message
    await ws.send(str(ws.extensions_seen))
    await ws.wait_closed()


def start_websockets(loop: Loop, **factory: Any) -> int:
    extensions = [ServerPerMessageDeflateFactory(**factory)]

    async def start() -> int:
        server = await serve(websockets_handler, "127.0.0.1", 0, extensions=extensions, compression=None, max_size=None)
        return server.sockets[0].getsockname()[1]

    return loop.run(start())


def start_aiohttp(loop: Loop) -> int:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=15, max_msg_size=0)
        await ws.prepare(request)
        for message in SCRIPT[:4]:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
        await ws.send_str(f"compress={ws.compress}")
        await ws.receive(timeout=10)
        return ws

    async def start() -> int:
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    return loop.run(start())


def read_messages(ws: Any, count: int, timeout: float = 10.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        ws.wait_io(0.05)
        for f in ws.read_batch():
            if f.opcode is Opcode.TEXT:
                got.append(f.text())
            elif f.opcode is Opcode.BINARY:
                got.append(f.bytes())
    return got


def expected(script: list[Any]) -> list[Any]:
    return ["".join(m) if isinstance(m, list) else m for m in script]


@pytest.mark.parametrize(
    "factory",
    [{}, {"server_no_context_takeover": True}, {"server_max_window_bits": 9}, {"client_no_context_takeover": True}],
    ids=["default", "server_no_context_takeover", "server_max_window_bits=9", "client_no_context_takeover"],
)
def test_websockets_server_compressed_messages(loop: Loop, factory: dict[str, Any]) -> None:
    port = start_websockets(loop, **factory)
    ws = connect(f"ws://127.0.0.1:{port}/", compression="deflate", max_message_size=8 * MiB)
    assert ws.compression == "deflate"
    got = read_messages(ws, len(SCRIPT) + 1)
    assert got[:-1] == expected(SCRIPT)
    assert got[-1] == "['PerMessageDeflate']"  # the server really compressed
    ws.close()


def test_without_the_option_nothing_is_offered(loop: Loop) -> None:
    port = start_websockets(loop)
    ws = connect(f"ws://127.0.0.1:{port}/", max_message_size=8 * MiB)
    assert ws.compression is None
    got = read_messages(ws, len(SCRIPT) + 1)
    assert got[:-1] == expected(SCRIPT) and got[-1] == "[]"
    ws.close()


def test_aiohttp_server_compressed_messages(loop: Loop) -> None:
    port = start_aiohttp(loop)
    ws = connect(f"ws://127.0.0.1:{port}/", compression="deflate", max_message_size=8 * MiB)
    assert ws.compression == "deflate"
    got = read_messages(ws, 5)
    assert got[:-1] == expected(SCRIPT[:4]) and got[-1] == "compress=15"
    ws.close()


def test_compressed_message_over_the_limit_fails_with_1009(loop: Loop) -> None:
    port = start_websockets(loop)
    ws = connect(f"ws://127.0.0.1:{port}/", compression="deflate", max_message_size=1 * MiB)
    with pytest.raises(MessageTooBig):
        read_messages(ws, len(SCRIPT) + 1)
    assert ws.closed and ws.close_code == 1009
