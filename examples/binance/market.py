"""A random-walk market per symbol that speaks Binance spot payloads (sans-I/O, no boomnet).

Prices and quantities are integers in units of 1e-8 and are formatted as 8-decimal strings, as
Binance does ("25.35190000") — no float ever touches them. Trade ids, aggregate-trade ids and
order-book update ids only increase. Event times are the current time in ms.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import orjson

__all__ = ["SymbolMarket", "Profile", "PROFILES", "format_units", "STREAM_KINDS", "parse_stream"]

UNIT = 100_000_000  # 1e-8 units per 1


def format_units(units: int) -> str:
    """Integer 1e-8 units as Binance's 8-decimal string (exact)."""
    return f"{units // UNIT}.{units % UNIT:08d}"


class Profile(NamedTuple):
    start_price: int  # in 1e-8 units
    tick: int  # price step, 1e-8 units
    lot: int  # quantity step, 1e-8 units
    max_lots: int  # largest trade / level size in lots


PROFILES = {
    "btcusdt": Profile(60_000 * UNIT, UNIT // 100, 1_000, 5_000),
    "ethusdt": Profile(3_000 * UNIT, UNIT // 100, 10_000, 5_000),
    "xrpusdt": Profile(UNIT // 2, 10_000, UNIT, 20_000),
    "bnbusdt": Profile(600 * UNIT, UNIT // 100, 100_000, 2_000),
}
DEFAULT_PROFILE = Profile(100 * UNIT, UNIT // 100, UNIT // 100, 10_000)

# Stream kinds the simulator serves: "<symbol>@<kind>".
STREAM_KINDS = frozenset(
    ["trade", "aggTrade", "bookTicker", "depth", "depth@100ms"]
    + [f"depth{n}{suffix}" for n in (5, 10, 20) for suffix in ("", "@100ms")]
)


def parse_stream(name: str) -> tuple[str, str] | None:
    """``"btcusdt@depth5@100ms"`` -> ``("btcusdt", "depth5@100ms")``, or ``None`` if unsupported."""
    symbol, sep, kind = name.partition("@")
    if not sep or not symbol.isalnum() or not symbol.islower() or kind not in STREAM_KINDS:
        return None
    return symbol, kind


class SymbolMarket:
    """One symbol's book top, trade tape and depth-diff accumulators."""

    def __init__(self, name: str, rng: random.Random):
        self.name = name
        self.symbol = name.upper()
        self.profile = PROFILES.get(name, DEFAULT_PROFILE)
        self._rng = rng
        p = self.profile
        self.bid = p.start_price
        self.ask = p.start_price + p.tick
        self.bid_qty = p.lot * rng.randint(1, p.max_lots)
        self.ask_qty = p.lot * rng.randint(1, p.max_lots)
        self.trade_id = rng.randint(1_000_000, 9_000_000)
        self.agg_trade_id = self.trade_id // 2
        self.update_id = rng.randint(10_000_000, 90_000_000)
        # depth diffs since the last flush, per cadence: (first update id, {price: qty}) per side
        self._diffs = {100: self._empty_diff(), 1000: self._empty_diff()}

    # --- events -------------------------------------------------------------------------------

    def taker_order(self, now_ms: int) -> tuple[list[tuple[int, bytes]], bytes]:
        """A market order that hits one side: its trades ``[(trade_id, payload)]`` and aggTrade."""
        rng, p = self._rng, self.profile
        buyer_is_maker = rng.random() < 0.5  # seller-initiated: trades at the bid
        price = self.bid if buyer_is_maker else self.ask
        price_s = format_units(price)
        first = self.trade_id + 1
        trades = []
        total = 0
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            self.trade_id += 1
            qty = p.lot * rng.randint(1, p.max_lots // 10 or 1)
            total += qty
            trades.append((self.trade_id, orjson.dumps({
                "e": "trade", "E": now_ms, "s": self.symbol, "t": self.trade_id, "p": price_s,
                "q": format_units(qty), "T": now_ms, "m": buyer_is_maker, "M": True,
            })))
        self.agg_trade_id += 1
        agg = orjson.dumps({
            "e": "aggTrade", "E": now_ms, "s": self.symbol, "a": self.agg_trade_id, "p": price_s,
            "q": format_units(total), "f": first, "l": self.trade_id, "T": now_ms, "m": buyer_is_maker, "M": True,
        })
        return trades, agg

    def quote_change(self) -> bytes:
        """Move the book top one random-walk step; the new bookTicker payload."""
        rng, p = self._rng, self.profile
        move = rng.random()
        if move < 0.15 and self.bid > 10 * p.tick:
            self.bid -= p.tick
            self.ask -= p.tick
        elif move < 0.30:
            self.bid += p.tick
            self.ask += p.tick
        elif move < 0.40:
            self.ask = self.bid + p.tick * rng.randint(1, 3)
        self.bid_qty = p.lot * rng.randint(1, p.max_lots)
        self.ask_qty = p.lot * rng.randint(1, p.max_lots)
        self.update_id += 1
        for first, bids, asks in self._diffs.values():
            if first[0] is None:
                first[0] = self.update_id
            bids[self.bid] = self.bid_qty
            asks[self.ask] = self.ask_qty
            if rng.random() < 0.3:  # a level further out changes (or empties) too
                depth = p.tick * rng.randint(1, 10)
                side, price = (bids, self.bid - depth) if rng.random() < 0.5 else (asks, self.ask + depth)
                side[price] = p.lot * rng.randint(0, p.max_lots)
        return orjson.dumps({
            "u": self.update_id, "s": self.symbol, "b": format_units(self.bid), "B": format_units(self.bid_qty),
            "a": format_units(self.ask), "A": format_units(self.ask_qty),
        })

    def depth_update(self, now_ms: int, cadence_ms: int) -> bytes | None:
        """The diff accumulated since the last call for this cadence (100 or 1000 ms), or None."""
        (first,), bids, asks = self._diffs[cadence_ms]
        if first is None:
            return None
        self._diffs[cadence_ms] = self._empty_diff()
        # Levels the top has since moved through are gone from the book: report them emptied.
        for px in bids:
            if px > self.bid:
                bids[px] = 0
        for px in asks:
            if px < self.ask:
                asks[px] = 0
        return orjson.dumps({
            "e": "depthUpdate", "E": now_ms, "s": self.symbol, "U": first, "u": self.update_id,
            "b": [[format_units(px), format_units(q)] for px, q in sorted(bids.items(), reverse=True)],
            "a": [[format_units(px), format_units(q)] for px, q in sorted(asks.items())],
        })

    def partial_depth(self, levels: int) -> bytes:
        """A top-``levels`` book snapshot around the current top."""
        rng, p = self._rng, self.profile
        bids = [[format_units(self.bid - i * p.tick), format_units(self.bid_qty if i == 0 else p.lot * rng.randint(1, p.max_lots))]
                for i in range(levels)]
        asks = [[format_units(self.ask + i * p.tick), format_units(self.ask_qty if i == 0 else p.lot * rng.randint(1, p.max_lots))]
                for i in range(levels)]
        return orjson.dumps({"lastUpdateId": self.update_id, "bids": bids, "asks": asks})

    @staticmethod
    def _empty_diff() -> tuple[list, dict[int, int], dict[int, int]]:
        return [None], {}, {}
