"""Liveness against real peers over loopback: a silent server, a half-open peer (stops reading and
writing), the independent ``websockets`` server once healthy and then frozen (no pongs), the
IOService endpoint's timer, and a peer that floods pings without reading (bounded pongs).

Timeouts are short here (tenths of a second); the figures with the defaults are in the notes.
Every wait is bounded; lower bounds on detection time are checked (a timeout must not fire
early), upper bounds only as the test's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from boomnet.errors import PeerTimeout
from boomnet.service import Backoff, DisconnectKind, IOService
from boomnet.ws import WebSocket, WebsocketEndpoint, connect

from . import wire
from .peers import LoopThread
from .peers.raw import RawConn, RawPeer

DEADLINE = 5.0
log = logging.getLogger("tests.ws.liveness")  # detection times: pytest --log-cli-level=INFO
FAST_PINGS = {"ping_interval": 0.2, "ping_timeout": 0.3, "idle_timeout": None}


def read_until_timeout(ws: WebSocket, deadline: float = DEADLINE) -> tuple[PeerTimeout, float]:
    """Read (the blocking way: wait_io + read_batch) until PeerTimeout; returns it and the delay."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            ws.wait_io(0.05)
            ws.read_batch()
        except PeerTimeout as exc:
            took = time.monotonic() - start
            log.info("PeerTimeout after %.3f s: %s", took, exc)
            return exc, took
    raise AssertionError(f"no PeerTimeout within {deadline}s")


def test_silent_server_is_detected_by_the_missing_pong(ca_file) -> None:
    seen: dict[str, Any] = {}

    def script(conn: RawConn) -> None:
        conn.accept()
        seen["after"] = conn.read_until_eof()  # reads everything, answers nothing

    peer = RawPeer(script)
    ws = connect(peer.url(), timeout=5.0, **FAST_PINGS)
    error, took = read_until_timeout(ws)
    peer.join()
    assert "no pong within 0.3 s" in str(error) and took >= 0.3 + 0.2 - 0.05
    assert ws.closed and ws.stream.closed
    frames, _ = wire.parse(seen["after"])
    assert [f.opcode for f in frames] == [wire.PING, wire.CLOSE]  # our ping, then close 1011 (best effort)
    assert frames[1].payload == (1011).to_bytes(2, "big")


@pytest.mark.parametrize("mode, options, message", [
    ("ping", FAST_PINGS, "no pong"),
    ("idle", {"ping_interval": None, "idle_timeout": 0.4}, "no data from the peer for 0.4 s"),
])
def test_half_open_peer_that_neither_reads_nor_writes(mode: str, options: dict, message: str) -> None:
    release = threading.Event()

    def script(conn: RawConn) -> None:
        conn.accept()
        release.wait(DEADLINE)  # the process is alive, the socket open, nothing moves

    peer = RawPeer(script)
    try:
        ws = connect(peer.url(), timeout=5.0, **options)
        error, took = read_until_timeout(ws)
        assert message in str(error) and took >= (0.4 if mode == "idle" else 0.45)
        assert ws.closed
    finally:
        release.set()
        peer.join()


# --- the independent websockets server: healthy, then frozen ------------------------------------------


class FreezableServer:
    """``websockets`` serving on its own loop thread with *its* keepalive off (ping_interval=None):
    it answers our pings (the library does) until :meth:`freeze` blocks its loop."""

    def __init__(self) -> None:
        self.loops = LoopThread()
        self.port = 0

        async def handler(ws: ServerConnection) -> None:
            await ws.send("hello")
            try:
                async for _ in ws:
                    pass
            except ConnectionClosed:
                pass  # our PeerTimeout ends the connection with 1011: expected here

        async def start() -> Any:
            server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
            self.port = server.sockets[0].getsockname()[1]
            return server

        self.server = self.loops.run(start())

    def freeze(self, seconds: float) -> None:
        self.loops.loop.call_soon_threadsafe(time.sleep, seconds)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), 3)

        try:
            self.loops.run(stop(), 5.0)
        finally:
            self.loops.stop()


@pytest.fixture
def freezable() -> Iterator[FreezableServer]:
    server = FreezableServer()
    yield server
    server.close()


def test_websockets_server_healthy_then_frozen(freezable: FreezableServer) -> None:
    ws = connect(f"ws://127.0.0.1:{freezable.port}/", timeout=5.0, ping_interval=0.1, ping_timeout=0.3, idle_timeout=0.6)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # healthy: pongs come back (and count as data for idle_timeout)
        ws.wait_io(0.02)
        ws.read_batch()
    assert ws.open and ws.protocol._pings_sent >= 5
    freezable.freeze(1.5)
    error, took = read_until_timeout(ws)
    assert "no pong within 0.3 s" in str(error)
    assert took >= 0.3 - 0.1  # the last ping may have left up to one interval before the freeze


# --- the IOService endpoint: the timer disconnects with the reason -------------------------------------


class Recorder(WebsocketEndpoint):
    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.reasons: list[Any] = []
        self.connected_at = 0.0

    def on_connected(self, ws: WebSocket, ctx: Any) -> None:
        self.connected_at = time.monotonic()

    def on_disconnect(self, reason: Any, ctx: Any) -> bool:
        self.reasons.append((reason, time.monotonic() - self.connected_at))
        return False


def test_endpoint_timer_disconnects_a_silent_peer_with_peer_timeout() -> None:
    release = threading.Event()

    def script(conn: RawConn) -> None:
        conn.accept()
        release.wait(DEADLINE)

    peer = RawPeer(script)
    try:
        with IOService(backoff=Backoff(0.01, 1.0, 0.05), check_every=1) as svc:
            ep = Recorder(peer.url(), **FAST_PINGS)
            svc.register(ep)
            end = time.monotonic() + DEADLINE
            while not ep.reasons and time.monotonic() < end:
                svc.poll()
                time.sleep(0.001)
            assert ep.reasons, "the endpoint was never disconnected"
            reason, took = ep.reasons[0]
            log.info("endpoint disconnected %.3f s after connecting: %s", took, reason)
            assert reason.kind is DisconnectKind.ERROR and isinstance(reason.error, PeerTimeout)
            assert "no pong" in str(reason.error) and took >= 0.45
    finally:
        release.set()
        peer.join()


# --- a ping flood from a peer that does not read: bounded pongs -------------------------------------------


def test_ping_flood_without_reading_keeps_our_send_queue_bounded() -> None:
    count = 4000
    pings = [b"%06d" % i + b"p" * 119 for i in range(count)]  # 125-byte payloads
    flooded, drain, done, finish = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    pongs: list[bytes] = []

    def script(conn: RawConn) -> None:
        conn.accept()
        conn.sock.sendall(b"".join(wire.frame(wire.PING, p) for p in pings))  # never reads meanwhile
        flooded.set()
        drain.wait(DEADLINE)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and not (pongs and pongs[-1] == pings[-1]):
            conn._recv_more()
            frames, conn.inbox = wire.parse(conn.inbox)
            pongs.extend(f.payload for f in frames if f.opcode == wire.PONG)
        done.set()
        finish.wait(DEADLINE)

    peer = RawPeer(script)
    peer.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the accepted socket inherits it
    ws = connect(peer.url(), timeout=5.0, ping_interval=None, idle_timeout=None)
    with socket.fromfd(ws.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
        dup.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    most_pending = most_owed = 0
    end = time.monotonic() + DEADLINE
    while not flooded.is_set() and time.monotonic() < end:
        ws.wait_io(0.01)
        ws.read_batch()
        most_pending = max(most_pending, ws.pending)
        most_owed = max(most_owed, len(ws.protocol._pongs))
    assert flooded.is_set(), "the peer could not send its flood"
    drain.set()
    while not done.is_set() and time.monotonic() < end:
        ws.wait_io(0.01)
        ws.read_batch()
    ws.close()
    finish.set()
    peer.join()
    assert most_pending <= 2 * 131 and most_owed <= 1, (most_pending, most_owed)
    assert pongs and pongs[-1] == pings[-1]  # the latest ping is answered in the end
    assert pongs == sorted(pongs) and len(set(pongs)) == len(pongs)  # in order, no duplicates
