"""The committed simulator recordings, replayed through the same endpoint code as live traffic.

``recordings/binance-sim-<symbol>.bnrec`` were made once with
``python -m examples.binance --record binance-sim --duration 3.5 --rate 60 --ping-interval 1
--seed 7 --streams trade,bookTicker,depth@100ms``. The files are committed and fixed, so the exact
counts and values below are facts about them; the invariants hold for any good recording.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from boomnet.service import DisconnectKind
from boomnet.stream import ReplayStream
from boomnet.stream.recording import IN, OUT
from boomnet.ws import Decoder, Opcode
from endpoints.binance import BookTicker, CommandResult, DepthUpdate, Trade

from .helpers import RECORDINGS, Collector, replay

# symbol: (trades, book tickers, depth updates, first trade, last trade id, last book ticker)
EXPECTED = {
    "btcusdt": (
        282, 292, 31,
        Trade("BTCUSDT", 1795321668914, 3408098, "60000.01000000", "0.00171000", 1795321668914, False),
        3408379,
        BookTicker("BTCUSDT", 13544191, "60000.16000000", "0.02458000", "60000.17000000", "0.04835000"),
    ),
    "ethusdt": (
        222, 291, 30,
        Trade("ETHUSDT", 1795321668953, 6066929, "3000.01000000", "0.03680000", 1795321668953, False),
        6067150,
        BookTicker("ETHUSDT", 74841106, "3000.09000000", "0.28030000", "3000.11000000", "0.21080000"),
    ),
    "xrpusdt": (
        247, 291, 30,
        Trade("XRPUSDT", 1795321668945, 8406269, "0.50010000", "1740.00000000", 1795321668945, False),
        8406515,
        BookTicker("XRPUSDT", 25697076, "0.49980000", "18493.00000000", "0.50000000", "12122.00000000"),
    ),
}
PINGS = 3


def replayed(symbol: str) -> Collector:
    streams = [f"{symbol}@trade", f"{symbol}@bookTicker", f"{symbol}@depth@100ms"]
    return replay(f"binance-sim-{symbol}", Collector(streams))


@pytest.mark.parametrize("symbol", sorted(EXPECTED))
def test_exact_counts_and_values(symbol: str) -> None:
    n_trades, n_tickers, n_depth, first_trade, last_trade_id, last_ticker = EXPECTED[symbol]
    feed = replayed(symbol)
    assert len(feed.connections) == 1
    assert [d.kind for d in feed.disconnects] == [DisconnectKind.CLOSED]  # the recording's end
    trades, tickers, depth = feed.records(Trade), feed.records(BookTicker), feed.records(DepthUpdate)
    assert (len(trades), len(tickers), len(depth)) == (n_trades, n_tickers, n_depth)
    assert len(feed.connections[0]) == n_trades + n_tickers + n_depth  # nothing else
    assert trades[0] == first_trade and trades[-1].trade_id == last_trade_id
    assert tickers[-1] == last_ticker
    assert feed.pings == PINGS
    # the recorded SUBSCRIBE ack matched the request the endpoint made on connect
    [(request, reply)] = feed.replies
    assert request.method == "SUBSCRIBE" and reply == CommandResult(1, None)
    assert request.params == feed.subscriptions.streams and feed.error_replies == []


@pytest.mark.parametrize("symbol", sorted(EXPECTED))
def test_invariants(symbol: str) -> None:
    feed = replayed(symbol)
    trades, tickers, depth = feed.records(Trade), feed.records(BookTicker), feed.records(DepthUpdate)
    ids = [t.trade_id for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous: none lost, none repeated
    assert all(t.symbol == symbol.upper() for t in trades)
    updates = [t.update_id for t in tickers]
    assert all(b > a for a, b in itertools.pairwise(updates))
    assert all(t.bid_price_decimal < t.ask_price_decimal for t in tickers)
    for prev, cur in itertools.pairwise(depth):
        assert cur.first_update_id == prev.final_update_id + 1  # diffs chain without holes
    # exact 8-decimal strings, never floats
    assert all(type(t.price) is str and len(t.price.split(".")[1]) == 8 for t in trades)
    assert sum(t.quantity_decimal for t in trades) == sum(Decimal(t.quantity) for t in trades)


def test_pongs_in_the_recording_copy_each_ping_payload() -> None:
    """The recording holds both directions: every ping the exchange sent got a pong with the same
    payload from boomnet's WebSocket (outbound frames are masked; unmask to compare)."""
    replay = ReplayStream.from_file("binance-sim-btcusdt", str(RECORDINGS))
    rec = replay.recording
    chunks = {IN: [], OUT: []}
    for i, kind in enumerate(rec.kinds):
        if kind in chunks:
            chunks[kind].append(rec.payload(i))
    replay.close()
    inbound = b"".join(chunks[IN])
    decoder = Decoder()
    decoder.feed(inbound[inbound.index(b"\r\n\r\n") + 4 :])
    pings = []
    while True:
        frames = decoder.decode()
        pings += [payload for op, payload in decoder.control if op == Opcode.PING]
        if not frames and not decoder.control:
            break
    pongs = [payload for op, payload in client_frames(b"".join(chunks[OUT][1:])) if op == Opcode.PONG]
    assert len(pings) == PINGS and all(len(p) == 8 for p in pings)
    assert pongs == pings


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parse masked client-to-server frames (small ones, as the endpoint sends)."""
    out, i = [], 0
    while i < len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        assert data[i + 1] & 0x80, "client frames are masked"
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        mask, i = data[i : i + 4], i + 4
        out.append((opcode, bytes(b ^ mask[k % 4] for k, b in enumerate(data[i : i + length]))))
        i += length
    return out
