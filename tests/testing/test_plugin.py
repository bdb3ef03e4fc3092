"""The boomnet pytest plugin's fixtures, used the way a user's suite would (no conftest)."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

from boomnet.fix.client import FixClient
from boomnet.fix.config import SessionConfig
from boomnet.fix.store import MemoryStore
from boomnet.stream import ReplayStream, TcpStream
from endpoints.binance import REPLAY_URL, BinanceEndpoint, Trade


class Trades(BinanceEndpoint):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.trades: list[Trade] = []

    def on_trade(self, trade: Trade, ctx: Any) -> None:
        self.trades.append(trade)


def test_the_plugin_is_registered(pytestconfig: Any) -> None:
    assert pytestconfig.pluginmanager.has_plugin("boomnet")


def test_binance_exchange_and_io(binance_exchange: Any, boomnet_io: Any) -> None:
    feed = Trades(["btcusdt@trade"], base_url=binance_exchange.url, ca_file=binance_exchange.ca_file)
    boomnet_io.register(feed)
    deadline = time.monotonic() + 15
    while len(feed.trades) < 5 and time.monotonic() < deadline:
        boomnet_io.poll()
    assert len(feed.trades) >= 5 and feed.trades[0].symbol == "BTCUSDT"


def test_replay_a_committed_recording(boomnet_replay: Any) -> None:
    feed = boomnet_replay(Trades(["btcusdt@trade", "btcusdt@bookTicker"], base_url=REPLAY_URL),
                          "binance-sim-btcusdt", Path(__file__).resolve().parents[2] / "recordings")
    assert len(feed.trades) > 100


def test_fix_venue(fix_venue: Any) -> None:
    config = SessionConfig("CLIENT", "VENUE", heartbeat_interval=30)
    with FixClient.connect("127.0.0.1", fix_venue.port, config, MemoryStore()) as fix:
        fix.send("D", [(11, "o1"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 1)])
        while (report := fix.receive(timeout=5.0)).msg_type != b"8":
            pass
        assert report[11] == b"o1"


def test_msg_echo_server(msg_echo_server: Any) -> None:
    with socket.create_connection(msg_echo_server.address, timeout=5) as s:  # a plain socket peer
        s.sendall(struct.pack(">I", 5) + b"hello")
        data = b""
        while len(data) < 9:
            data += s.recv(64)
    assert data == struct.pack(">I", 5) + b"hello"


def test_record_then_replay(msg_echo_server: Any, boomnet_recorder: Any) -> None:
    stream = boomnet_recorder(TcpStream.connect(*msg_echo_server.address), "echo")
    deadline = time.monotonic() + 5
    while not stream.establish():
        assert time.monotonic() < deadline
    stream.write(struct.pack(">I", 2) + b"hi")
    got = bytearray(64)
    n = 0
    while n == 0 and time.monotonic() < deadline:
        stream.flush()
        n = stream.recv_into(memoryview(got))
    assert bytes(got[:n]) == struct.pack(">I", 2) + b"hi"
    boomnet_recorder.close()
    replay = ReplayStream.from_file("echo", str(boomnet_recorder.directory))
    buf = bytearray(64)
    m = 0
    for _ in range(100):
        m = replay.recv_into(memoryview(buf))
        if m:
            break
    assert bytes(buf[:m]) == struct.pack(">I", 2) + b"hi"
