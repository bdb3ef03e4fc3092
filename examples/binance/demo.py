"""The Binance feed demo: three endpoints on one IOService against the embedded exchange.

    python -m examples.binance                       # 15 s against the embedded exchange
    python -m examples.binance --duration 0          # until Ctrl-C
    python -m examples.binance --record session      # also record into recordings/session-<symbol>.bnrec
    python -m examples.binance --replay session      # replay those files as fast as possible
    python -m examples.binance --live                # real Binance (needs internet)

A status line goes to stderr about once a second; the summary table goes to stdout at the end.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from boomnet.service import (
    DirectSelector,
    Disconnect,
    DisconnectKind,
    EpollSelector,
    IOService,
    IoUringSelector,
    SelectorUnavailable,
)
from endpoints.binance import LIVE_URL, REPLAY_URL, AggTrade, BinanceEndpoint, BookTicker, DepthUpdate, Trade
from endpoints.binance_book import LIVE_REST_URL, BinanceBooks, DepthSnapshots

from .stats import DemoContext, status_line, summary_table

log = logging.getLogger("examples.binance")

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "recordings"
SELECTORS = {"epoll": EpollSelector, "direct": DirectSelector, "uring": IoUringSelector}
_FAILURES = (DisconnectKind.ERROR, DisconnectKind.USER_ERROR, DisconnectKind.CONNECT_FAILED)


class DemoFeed(BinanceEndpoint):
    """One symbol's feed: counts messages and measures latency into the shared context."""

    def __init__(self, symbol: str, kinds: list[str], **options: Any):
        super().__init__([f"{symbol}@{kind}" for kind in kinds], **options)
        self.name = symbol
        #: round trips of GET_PROPERTY (ms): the stream API's request/response, through boomnet.rpc
        self.rpc_ms: list[float] = []
        self.rpc_failed = 0
        self.every(1.0, self._ask_property)

    def _ask_property(self, ws: Any, ctx: DemoContext) -> None:
        started = time.perf_counter()

        def answered(call: Any) -> None:
            if call.error is None and call.result.result is True:
                self.rpc_ms.append((time.perf_counter() - started) * 1000.0)
            else:
                self.rpc_failed += 1

        self.command("GET_PROPERTY", ["combined"], answered)

    def on_connected(self, ws: Any, ctx: DemoContext) -> None:
        super().on_connected(ws, ctx)
        ctx.feeds[self.name].connected()

    def on_trade(self, trade: Trade, ctx: DemoContext) -> None:
        ctx.feeds[self.name].trade(trade.symbol, trade.trade_id, trade.event_time, ctx.clock_ms())

    def on_book_ticker(self, ticker: BookTicker, ctx: DemoContext) -> None:
        feed = ctx.feeds[self.name]
        feed.messages += 1
        feed.book_tickers += 1

    def on_agg_trade(self, trade: AggTrade, ctx: DemoContext) -> None:
        self._other(trade.event_time, ctx)

    def on_depth(self, update: DepthUpdate, ctx: DemoContext) -> None:
        self._other(update.event_time, ctx)

    def on_partial_depth(self, book: Any, ctx: DemoContext) -> None:
        feed = ctx.feeds[self.name]
        feed.messages += 1
        feed.others += 1

    def _other(self, event_time: int, ctx: DemoContext) -> None:
        feed = ctx.feeds[self.name]
        feed.messages += 1
        feed.others += 1
        now_ms = ctx.clock_ms()
        if now_ms is not None:
            feed.latencies_ms.append(now_ms - event_time)

    def poll(self, ws: Any, ctx: DemoContext) -> None:
        pings = self.pings
        super().poll(ws, ctx)
        if self.pings != pings:
            ctx.feeds[self.name].pings += self.pings - pings

    def on_disconnect(self, reason: Disconnect, ctx: DemoContext) -> bool:
        if reason.kind in _FAILURES:
            ctx.feeds[self.name].errors += 1
        return super().on_disconnect(reason, ctx)


def spawn_exchange(rate: float, ping_interval: float, seed: int | None) -> tuple[subprocess.Popen, dict]:
    """Start ``boomnet.testing.binance.exchange`` as a process; return it and its ``{"url", "ca_file"}``."""
    cmd = [sys.executable, "-m", "boomnet.testing.binance.exchange", "--rate", str(rate), "--ping-interval", str(ping_interval)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    ready, _, _ = select.select([proc.stdout], [], [], 20.0)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        raise SystemExit(f"the embedded exchange did not start (exit code {proc.poll()})")
    return proc, json.loads(line)


def build_feeds(args: argparse.Namespace, exchange: dict | None) -> list[DemoFeed]:
    kinds = args.streams.split(",")
    if args.replay:
        feeds = []
        for path in sorted(glob.glob(str(RECORDINGS / f"{args.replay}-*.bnrec"))):
            symbol = Path(path).stem[len(args.replay) + 1:]
            if symbol.isalnum():  # skip "<name>-<symbol>-2" reconnection files
                feeds.append(DemoFeed(symbol, kinds, base_url=REPLAY_URL).replay(Path(path).stem, str(RECORDINGS)))
        if not feeds:
            raise SystemExit(f"no recordings {RECORDINGS}/{args.replay}-<symbol>.bnrec")
        return feeds
    options: dict[str, Any] = {"base_url": LIVE_URL}  # --live: production, chosen explicitly
    if exchange is not None:
        options = {"base_url": exchange["url"], "ca_file": exchange["ca_file"]}
    return [
        DemoFeed(
            symbol, kinds, record=f"{args.record}-{symbol}" if args.record else None,
            record_directory=str(RECORDINGS), **options,
        )
        for symbol in args.symbols.split(",")
    ]


def build_books(args: argparse.Namespace, exchange: dict | None) -> list[Any]:
    """``--book``: local books (diffs over WebSocket, snapshots over HTTP) on the same service."""
    if args.replay or not args.book:
        return []
    if exchange is not None:
        rest = DepthSnapshots(exchange["url"].replace("wss://", "https://"), ca_file=exchange["ca_file"])
        books = BinanceBooks(args.book.split(","), base_url=exchange["url"], ca_file=exchange["ca_file"], snapshots=rest)
    else:
        rest = DepthSnapshots(LIVE_REST_URL)
        books = BinanceBooks(args.book.split(","), base_url=LIVE_URL, snapshots=rest)
    return [rest, books]


def book_lines(books: list[Any]) -> list[str]:
    """One line per local book: state, best bid/ask, spread, levels, resyncs."""
    lines = []
    for ep in books:
        for symbol, local in getattr(ep, "books", {}).items():
            b, bid, ask = local.book, local.book.best_bid(), local.book.best_ask()
            nb, na = b.levels()
            top = (f"bid {b.to_decimal(bid.price)} ask {b.to_decimal(ask.price)} spread {b.to_decimal(ask.price - bid.price)}"
                   if bid and ask else "bid - ask -")
            lines.append(f"book {symbol} {local.state.value} {top} levels {nb}/{na} id {b.update_id} "
                         f"resyncs {local.resyncs}")
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        selector = SELECTORS[args.selector]()
    except SelectorUnavailable as exc:
        print(f"--selector {args.selector} is not available here: {exc}", file=sys.stderr)
        return 2
    exchange_proc = None
    exchange = None
    if not args.replay and not args.live:
        exchange_proc, exchange = spawn_exchange(args.rate, args.ping_interval, args.seed)
        log.info("embedded exchange at %s", exchange["url"])
    try:
        feeds = build_feeds(args, exchange)
        books = build_books(args, exchange)
        ctx = DemoContext((feed.name for feed in feeds), measure_latency=not args.replay)
        elapsed = loop(args, selector, [*feeds, *books], ctx)
    finally:
        if exchange_proc is not None:
            exchange_proc.stdin.close()  # EOF on stdin: the exchange shuts down
            try:
                exchange_proc.wait(10)
            except subprocess.TimeoutExpired:
                exchange_proc.kill()
    print(summary_table(ctx, elapsed))
    rtts = sorted(ms for feed in feeds for ms in feed.rpc_ms)
    if rtts:
        print(f"GET_PROPERTY round trips (boomnet.rpc correlation): {len(rtts)}, "
              f"p50 {rtts[len(rtts) // 2]:.2f} ms, max {rtts[-1]:.2f} ms, "
              f"failed {sum(f.rpc_failed for f in feeds)}")
    for line in book_lines(books):
        print(line)
    if args.replay:
        total = sum(f.messages for f in ctx.feeds.values())
        print(f"replayed {total} messages in {elapsed:.3f} s: {total / elapsed:,.0f} msgs/s")
    failures = sum(f.errors for f in ctx.feeds.values())
    return 1 if failures or not any(f.messages for f in ctx.feeds.values()) else 0


def loop(args: argparse.Namespace, selector: Any, feeds: list[Any], ctx: DemoContext) -> float:
    """Busy-poll until the duration is over, Ctrl-C, or (replay) every recording has ended."""
    service = IOService(selector)
    for feed in feeds:
        service.register(feed)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    start = time.monotonic()
    end = start + args.duration if args.duration > 0 else float("inf")
    next_status = start + 1.0
    previous: dict[str, int] = {}
    if args.plot:
        from perf.plot import RunSamples, plot_run  # matplotlib only when asked for
    samples = RunSamples() if args.plot else None
    poll = service.poll
    try:
        while not stop:
            for _ in range(256):  # look at the clock once per batch of polls
                poll(ctx)
            now = time.monotonic()
            if args.replay and len(service) == 0:
                break
            if now >= next_status and not args.replay:
                print(status_line(ctx, previous, now - start, 1.0 + now - next_status), file=sys.stderr, flush=True)
                if samples is not None:
                    samples.sample(ctx.feeds, now - start)
                for line in book_lines(feeds):
                    print(f"  {line}", file=sys.stderr, flush=True)
                next_status = now + 1.0
            if now >= end:
                break
    except KeyboardInterrupt:
        pass
    finally:
        elapsed = time.monotonic() - start
        for handle, _ in service:
            ws = service.target(handle)
            if ws is not None:
                ws.close()  # sends the close frame; it only starts the close handshake, so
                ws.stream.close()  # end the stream too (finishes a recording with its END record)
        service.close()
        if samples is not None and samples.t:
            print(f"chart: {plot_run(samples, args.plot)}", file=sys.stderr)
    return elapsed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m examples.binance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=15.0, help="seconds to run (0: until Ctrl-C); default 15")
    p.add_argument("--selector", choices=sorted(SELECTORS), default="epoll")
    p.add_argument("--symbols", default="btcusdt,ethusdt,xrpusdt", help="comma-separated; one connection each")
    p.add_argument("--streams", default="trade,bookTicker", help="stream kinds per symbol, comma-separated")
    p.add_argument("--rate", type=float, default=200.0, help="exchange market events/s per symbol")
    p.add_argument("--ping-interval", type=float, default=20.0, help="exchange ping interval, s")
    p.add_argument("--seed", type=int, default=None, help="exchange random seed")
    p.add_argument("--book", default="btcusdt", metavar="SYMBOLS",
                   help="keep local order books for these symbols (comma-separated; '' for none); default btcusdt")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--record", metavar="NAME", help="record into recordings/NAME-<symbol>.bnrec")
    mode.add_argument("--replay", metavar="NAME", help="replay recordings/NAME-<symbol>.bnrec as fast as possible")
    mode.add_argument("--live", action="store_true", help=f"connect to real Binance ({LIVE_URL})")
    p.add_argument("--plot", metavar="FILE", help="write a throughput and latency chart of the run (matplotlib)")
    p.add_argument("-v", "--verbose", action="store_true", help="log connection events")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)
