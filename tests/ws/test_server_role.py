"""The sans-I/O protocol in the SERVER role, through ``ServerWebSocket`` over a real socket, against
an independent client: ``websockets``' sync client (and raw sockets for what it will not do:
unmasked frames, a request without a key).

The harness is a tiny echo server in a thread: accept one connection, answer the upgrade, echo
every data message, close with 4000 when told ``close-me``; it records what it saw.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed as WsLibClosed
from websockets.sync.client import connect as ws_connect

from boomnet.errors import ConnectionClosed, HandshakeError, WebSocketClosed, WebSocketProtocolError
from boomnet.stream.socket_stream import SocketStream
from boomnet.ws import Opcode, ServerWebSocket

from . import wire

DEADLINE = 5.0


class EchoServer:
    def __init__(self, **options: Any) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE)
        self.port = self.listener.getsockname()[1]
        self.options = {"ping_interval": None, **options}
        self.events: list[tuple[str, Any]] = []
        self.error: BaseException | None = None
        self.ws: ServerWebSocket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/echo?x=1"

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            ws = self.ws = ServerWebSocket(SocketStream.from_socket(sock), subprotocols=("chat", "superchat"), **self.options)
            end = time.monotonic() + DEADLINE
            while not ws.establish():
                if time.monotonic() > end:
                    raise AssertionError("upgrade not received")
                ws.wait_io(0.01)
            self.events.append(("open", (ws.request.target if ws.request else None, ws.subprotocol)))
            while time.monotonic() < end:
                ws.wait_io(0.01)
                for f in ws.read_batch():
                    self.events.append((f.opcode.name, f.bytes()))
                    if f.opcode == Opcode.TEXT and f.bytes() == b"close-me":
                        ws.close(4000, "bye")
                    elif f.opcode in (Opcode.TEXT, Opcode.BINARY) and ws.open:
                        (ws.send_text if f.opcode == Opcode.TEXT else ws.send_binary)(f.bytes())
            raise AssertionError("server session did not end")
        except (WebSocketClosed, ConnectionClosed, WebSocketProtocolError, HandshakeError) as exc:
            self.events.append(("end", exc))
        except BaseException as exc:
            self.error = exc
        finally:
            self.listener.close()

    def join(self) -> list[tuple[str, Any]]:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "server thread did not finish"
        if self.error is not None:
            raise self.error
        return self.events


def test_websockets_client_talks_to_the_boomnet_server() -> None:
    server = EchoServer()
    big = os.urandom(70000)
    with ws_connect(server.url, subprotocols=["superchat", "chat"], open_timeout=DEADLINE, ping_interval=None,
                    max_size=None) as client:
        assert client.subprotocol == "chat"  # the server's preference among the offered ones
        client.send("héllo")
        assert client.recv(DEADLINE) == "héllo"
        client.send(big)
        assert client.recv(DEADLINE) == big
        client.send(["frag", "mented"])  # one message in three frames... assembled by the server
        assert client.recv(DEADLINE) == "fragmented"
        assert client.ping(b"are you there").wait(DEADLINE)  # auto-pong from the server role
        client.close(1001, "done")
    events = server.join()
    assert events[0] == ("open", ("/echo?x=1", "chat"))
    assert [e for e in events[1:] if e[0] in ("TEXT", "BINARY", "PING")] == [
        ("TEXT", "héllo".encode()), ("BINARY", big), ("TEXT", b"fragmented"), ("PING", b"are you there")]
    end = events[-1][1]
    assert isinstance(end, WebSocketClosed) and end.code == 1001 and end.reason == "done"


def test_server_initiated_close_is_echoed_by_the_client() -> None:
    server = EchoServer()
    with ws_connect(server.url, open_timeout=DEADLINE, ping_interval=None) as client:
        client.send("close-me")
        with pytest.raises(WsLibClosed) as closed:
            client.recv(DEADLINE)
        rcvd, sent = closed.value.rcvd, closed.value.sent
        assert rcvd is not None and (rcvd.code, rcvd.reason) == (4000, "bye")
        assert sent is not None and sent.code == 4000  # the client echoed our code
    events = server.join()
    assert server.ws is not None and server.ws.closed
    assert isinstance(events[-1][1], (WebSocketClosed, ConnectionClosed))


def test_server_role_pings_and_the_client_answers() -> None:
    server = EchoServer(ping_interval=0.1, ping_timeout=0.5)
    with ws_connect(server.url, open_timeout=DEADLINE, ping_interval=None) as client:
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            client.send("tick")
            assert client.recv(DEADLINE) == "tick"
            time.sleep(0.02)
        assert server.ws is not None and server.ws.protocol._pings_sent >= 4 and server.ws.open
    events = server.join()
    assert [e[1] for e in events if e[0] == "PONG"]  # the client's pongs reached the server


def raw_upgrade(port: int, key: str | None) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    key_line = f"Sec-WebSocket-Key: {key}\r\n" if key else ""
    sock.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"{key_line}Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return sock, head


def test_unmasked_client_frame_fails_with_1002() -> None:
    server = EchoServer()
    sock, head = raw_upgrade(server.port, base64.b64encode(os.urandom(16)).decode())
    with sock:
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(wire.frame(wire.TEXT, b"not masked"))
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    frames, _ = wire.parse((head + data).partition(b"\r\n\r\n")[2])
    assert [(f.opcode, f.payload, f.masked) for f in frames] == [(wire.CLOSE, (1002).to_bytes(2, "big"), False)]
    end = server.join()[-1][1]
    assert isinstance(end, WebSocketProtocolError) and "unmasked" in str(end)


def test_request_without_a_key_is_refused_with_400() -> None:
    server = EchoServer()
    sock, head = raw_upgrade(server.port, None)
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 ")
    end = server.join()[-1][1]
    assert isinstance(end, HandshakeError) and "Sec-WebSocket-Key" in str(end)
