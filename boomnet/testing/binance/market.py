"""A random-walk market per symbol that speaks Binance spot payloads (sans-I/O, no boomnet).

Each symbol keeps a full (bounded) order book; depth diffs report every level change, so the
REST snapshot plus the diffs after it rebuild the book exactly, as on Binance.

Prices and quantities are integers in units of 1e-8 and are formatted as 8-decimal strings, as
Binance does ("25.35190000") — no float ever touches them. Trade ids, aggregate-trade ids and
order-book update ids only increase. Event times are the current time in ms.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import orjson

__all__ = ["SymbolMarket", "Profile", "PROFILES", "format_units", "STREAM_KINDS", "parse_stream"]

UNIT = 100_000_000  # 1e-8 units per 1
DEPTH_TICKS = 40  # the simulated book holds levels this many ticks from the top, per side
FULL_TICKS = 20  # ... and every tick of the nearest 20 has a level (so depth20 is always full)


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
        # the full book, price -> qty in units (at most DEPTH_TICKS ticks deep per side)
        self.bids: dict[int, int] = {self.bid - k * p.tick: p.lot * rng.randint(1, p.max_lots) for k in range(FULL_TICKS)}
        self.asks: dict[int, int] = {self.ask + k * p.tick: p.lot * rng.randint(1, p.max_lots) for k in range(FULL_TICKS)}
        self.bids[self.bid], self.asks[self.ask] = self.bid_qty, self.ask_qty
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
        """Move the book top one random-walk step; the new bookTicker payload.

        Every level change goes into the full book (``self.bids`` / ``self.asks``, price ->
        qty in units) and into each depth cadence's pending diff, so a snapshot plus the diffs
        after it rebuild exactly this book."""
        rng, p = self._rng, self.profile
        move = rng.random()
        if move < 0.15 and self.bid > (DEPTH_TICKS + 10) * p.tick:
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
        # Levels the top moved through are gone; then the new top; sometimes a level further out.
        for px in [px for px in self.bids if px > self.bid]:
            self._set(self.bids, 0, px, 0)
        for px in [px for px in self.asks if px < self.ask]:
            self._set(self.asks, 1, px, 0)
        self._set(self.bids, 0, self.bid, self.bid_qty)
        self._set(self.asks, 1, self.ask, self.ask_qty)
        if rng.random() < 0.3:
            depth = p.tick * rng.randint(1, 10)
            if rng.random() < 0.5:
                self._set(self.bids, 0, self.bid - depth, p.lot * rng.randint(0, p.max_lots))
            else:
                self._set(self.asks, 1, self.ask + depth, p.lot * rng.randint(0, p.max_lots))
        # Keep at least the FULL_TICKS nearest ticks per side populated (new resting orders)...
        for k in range(1, FULL_TICKS):
            if self.bid - k * p.tick not in self.bids:
                self._set(self.bids, 0, self.bid - k * p.tick, p.lot * rng.randint(1, p.max_lots))
            if self.ask + k * p.tick not in self.asks:
                self._set(self.asks, 1, self.ask + k * p.tick, p.lot * rng.randint(1, p.max_lots))
        # ... and at most DEPTH_TICKS ticks per side: deeper levels are dropped (and reported so).
        for px in [px for px in self.bids if px < self.bid - DEPTH_TICKS * p.tick]:
            self._set(self.bids, 0, px, 0)
        for px in [px for px in self.asks if px > self.ask + DEPTH_TICKS * p.tick]:
            self._set(self.asks, 1, px, 0)
        return orjson.dumps({
            "u": self.update_id, "s": self.symbol, "b": format_units(self.bid), "B": format_units(self.bid_qty),
            "a": format_units(self.ask), "A": format_units(self.ask_qty),
        })

    def _set(self, book: dict[int, int], side: int, price: int, qty: int) -> None:
        if qty:
            book[price] = qty
        elif book.pop(price, None) is None:
            return  # emptying a level that does not exist changes nothing
        for first, *sides in self._diffs.values():
            if first[0] is None:
                first[0] = self.update_id
            sides[side][price] = qty

    def has_pending_diff(self, cadence_ms: int) -> bool:
        return self._diffs[cadence_ms][0][0] is not None

    def depth_update(self, now_ms: int, cadence_ms: int) -> bytes | None:
        """The diff accumulated since the last call for this cadence (100 or 1000 ms), or None."""
        (first,), bids, asks = self._diffs[cadence_ms]
        if first is None:
            return None
        self._diffs[cadence_ms] = self._empty_diff()
        return orjson.dumps({
            "e": "depthUpdate", "E": now_ms, "s": self.symbol, "U": first, "u": self.update_id,
            "b": [[format_units(px), format_units(q)] for px, q in sorted(bids.items(), reverse=True)],
            "a": [[format_units(px), format_units(q)] for px, q in sorted(asks.items())],
        })

    def snapshot(self, limit: int) -> dict[str, Any]:
        """The REST ``/api/v3/depth`` answer: the best ``limit`` levels per side and their id."""
        return {
            "lastUpdateId": self.update_id,
            "bids": [[format_units(px), format_units(self.bids[px])] for px in sorted(self.bids, reverse=True)[:limit]],
            "asks": [[format_units(px), format_units(self.asks[px])] for px in sorted(self.asks)[:limit]],
        }

    def partial_depth(self, levels: int) -> bytes:
        """A top-``levels`` book snapshot (the ``@depth<N>`` streams)."""
        return orjson.dumps(self.snapshot(levels))

    @staticmethod
    def _empty_diff() -> tuple[list[Any], dict[int, int], dict[int, int]]:
        return [None], {}, {}
