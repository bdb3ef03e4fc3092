"""Wire-level behaviour over real sockets (ws:// and wss://) against a scripted raw server:
the client's bytes as the server sees them, crafted handshakes, failures observed by the peer."""

from __future__ import annotations

import base64
import socket
import ssl

import pytest

from boomnet.errors import (
    ConnectionClosed,
    ConnectTimeout,
    HandshakeError,
    InvalidUtf8,
    MessageTooBig,
    WebSocketClosed,
    WebSocketProtocolError,
)
from boomnet.ws import Opcode, connect

from . import wire
from .drive import pump, until_data, until_opcode
from .peers.raw import RawConn, RawPeer, dribble


@pytest.fixture(params=[False, True], ids=["ws", "wss"])
def tls(request: pytest.FixtureRequest, server_ssl_context: ssl.SSLContext) -> ssl.SSLContext | None:
    return server_ssl_context if request.param else None


def open_ws(peer: RawPeer, ca_file: str, path: str = "/", **options):
    return connect(peer.url(path), ca_file=ca_file, timeout=5.0, **options)


def test_request_and_client_frames_on_the_wire(tls, ca_file) -> None:
    seen: dict = {}

    def script(conn: RawConn) -> None:
        seen["line"] = conn.read_request()
        seen["headers"] = dict(conn.headers)
        conn.send(conn.response_101())
        seen["frames"] = conn.read_frames(4)
        conn.send(wire.frame(wire.CLOSE, wire.close_payload(1000)))
        seen["frames"] += conn.read_frames(5)[4:]

    peer = RawPeer(script, tls)
    ws = open_ws(peer, ca_file, "/stream?symbols=a,b", headers={"X-Api-Key": "k"})
    ws.send_text("hi")
    ws.send_binary(b"\x00" * 300)
    ws.send_ping(b"p")
    ws.send_text("part", fin=False)
    got = pump(ws, until_opcode(Opcode.CLOSE))
    assert got[-1][0] == Opcode.CLOSE and ws.closed
    peer.join()

    assert seen["line"] == "GET /stream?symbols=a,b HTTP/1.1"
    h = seen["headers"]
    assert h["host"] == f"127.0.0.1:{peer.port}"
    assert h["upgrade"].lower() == "websocket" and "upgrade" in h["connection"].lower()
    assert h["sec-websocket-version"] == "13" and h["x-api-key"] == "k"
    assert len(base64.b64decode(h["sec-websocket-key"])) == 16
    frames = seen["frames"]
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (wire.TEXT, True, b"hi"), (wire.BINARY, True, b"\x00" * 300), (wire.PING, True, b"p"),
        (wire.TEXT, False, b"part"), (wire.CLOSE, True, wire.close_payload(1000)),
    ]
    assert all(f.masked and f.rsv == 0 for f in frames)
    assert len({f.mask_key for f in frames}) == len(frames)  # a fresh key per frame


def test_frames_glued_to_the_101_response(tls, ca_file) -> None:
    glued = wire.frame(wire.TEXT, b"first") + wire.frame(wire.PING, b"glued") + wire.frame(wire.BINARY, b"second")
    pongs: list = []

    def script(conn: RawConn) -> None:
        conn.accept(then=glued)
        pongs.extend(conn.read_frames(1))

    peer = RawPeer(script, tls)
    ws = open_ws(peer, ca_file)
    got = pump(ws, until_data(2))
    assert got == [(Opcode.TEXT, True, b"first"), (Opcode.PING, True, b"glued"), (Opcode.BINARY, True, b"second")]
    peer.join()
    assert (pongs[0].opcode, pongs[0].payload) == (wire.PONG, b"glued")


def test_response_and_frames_dribbled_one_byte_at_a_time(ca_file) -> None:
    def script(conn: RawConn) -> None:
        conn.read_request()
        dribble(conn, conn.response_101() + wire.frame(wire.TEXT, "dribbled ✓".encode()) + wire.frame(wire.BINARY, b"x" * 130))
        conn.read_until_eof()

    peer = RawPeer(script)
    ws = open_ws(peer, ca_file)
    got = pump(ws, until_data(2))
    assert got == [(Opcode.TEXT, True, "dribbled ✓".encode()), (Opcode.BINARY, True, b"x" * 130)]
    ws.close()
    ws.stream.close()
    peer.join()


BAD_RESPONSES = {
    "status-200": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/elsewhere\r\n\r\n",
    "garbage": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "no-upgrade": None,  # built in the script (needs the key)
    "extension": None,
    "unoffered-subprotocol": None,
    "wrong-accept": None,
}


@pytest.mark.parametrize("case", list(BAD_RESPONSES))
def test_bad_handshake_responses(tls, ca_file, case: str) -> None:
    def script(conn: RawConn) -> None:
        conn.read_request()
        response = BAD_RESPONSES[case]
        if case == "no-upgrade":
            response = conn.response_101().replace(b"Upgrade: websocket\r\n", b"")
        elif case == "extension":
            response = conn.response_101("Sec-WebSocket-Extensions: permessage-deflate\r\n")
        elif case == "unoffered-subprotocol":
            response = conn.response_101("Sec-WebSocket-Protocol: other\r\n")
        elif case == "wrong-accept":
            response = conn.response_101(accept=base64.b64encode(b"x" * 20).decode())
        conn.send(response)
        conn.read_until_eof()

    peer = RawPeer(script, tls)
    with pytest.raises(HandshakeError) as info:
        open_ws(peer, ca_file, subprotocols=("mine",))
    peer.join()
    expected_status = {"status-200": 200, "redirect": 302, "garbage": None}.get(case, 101)
    assert info.value.status == expected_status
    if case == "redirect":
        assert ("Location", "ws://127.0.0.1:1/elsewhere") in info.value.headers


def test_server_closes_during_handshake(tls, ca_file) -> None:
    peer = RawPeer(lambda conn: conn.read_request(), tls)
    with pytest.raises(HandshakeError):
        open_ws(peer, ca_file)
    peer.join()


def test_silent_server_hits_the_handshake_deadline(ca_file) -> None:
    def script(conn: RawConn) -> None:
        conn.read_request()
        conn.read_until_eof()  # never answers

    peer = RawPeer(script)
    with pytest.raises(ConnectTimeout):
        connect(peer.url(), timeout=0.3)
    peer.join()


@pytest.mark.parametrize(
    "bad, error, code",
    [
        (bytes([0x81, 0x82]) + b"\x01\x02\x03\x04" + b"ab", WebSocketProtocolError, 1002),  # masked from server
        (wire.frame(wire.TEXT, b"ok\xc3\x28"), InvalidUtf8, 1007),
        (wire.frame(wire.BINARY, b"z" * 2000), MessageTooBig, 1009),
        (wire.frame(wire.TEXT, b"x", rsv=1), WebSocketProtocolError, 1002),
    ],
    ids=["masked", "bad-utf8", "too-big", "rsv"],
)
def test_violation_is_answered_with_close_code_on_the_wire(tls, ca_file, bad: bytes, error: type, code: int) -> None:
    seen: list = []

    def script(conn: RawConn) -> None:
        conn.accept(then=wire.frame(wire.TEXT, b"before"))
        conn.read_frames(1)  # the client's go-ahead, so "before" and the violation arrive apart
        conn.send(bad)
        seen.extend(wire.parse(conn.read_until_eof())[0])

    peer = RawPeer(script, tls)
    ws = open_ws(peer, ca_file, max_frame_size=1000)
    assert pump(ws, until_data(1)) == [(Opcode.TEXT, True, b"before")]
    ws.send_text("go")
    with pytest.raises(error) as info:
        pump(ws, lambda got: False)
    assert info.value.close_code == code
    assert ws.closed
    peer.join()
    closes = [f for f in seen if f.opcode == wire.CLOSE]
    assert closes and int.from_bytes(closes[0].payload[:2], "big") == code


@pytest.mark.parametrize("how", ["eof", "reset"])
def test_connection_lost_without_close_frame(tls, ca_file, how: str) -> None:
    def script(conn: RawConn) -> None:
        conn.accept(then=wire.frame(wire.TEXT, b"last"))
        conn.read_frames(1)
        if how == "reset":
            conn.reset()
        else:  # a plain FIN (over TLS: without close_notify)
            conn.sock.shutdown(socket.SHUT_RDWR)

    peer = RawPeer(script, tls)
    ws = open_ws(peer, ca_file)
    assert pump(ws, until_data(1)) == [(Opcode.TEXT, True, b"last")]
    ws.send_text("bye")
    with pytest.raises(ConnectionClosed) as info:
        pump(ws, lambda got: False)
    assert not isinstance(info.value, WebSocketClosed)  # no close handshake happened
    assert ws.closed and ws.close_code == 1006
    peer.join()


def test_ipv6_literal_url(tls, ca_file) -> None:
    seen: dict = {}

    def script(conn: RawConn) -> None:
        seen["line"] = conn.read_request()
        seen["host"] = conn.headers["host"]
        conn.send(conn.response_101() + wire.frame(wire.TEXT, b"over v6"))
        conn.read_until_eof()

    peer = RawPeer(script, tls, host="::1")
    ws = open_ws(peer, ca_file, "/v6")
    assert pump(ws, until_data(1)) == [(Opcode.TEXT, True, b"over v6")]
    ws.close()
    ws.stream.close()
    peer.join()
    assert seen["line"] == "GET /v6 HTTP/1.1" and seen["host"] == f"[::1]:{peer.port}"


def test_oversized_response_head_is_refused(ca_file) -> None:
    def script(conn: RawConn) -> None:
        conn.read_request()
        filler = "".join(f"X-Filler-{i}: {'y' * 60}\r\n" for i in range(1200))  # ~90 KB, never ends
        try:
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\n" + filler.encode())
        except OSError:
            pass  # the client gave up first
        conn.read_until_eof()

    peer = RawPeer(script)
    with pytest.raises(HandshakeError):
        open_ws(peer, ca_file)
    peer.join()


def test_pings_not_answered_when_auto_pong_is_off(ca_file) -> None:
    seen: list = []

    def script(conn: RawConn) -> None:
        conn.accept(then=wire.frame(wire.PING, b"manual") + wire.frame(wire.TEXT, b"x"))
        seen.extend(conn.read_frames(2))

    peer = RawPeer(script)
    ws = open_ws(peer, ca_file, auto_pong=False)
    assert pump(ws, until_data(1)) == [(Opcode.PING, True, b"manual"), (Opcode.TEXT, True, b"x")]
    ws.send_text("no pong before me")
    ws.send_pong(b"manual")
    peer.join()
    assert [(f.opcode, f.payload) for f in seen] == [(wire.TEXT, b"no pong before me"), (wire.PONG, b"manual")]
