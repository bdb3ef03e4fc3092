"""Book updates per second for 20-level diffs: boomnet.book vs cryptofeed's ``order_book`` C extension
vs ``sortedcontainers``.

    python -m perf.book_bench [--diffs 20000] [--rounds 5]

The same diffs for everyone: 20 ``(price, qty)`` decimal strings per diff (both sides), as a venue
sends them (8 decimals), over a book of ~1000 levels per side around a random-walking mid: ~60%
quantity changes of existing levels, ~20% new levels, ~20% removals (qty ``"0"``). Each variant
starts from the strings (parsing is part of the cost), applies the whole diff, then reads the best
bid and ask once (what a strategy does per update). Variants:

* ``boomnet units``: ``OrderBook(price_scale=8)`` — scaled integers (the default);
* ``boomnet units, pre-validated``: the same with ``checked=False`` (strings a venue decoder
  already validated — what ``endpoints.binance_sync.LocalBook`` uses);
* ``boomnet decimal``: ``OrderBook(price_scale=None)`` — ``Decimal`` levels, same structure;
* ``order_book``: cryptofeed's C extension (``OrderBook().bids[Decimal(p)] = Decimal(q)``);
* ``sortedcontainers``: ``SortedDict`` of ``Decimal`` per side (what most Python trackers use).

Rounds alternate the variants; medians reported, with the 1-minute load average at the start and
the end; every variant must end at the same top of book. ``--clock cpu`` times this thread's CPU
time instead of wall time (for a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Diff = tuple[list[tuple[str, str]], list[tuple[str, str]]]
TICK = 1_000_000  # 0.01 in 1e-8 units
#: --clock: wall time (the figure) or this thread's CPU time (steadier on a loaded, shared machine)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock: list[Callable[[], float]] = [time.perf_counter]


def fmt(units: int) -> str:
    return f"{units // 100_000_000}.{units % 100_000_000:08d}"


def make_diffs(count: int, levels: int = 1000, per_diff: int = 20, seed: int = 5) -> tuple[Diff, list[Diff]]:
    rng = random.Random(seed)
    mid = 60_000 * 100_000_000
    bids = {mid - k * TICK: rng.randint(1, 10_000) * 1000 for k in range(1, levels + 1)}
    asks = {mid + k * TICK: rng.randint(1, 10_000) * 1000 for k in range(1, levels + 1)}
    snapshot = ([(fmt(p), fmt(q)) for p, q in sorted(bids.items(), reverse=True)],
                [(fmt(p), fmt(q)) for p, q in sorted(asks.items())])
    diffs = []
    for _ in range(count):
        mid += rng.choice((-TICK, 0, 0, TICK))
        out: Diff = ([], [])
        for _ in range(per_diff):
            is_bid = rng.random() < 0.5
            side, sign = (bids, -1) if is_bid else (asks, 1)
            roll = rng.random()
            if roll < 0.2 and len(side) > 10:  # remove an existing level
                price = rng.choice(list(side)) if len(side) < 50 else _near(rng, side, mid, sign)
                side.pop(price, None)
                qty = 0
            else:  # change (or, roll < 0.4, add) a level near the top
                price = mid + sign * TICK * rng.randint(1, 60 if roll < 0.4 else 30)
                qty = rng.randint(1, 10_000) * 1000
                side[price] = qty
            out[0 if is_bid else 1].append((fmt(price), fmt(qty) if qty else "0.00000000"))
        # keep the book uncrossed: the mid moved, drop what it moved through
        for p in [p for p in bids if p >= mid]:
            bids.pop(p)
            out[0].append((fmt(p), "0.00000000"))
        for p in [p for p in asks if p <= mid]:
            asks.pop(p)
            out[1].append((fmt(p), "0.00000000"))
        diffs.append(out)
    return snapshot, diffs


def _near(rng: random.Random, side: dict[int, int], mid: int, sign: int) -> int:
    price = mid + sign * TICK * rng.randint(1, 60)
    return price if price in side else next(iter(side))


# --- variants: each returns diffs/s -------------------------------------------------------------


def run_boomnet(snapshot: Diff, diffs: list[Diff], scale: int | None, checked: bool = True) -> tuple[float, Any]:
    from boomnet.book import OrderBook

    book = OrderBook(price_scale=scale, qty_scale=scale, checked=checked)
    book.reset(*snapshot, update_id=0)
    apply, best_bid, best_ask = book.apply, book.best_bid, book.best_ask
    start = _clock[0]()
    for bids, asks in diffs:
        apply(bids, asks)
        best_bid()
        best_ask()
    elapsed = _clock[0]() - start
    top = book.top(1)
    return len(diffs) / elapsed, (book.to_decimal(top[0][0].price), book.to_decimal(top[1][0].price))


def run_order_book(snapshot: Diff, diffs: list[Diff]) -> tuple[float, Any]:
    from order_book import OrderBook

    book = OrderBook()
    for p, q in snapshot[0]:
        book.bids[Decimal(p)] = Decimal(q)
    for p, q in snapshot[1]:
        book.asks[Decimal(p)] = Decimal(q)
    bids_side, asks_side = book.bids, book.asks
    start = _clock[0]()
    for bids, asks in diffs:
        for side, levels in ((bids_side, bids), (asks_side, asks)):
            for p, q in levels:
                price, qty = Decimal(p), Decimal(q)
                if qty:
                    side[price] = qty
                elif price in side:
                    del side[price]
        bids_side.index(0)
        asks_side.index(0)
    elapsed = _clock[0]() - start
    return len(diffs) / elapsed, (bids_side.index(0)[0], asks_side.index(0)[0])


def run_sortedcontainers(snapshot: Diff, diffs: list[Diff]) -> tuple[float, Any]:
    from sortedcontainers import SortedDict

    bids_side = SortedDict({Decimal(p): Decimal(q) for p, q in snapshot[0]})
    asks_side = SortedDict({Decimal(p): Decimal(q) for p, q in snapshot[1]})
    start = _clock[0]()
    for bids, asks in diffs:
        for side, levels in ((bids_side, bids), (asks_side, asks)):
            for p, q in levels:
                price, qty = Decimal(p), Decimal(q)
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        bids_side.peekitem(-1)
        asks_side.peekitem(0)
    elapsed = _clock[0]() - start
    return len(diffs) / elapsed, (bids_side.peekitem(-1)[0], asks_side.peekitem(0)[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.book_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--diffs", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall (default; the figure) or cpu (this thread's CPU time: for a loaded machine)")
    args = p.parse_args(argv)
    _clock[0] = CLOCKS[args.clock]
    load_start = os.getloadavg()[0]
    snapshot, diffs = make_diffs(args.diffs)
    levels = sum(len(b) + len(a) for b, a in diffs) / len(diffs)
    variants: dict[str, Callable[[], tuple[float, Any]]] = {
        "boomnet units": lambda: run_boomnet(snapshot, diffs, 8),
        "boomnet units, pre-validated": lambda: run_boomnet(snapshot, diffs, 8, checked=False),
        "boomnet decimal": lambda: run_boomnet(snapshot, diffs, None),
        "sortedcontainers": lambda: run_sortedcontainers(snapshot, diffs),
    }
    try:
        import order_book  # noqa: F401

        variants["order_book (C)"] = lambda: run_order_book(snapshot, diffs)
    except ImportError:
        print("order_book is not installed: skipped")
    rates: dict[str, list[float]] = {k: [] for k in variants}
    tops: dict[str, Any] = {}
    for _ in range(args.rounds):
        for label, fn in variants.items():
            rate, tops[label] = fn()
            rates[label].append(rate)
    if len({str(t) for t in tops.values()}) != 1:  # every variant must end at the same book top
        raise SystemExit(f"variants disagree on the final top of book: {tops}")
    base = statistics.median(rates["sortedcontainers"])
    print(f"{args.diffs} diffs, {levels:.1f} levels each; clock {args.clock}; "
          f"load {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    for label, values in rates.items():
        med = statistics.median(values)
        print(json.dumps({"variant": label, "diffs_per_s": round(med), "levels_per_s": round(med * levels),
                          "vs_sortedcontainers": round(med / base, 2), "rounds": [round(v) for v in values]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
