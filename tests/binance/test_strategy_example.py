"""How a user tests a strategy on a replay: the same endpoint class that runs live, fed a recording.

The strategy below keeps a volume-weighted average price of trades and the latest mid price from
book tickers, in exact decimals, and counts trades printed away from the mid it saw last. The
test replays a committed recording (no network, deterministic, milliseconds) and checks the result
against a second, independent computation straight from the recorded JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boomnet.service import DirectSelector, IOService
from boomnet.stream import ReplayStream
from boomnet.stream.recording import IN
from endpoints.binance import REPLAY_URL, BinanceEndpoint, BookTicker, Trade

from .helpers import RECORDINGS, run_until


class MidAndVwap(BinanceEndpoint):
    """The user's strategy: VWAP of trades, last mid, and a count of trades off the mid."""

    def __init__(self, symbol: str, **options: Any):
        super().__init__([f"{symbol}@trade", f"{symbol}@bookTicker"], base_url=REPLAY_URL, **options)
        self.notional = Decimal(0)
        self.volume = Decimal(0)
        self.mid: Decimal | None = None

    def on_trade(self, trade: Trade, ctx: dict) -> None:
        price, qty = trade.price_decimal, trade.quantity_decimal
        self.notional += price * qty
        self.volume += qty
        if self.mid is not None:
            ctx["with_mid"] = ctx.get("with_mid", 0) + 1
            if price != self.mid:
                ctx["off_mid"] = ctx.get("off_mid", 0) + 1

    def on_book_ticker(self, ticker: BookTicker, ctx: dict) -> None:
        self.mid = ticker.mid_decimal

    @property
    def vwap(self) -> Decimal:
        return self.notional / self.volume


def test_vwap_and_mid_on_a_replay() -> None:
    strategy = MidAndVwap("btcusdt").replay("binance-sim-btcusdt", str(RECORDINGS))
    ctx: dict = {}
    with IOService(DirectSelector()) as service:
        service.register(strategy)
        run_until(service, lambda: len(service) == 0, ctx)  # the replay ends -> deregistered

    expected_notional, expected_volume = independent_totals("binance-sim-btcusdt")
    assert strategy.notional == expected_notional and strategy.volume == expected_volume
    assert strategy.vwap.quantize(Decimal("0.00000001")) == Decimal("60000.11704554")
    assert strategy.mid == Decimal("60000.165")
    # 2 of the 282 trades came before the first book ticker; a taker trade prints at the bid or
    # the ask, never at the mid
    assert ctx["with_mid"] == ctx["off_mid"] == 280


def independent_totals(name: str) -> tuple[Decimal, Decimal]:
    """Notional and volume from the recorded inbound bytes with the stdlib json: no WebSocket
    decoder, no orjson, no endpoint code."""
    replay = ReplayStream.from_file(name, str(RECORDINGS))
    data = b"".join(replay.recording.payload(i) for i, kind in enumerate(replay.recording.kinds) if kind == IN)
    replay.close()
    notional = volume = Decimal(0)
    start = 0
    marker = b'{"stream":"btcusdt@trade","data":'
    while (start := data.find(marker, start)) >= 0:
        end = data.index(b"}}", start) + 2
        trade = json.loads(data[start:end], parse_float=Decimal)["data"]
        notional += Decimal(trade["p"]) * Decimal(trade["q"])
        volume += Decimal(trade["q"])
        start = end
    return notional, volume
