"""boomnet's WebSocket client against websockets, aiohttp and picows servers, over ws:// and wss://.

Every scenario runs against every server (the ``peer`` fixture); the servers speak the small
command language of :mod:`tests.ws.peers.base` and record what they observed.
"""

from __future__ import annotations

import pytest

from boomnet.errors import ConnectionClosed, HandshakeError, WebSocketClosed
from boomnet.ws import Opcode

from . import wire
from .drive import data_messages, pump, read_until_closed, until_data, until_opcode
from .peers import SUBPROTOCOL, command, pattern, wait_until

MiB = 1024 * 1024


def test_echo_text_and_binary(client) -> None:
    ws, record = client.open("/echo")
    text = "héllo wörld ✓ 😀"
    blob = bytes(range(256)) * 3
    ws.send_text(text)
    ws.send_binary(blob)
    got = pump(ws, until_data(2))
    assert data_messages(got) == [(Opcode.TEXT, text.encode()), (Opcode.BINARY, blob)]
    assert record().received == [("text", text.encode()), ("binary", blob)]


@pytest.mark.parametrize("size, opcode", [(MiB, Opcode.TEXT), (8 * MiB, Opcode.BINARY)], ids=["1MiB-text", "8MiB-binary"])
def test_large_message_echo(client, size: int, opcode: Opcode) -> None:
    ws, record = client.open("/big")
    payload = pattern(size)
    (ws.send_text if opcode is Opcode.TEXT else ws.send_binary)(payload)
    got = pump(ws, until_data(1), timeout=30.0)
    assert data_messages(got) == [(opcode, payload)]
    assert record().received[0][1] == payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 3 * MiB])
def test_server_sent_sizes(client, size: int) -> None:
    ws, _ = client.open("/sizes")
    ws.send_text(command("sized", size=size, text=False))
    got = pump(ws, until_data(1), timeout=15.0)
    assert data_messages(got) == [(Opcode.BINARY, pattern(size))]


def _fragments(text: bool) -> list[bytes]:
    if text:  # cuts inside multi-byte characters: validity is a property of the whole message
        whole = "κόσμε ✓ 😀 end".encode()
        return [whole[:1], whole[1:2], b"", whole[2:17], whole[17:]]
    return [b"\x00\x01", b"", bytes(range(200)), b"\xff" * 70000]


@pytest.mark.parametrize("text", [True, False], ids=["text", "binary"])
def test_server_fragmented_message_assembled(client, text: bool) -> None:
    ws, _ = client.open("/frag")
    parts = _fragments(text)
    ws.send_text(command("fragments", parts=[p.hex() for p in parts], text=text))
    got = pump(ws, until_data(1))
    assert got == [(Opcode.TEXT if text else Opcode.BINARY, True, b"".join(parts))]


def test_server_fragments_delivered_raw_without_assembly(client) -> None:
    ws, _ = client.open("/frag-raw", assemble=False)
    parts = [b"ab", b"cd", b"ef"]
    ws.send_text(command("fragments", parts=[p.hex() for p in parts], text=False))
    got = pump(ws, lambda g: any(fin for _, fin, _ in g))
    # websockets ends an iterable message with an extra empty fin frame; others use the last part
    assert got[0] == (Opcode.BINARY, False, b"ab")
    assert [op for op, _, _ in got[1:]] == [Opcode.CONTINUATION] * (len(got) - 1)
    assert [fin for _, fin, _ in got] == [False] * (len(got) - 1) + [True]
    assert b"".join(p for _, _, p in got) == b"abcdef"
    assert len(got) in (3, 4)


def test_control_frames_between_fragments(client) -> None:
    ws, _ = client.open("/interleave")
    frames = (
        wire.frame(wire.TEXT, b"he", fin=False)
        + wire.frame(wire.PING, b"mid")
        + wire.frame(wire.CONT, b"ll", fin=False)
        + wire.frame(wire.PONG, b"")
        + wire.frame(wire.CONT, b"o")
    )
    ws.send_text(command("raw", hex=frames.hex()))
    got = pump(ws, until_data(1))
    assert got == [(Opcode.PING, True, b"mid"), (Opcode.PONG, True, b""), (Opcode.TEXT, True, b"hello")]


@pytest.mark.parametrize("payload", [b"", b"\x00hb-1", bytes(range(125))], ids=["empty", "short", "125"])
def test_server_ping_is_answered_with_same_payload(client, payload: bytes) -> None:
    ws, record = client.open("/ping")
    ws.send_text(command("ping", payload=payload.hex()))
    got = pump(ws, until_opcode(Opcode.PING))
    assert (Opcode.PING, True, payload) in got
    wait_until(lambda: payload in record().pongs, what="the server to receive the pong")
    assert record().pongs == [payload]


def test_client_ping_gets_pong(client) -> None:
    ws, _ = client.open("/cping")
    ws.send_ping(b"are you there")
    got = pump(ws, until_opcode(Opcode.PONG))
    assert (Opcode.PONG, True, b"are you there") in got


def test_client_fragmented_send(client) -> None:
    ws, record = client.open("/cfrag")
    ws.send_text("ab", fin=False)
    ws.send_text("c✓", fin=False)
    ws.send_text("d", fin=True)
    ws.send_binary(b"\x00", fin=False)
    ws.send_binary(b"\x01")
    got = pump(ws, until_data(2))
    assert data_messages(got) == [(Opcode.TEXT, "abc✓d".encode()), (Opcode.BINARY, b"\x00\x01")]
    assert record().received == [("text", "abc✓d".encode()), ("binary", b"\x00\x01")]


def test_server_initiated_close(client) -> None:
    ws, record = client.open("/sclose")
    reason = "bye ✓"
    ws.send_text(command("close", code=4001, reason=reason))
    got = read_until_closed(ws)
    assert got[-1] == (Opcode.CLOSE, True, wire.close_payload(4001, reason))
    assert ws.closed and ws.close_code == 4001 and ws.close_reason == reason
    with pytest.raises(WebSocketClosed):
        ws.read_batch()
    with pytest.raises(ConnectionClosed):
        ws.send_text("too late")
    wait_until(lambda: record().close is not None, what="the server to see the client's close")
    assert record().close[0] == 4001  # the client echoed the code


def test_client_initiated_close(client) -> None:
    ws, record = client.open("/cclose")
    ws.send_text("last words")
    pump(ws, until_data(1))
    ws.close(1000, "done")
    got = read_until_closed(ws)
    assert [op for op, _, _ in got] == [Opcode.CLOSE]
    assert ws.closed and ws.close_code == 1000
    with pytest.raises(ConnectionClosed):
        ws.read_batch()
    rec = record()
    wait_until(rec.ended.is_set, what="the server's session to end")
    code, reason = rec.close
    assert code == 1000 and reason in ("done", None)  # aiohttp does not expose the reason


def test_burst_of_small_frames_comes_back_in_batches(client) -> None:
    ws, record = client.open("/burst")
    count = 300
    ws.send_text(command("burst", count=count))
    wait_until(lambda: "burst" in record().done_ops, what="the server to send the burst")
    sizes: list[int] = []
    got = pump(ws, until_data(count), batch_sizes=sizes)
    assert [p for _, p in data_messages(got)] == [f"m{i}".encode() for i in range(count)]
    assert max(sizes) > 1, f"every read returned a single frame: {sizes[:20]}"


def test_pipelined_echo_keeps_order(client) -> None:
    ws, _ = client.open("/pipeline")
    msgs = [f"message {i} ".encode() * (i % 7 + 1) for i in range(500)]
    for i, m in enumerate(msgs):
        ws.send_text(m) if i % 2 else ws.send_binary(m)
    got = pump(ws, until_data(len(msgs)), timeout=15.0)
    assert [p for _, p in data_messages(got)] == msgs
    assert [op for op, _ in data_messages(got)] == [Opcode.TEXT if i % 2 else Opcode.BINARY for i in range(500)]


def test_handshake_refused_with_403(client) -> None:
    with pytest.raises(HandshakeError) as info:
        client.connect("/reject")
    err = info.value
    assert err.status == 403
    assert ("x-reject-reason", "test") in [(k.lower(), v) for k, v in err.headers]


def test_handshake_wrong_accept(client) -> None:
    if "bad_accept" in client.peer.unsupported:
        pytest.skip(f"n/a: {client.peer.library} cannot send a wrong Sec-WebSocket-Accept")
    with pytest.raises(HandshakeError) as info:
        client.connect("/badaccept")
    assert info.value.status == 101
    assert "accept" in str(info.value).lower()


def test_subprotocol_negotiated(client) -> None:
    ws, record = client.open("/proto", subprotocols=("nope.v1", SUBPROTOCOL))
    assert ws.subprotocol == SUBPROTOCOL
    assert record().subprotocol == SUBPROTOCOL
    offered = [p.strip() for p in record().header("Sec-WebSocket-Protocol").split(",")]
    assert offered == ["nope.v1", SUBPROTOCOL]


def test_no_subprotocol_when_none_offered(client) -> None:
    ws, record = client.open("/noproto")
    assert ws.subprotocol is None
    assert record().header("Sec-WebSocket-Protocol") is None


def test_extra_headers_and_origin_reach_the_server(client) -> None:
    _ws, record = client.open(
        "/headers?x=1", headers=[("X-Api-Key", "k-123"), ("User-Agent", "boomnet-tests/1")],
        origin="https://origin.test",
    )
    rec = record()
    assert rec.header("X-Api-Key") == "k-123"
    assert rec.header("User-Agent") == "boomnet-tests/1"
    assert rec.header("Origin") == "https://origin.test"
    assert rec.header("Host") == f"127.0.0.1:{client.peer.port}"
    assert rec.path.startswith("/headers?x=1&sid=")
