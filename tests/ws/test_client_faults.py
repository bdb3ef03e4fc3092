"""The client when its peer vanishes mid-batch: frames already decoded must still be delivered.

A stream's ``write`` raises ``ConnectionReset`` once the peer has reset the connection (e.g. a
write after the peer closed). The client writes on its own inside ``read_batch`` — the automatic
pong and the close echo — and a failure there must not swallow the frames of that batch.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from boomnet.errors import ConnectionClosed, ConnectionReset
from boomnet.stream.base import Stream
from boomnet.ws import Opcode, WebSocket, connect
from boomnet.ws.handshake import accept_for

from . import wire
from .peers.raw import RawConn, RawPeer


class PeerGoneStream(Stream):
    """Answers the handshake, then serves ``frames`` in one read; every later write fails as a
    socket write does after the peer reset the connection."""

    def __init__(self, frames: bytes) -> None:
        self.inbound = b""
        self.frames = frames
        self.handshake_done = False
        self.is_closed = False

    def write(self, data) -> None:
        if self.handshake_done:
            raise ConnectionReset("peer reset the connection (broken pipe)")
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", bytes(data)).group(1).decode()
        self.inbound = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_for(key).encode() + b"\r\n\r\n"
        )
        self.handshake_done = True

    def flush(self) -> bool:
        return True

    def recv_into(self, buf) -> int:
        if not self.inbound:
            if self.frames is None:
                raise ConnectionClosed("eof")
            self.inbound, self.frames = self.frames, None
        n = min(len(buf), len(self.inbound))
        buf[:n] = self.inbound[:n]
        self.inbound = self.inbound[n:]
        return n

    def close(self) -> None:
        self.is_closed = True


class PendingPeerGoneStream(PeerGoneStream):
    """As above, with output still pending when the peer went away: ``flush`` fails too."""

    @property
    def pending(self) -> int:
        return 1 if self.handshake_done else 0

    def flush(self) -> bool:
        if self.handshake_done:
            raise ConnectionReset("peer reset the connection (broken pipe)")
        return True


def open_over(frames: bytes, stream_type: type = PeerGoneStream) -> WebSocket:
    ws = WebSocket(stream_type(frames), "ws://peer.test/")
    for _ in range(3):
        if ws.establish():
            return ws
    raise AssertionError("handshake did not complete")


@pytest.mark.parametrize(
    "last", [wire.frame(wire.PING, b"hb"), wire.frame(wire.CLOSE, wire.close_payload(1000))], ids=["ping", "close"]
)
def test_batch_survives_a_failed_automatic_reply(last: bytes) -> None:
    ws = open_over(wire.frame(wire.TEXT, b"tick") + last)
    frames = [(f.opcode, f.bytes()) for f in ws.read_batch()]
    assert frames[0] == (Opcode.TEXT, b"tick")
    assert frames[1][0] in (Opcode.PING, Opcode.CLOSE)
    with pytest.raises(ConnectionClosed):
        ws.read_batch()
    assert ws.closed


def test_frames_already_received_survive_a_failed_flush() -> None:
    ws = open_over(wire.frame(wire.TEXT, b"final") + wire.frame(wire.BINARY, b"words"), PendingPeerGoneStream)
    frames = [(f.opcode, f.bytes()) for f in ws.read_batch()]
    assert frames == [(Opcode.TEXT, b"final"), (Opcode.BINARY, b"words")]
    with pytest.raises(ConnectionClosed):
        ws.read_batch()
    assert ws.closed


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # tcpi_state values (linux/tcp_states.h)


def wait_tcp_state(fd: int, state: int, timeout: float = 5.0) -> None:
    """Poll the kernel's TCP state of ``fd`` (TCP_INFO) until it is ``state``: waits on the
    condition itself instead of a fixed sleep."""
    end = time.monotonic() + timeout
    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as dup:
        while dup.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != state:
            if time.monotonic() > end:
                raise AssertionError(f"TCP state never became {state}")
            time.sleep(0.001)


@pytest.mark.parametrize("last", ["ping", "close"])
def test_batch_survives_a_failed_automatic_reply_over_tcp(last: str, ca_file: str) -> None:
    """The same over a real socket: the server sends a tick and a ping/close, then closes; the
    client's next write draws a RST, so its automatic reply fails with a broken pipe."""
    gone = threading.Event()

    def script(conn: RawConn) -> None:
        conn.accept()
        control = wire.frame(wire.PING, b"hb") if last == "ping" else wire.frame(wire.CLOSE, wire.close_payload(1000))
        conn.send(wire.frame(wire.TEXT, b"tick") + control)
        conn.sock.close()
        gone.set()

    peer = RawPeer(script)
    ws = connect(peer.url(), timeout=5.0)
    try:
        assert gone.wait(5.0)
        wait_tcp_state(ws.fileno(), TCP_CLOSE_WAIT)  # the peer's FIN has arrived
        ws.send_text("hello")  # accepted locally; the closed peer answers with a RST
        wait_tcp_state(ws.fileno(), TCP_CLOSE)  # the RST has arrived
        frames = [(f.opcode, f.bytes()) for f in ws.read_batch()]
        assert frames[0] == (Opcode.TEXT, b"tick")
        with pytest.raises(ConnectionClosed):
            ws.read_batch()
        assert ws.closed
    finally:
        ws.stream.close()
        peer.join()
