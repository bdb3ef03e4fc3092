"""Counters the demo keeps per endpoint, the live status line and the closing summary table."""

from __future__ import annotations

import math
import time
from array import array
from typing import Iterable, Sequence

__all__ = ["FeedStats", "DemoContext", "percentile", "status_line", "summary_table", "SUMMARY_COLUMNS"]


class FeedStats:
    """What one endpoint saw. Trade ids are checked for continuity within each connection."""

    __slots__ = (
        "name", "messages", "trades", "book_tickers", "others", "replies", "pings", "connections",
        "errors", "trade_gaps", "trade_dups", "latencies_ms", "_last_trade_id",
    )

    def __init__(self, name: str):
        self.name = name
        self.messages = 0  # data messages decoded (everything but command replies)
        self.trades = 0
        self.book_tickers = 0
        self.others = 0
        self.replies = 0
        self.pings = 0
        self.connections = 0
        self.errors = 0  # connections that ended in a protocol or network error
        self.trade_gaps = 0  # a trade id jumped forward within one connection
        self.trade_dups = 0  # a trade id did not increase within one connection
        self.latencies_ms = array("d")  # receipt time - exchange event time E, per event carrying E
        self._last_trade_id: dict[str, int] = {}

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def connected(self) -> None:
        self.connections += 1
        self._last_trade_id.clear()  # continuity is per connection

    def trade(self, symbol: str, trade_id: int, event_time_ms: int, now_ms: float | None) -> None:
        self.messages += 1
        self.trades += 1
        if now_ms is not None:
            self.latencies_ms.append(now_ms - event_time_ms)
        last = self._last_trade_id.get(symbol)
        if last is not None and trade_id != last + 1:
            if trade_id <= last:
                self.trade_dups += 1
            else:
                self.trade_gaps += 1
        self._last_trade_id[symbol] = trade_id


class DemoContext:
    """The user context handed to every endpoint by the IOService: shared stats and the clock."""

    def __init__(self, names: Iterable[str], *, measure_latency: bool = True):
        self.feeds = {name: FeedStats(name) for name in names}
        self.started = time.monotonic()
        # Latency is receipt wall time minus the exchange's event time E (ms resolution, so it
        # reads ~0.5 ms high on average). Replays measure no latency: their E is history.
        self.clock_ms = _wall_ms if measure_latency else _no_clock


def _wall_ms() -> float:
    return time.time() * 1000.0


def _no_clock() -> None:
    return None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``nan`` for none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def status_line(ctx: DemoContext, previous: dict[str, int], elapsed: float, interval: float) -> str:
    """One line: messages/s per endpoint over the last ``interval`` s, total, reconnects, latency."""
    parts = [f"t={elapsed:5.1f}s"]
    total_rate = 0.0
    recent: list[float] = []
    for name, feed in ctx.feeds.items():
        rate = (feed.messages - previous.get(name, 0)) / interval
        previous[name] = feed.messages
        total_rate += rate
        parts.append(f"{name} {rate:7.0f}/s")
        recent.extend(feed.latencies_ms[-200:])
    recent.sort()
    reconnects = sum(f.reconnects for f in ctx.feeds.values())
    parts.append(f"total {total_rate:7.0f}/s")
    parts.append(f"reconnects {reconnects}")
    parts.append(f"latency p50 {percentile(recent, 0.5):.2f} ms p99 {percentile(recent, 0.99):.2f} ms")
    return " | ".join(parts)


SUMMARY_COLUMNS = (
    "endpoint", "messages", "trades", "tickers", "msgs/s", "conns", "reconnects", "gaps", "dups",
    "p50_ms", "p99_ms", "p99.9_ms", "max_ms",
)


def summary_table(ctx: DemoContext, elapsed: float) -> str:
    """The closing table: one row per endpoint plus a total row, latency percentiles in ms."""
    rows = []
    everything = array("d")
    for feed in ctx.feeds.values():
        everything.extend(feed.latencies_ms)
        rows.append(_row(feed.name, [feed], sorted(feed.latencies_ms), elapsed))
    rows.append(_row("total", list(ctx.feeds.values()), sorted(everything), elapsed))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(SUMMARY_COLUMNS)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(SUMMARY_COLUMNS, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _row(name: str, feeds: list[FeedStats], lat: list[float], elapsed: float) -> list[str]:
    messages = sum(f.messages for f in feeds)
    return [
        name, str(messages), str(sum(f.trades for f in feeds)), str(sum(f.book_tickers for f in feeds)),
        f"{messages / elapsed:.0f}" if elapsed > 0 else "0", str(sum(f.connections for f in feeds)),
        str(sum(f.reconnects for f in feeds)), str(sum(f.trade_gaps for f in feeds)),
        str(sum(f.trade_dups for f in feeds)),
        *(f"{percentile(lat, q):.3f}" if lat else "-" for q in (0.5, 0.99, 0.999)), f"{lat[-1]:.3f}" if lat else "-",
    ]
