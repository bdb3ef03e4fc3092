"""Typed Binance records per second: boomnet's msgspec path vs its old NamedTuple path and peers.

    python -m perf.binance_records [--count 300000] [--rounds 3]

Messages: combined-stream payloads (``{"stream":..,"data":..}``) from the embedded exchange's
market model (``boomnet.testing.binance.market``), generated at run time, never committed. Scenarios:
``trade`` (``@trade`` only), ``aggTrade`` (``@aggTrade`` only: the stream cryptofeed maps to
trades) and ``mixed`` (trade 45% / bookTicker 45% / 20-level ``@depth@100ms`` diffs 10%).
Every handler reads one field of the record and counts it.

Two kinds of measurement, each printed with what it includes:

* ``replay``: the scenario's frames are sent once by a raw socket server into a WebSocket over a
  ``RecordedStream`` (a real recording file, in a temporary directory), then replayed through
  ``BinanceEndpoint.replay`` on ``IOService(DirectSelector())``: framing, decoding, dispatch, the
  handler — what a user's replayed strategy costs (loading and verifying the recording included).
  ``new`` is this branch's endpoint; ``old`` the NamedTuple endpoint before the msgspec change,
  ``session-start`` the msgspec endpoint with per-record ``__post_init__`` checks (both loaded
  from git, see :data:`EARLIER`, when ``git`` can show them).
* ``live``: the same frames written at once by a raw socket server (plain ws:// on loopback,
  one ``sendall``) to ``BinanceEndpoint`` on ``IOService(EpollSelector())`` vs a picows client
  (uvloop) that does ``orjson.loads`` + a NamedTuple + a handler per frame; records/s from the
  first record to the last (kernel copies and framing included for both).
* ``decode``: the payload bytes in a list, no framing, one record per payload into the handler:
  ``new`` (the endpoint's batch loop: msgspec decoding, the decimal check, dispatch),
  ``orjson+NamedTuple`` (what a user hand-writes on picows: ``orjson.loads``, unwrap, build a NamedTuple, no type checks),
  ``cryptofeed`` (``Binance.message_handler``: json with Decimal, normalise into its Trade/Ticker,
  awaited callback; driven without its network layer; aggTrade and bookTicker only).

Rounds alternate the variants (A, B, C, A, B, C, ...); the median of the rounds is reported.
Each scenario runs in a fresh process (``--shared-process``: all in this one, which measured the
aggTrade replay ~8% slower when it ran after the trade scenario).
Every variant's record count is checked against the number of messages. Prints one JSON object
per line, a summary table, then the issue's targets as ratios of named rows (medians):

* ``trade``: ``replay new`` >= 1 M records/s; ``replay new`` / ``live picows+orjson+NamedTuple``
  >= 2 (the replay is the issue's measure; picows has no replay, so its peer row is the live one:
  same frames, loopback TCP, kernel copies included — a cost boomnet's replay does not pay, which
  is why ``live boomnet`` / ``live picows+orjson+NamedTuple`` is printed beside it).
* ``aggTrade``: ``replay new`` / ``decode cryptofeed`` >= 5 (cryptofeed's handler called directly:
  no framing for it, framing and loading the recording included for boomnet); ``decode new`` /
  ``decode cryptofeed`` beside it is like for like (payloads in memory for both).

Load (1-min average) is printed at the start and the end; the endpoint's C decimal check and
boomnet.ws's C framing must be built (``pip install -e .``) — their status is printed, and a
figure taken without them is not the fast path.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson

REPO = Path(__file__).resolve().parents[1]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SYMBOLS = ("btcusdt", "ethusdt", "xrpusdt")
SCENARIOS = ("trade", "aggTrade", "mixed")
#: --clock: wall time (the figure), or this thread's CPU time (steadier on a shared, loaded
#: machine: time spent descheduled is not counted; cache and memory contention still are)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock: list[Callable[[], float]] = [time.perf_counter]


def clock() -> float:
    return _clock[0]()


# --- messages ------------------------------------------------------------------------------------


def payloads(scenario: str, count: int, seed: int = 7) -> list[bytes]:
    """``count`` combined-stream payloads for ``scenario`` (deterministic for a seed)."""
    from boomnet.testing.binance.market import SymbolMarket

    rng = random.Random(seed)
    markets = [SymbolMarket(s, random.Random(rng.random())) for s in SYMBOLS]
    out: list[bytes] = []
    now = 1_700_000_000_000
    while len(out) < count:
        m = rng.choice(markets)
        now += 1
        roll = rng.random() if scenario == "mixed" else 1.0
        if roll < 0.45:
            out.append(_wrap(f"{m.name}@bookTicker", m.quote_change()))
        elif roll < 0.55:
            for _ in range(20):  # ~20 changed levels per diff
                m.quote_change()
            diff = m.depth_update(now, 100)
            if diff is not None:
                out.append(_wrap(f"{m.name}@depth@100ms", diff))
        else:
            trades, agg = m.taker_order(now)
            if scenario == "aggTrade":
                out.append(_wrap(f"{m.name}@aggTrade", agg))
            else:
                out.extend(_wrap(f"{m.name}@trade", p) for _, p in trades)
    return out[:count]


def _wrap(stream: str, payload: bytes) -> bytes:
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def streams_of(scenario: str) -> list[str]:
    kinds = {"trade": ["trade"], "aggTrade": ["aggTrade"], "mixed": ["trade", "bookTicker", "depth@100ms"]}[scenario]
    return [f"{s}@{k}" for s in SYMBOLS for k in kinds]


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def record(messages: list[bytes], name: str, directory: str) -> None:
    """Send ``messages`` as WebSocket frames from a raw socket server thread into a boomnet
    WebSocket over a RecordedStream: the recording a replay then reads."""
    from boomnet.errors import ConnectionClosed
    from boomnet.stream.socket_stream import SocketStream
    from boomnet.ws import WebSocket

    client, server = socket.socketpair()

    def serve() -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += server.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        server.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        server.sendall(b"".join(_frame(m) for m in messages))
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    # a perf run writes ~50 MB at once: let the writer queue grow rather than drop the recording
    stream = SocketStream.from_socket(client).into_recorded(name, directory=directory, max_pending_blocks=4096)
    ws = WebSocket(stream, "ws://localhost/stream")
    deadline = time.monotonic() + 120
    got = 0
    try:
        while time.monotonic() < deadline:
            select.select([ws.fileno()], [], [], 0.05)
            if not ws.establish():
                continue
            got += sum(1 for _ in ws.read_batch())
    except ConnectionClosed:
        pass
    finally:
        stream.close()
        thread.join(10)
    if got != len(messages):
        raise SystemExit(f"recorded {got} of {len(messages)} frames")


# --- the endpoint variants -----------------------------------------------------------------------


#: earlier endpoints, replayed beside this one: label -> git commit (the package as it was there)
EARLIER = {
    "replay old": os.environ.get("OLD_REF", "85d0a4b"),  # the NamedTuple endpoint, before msgspec
    "replay session-start": os.environ.get("START_REF", "767019c"),  # msgspec + __post_init__ checks
}


def earlier_package(tmp: str, package: str, ref: str) -> Any:
    """The ``endpoints`` package at ``ref`` imported as ``package`` from ``tmp`` (None if git cannot)."""
    target = Path(tmp) / package
    target.mkdir(exist_ok=True)
    try:
        names = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:endpoints"], cwd=REPO,
                               capture_output=True, check=True, text=True).stdout.split()
        for name in names:
            if name.endswith(".py"):
                text = subprocess.run(["git", "show", f"{ref}:endpoints/{name}"], cwd=REPO,
                                      capture_output=True, check=True, text=True).stdout
                (target / name).write_text(text)
    except (OSError, subprocess.CalledProcessError):
        return None
    if tmp not in sys.path:
        sys.path.insert(0, tmp)
    return importlib.import_module(f"{package}.binance")


def counting_endpoint(module: Any) -> Any:
    """A BinanceEndpoint subclass of ``module`` whose handlers read one field and count."""

    class Counter(module.BinanceEndpoint):  # type: ignore[misc]
        n = 0
        last: Any = None

        def on_trade(self, trade: Any, ctx: Any) -> None:
            self.n += 1
            self.last = trade.price

        on_agg_trade = on_trade

        def on_book_ticker(self, ticker: Any, ctx: Any) -> None:
            self.n += 1
            self.last = ticker.bid_price

        def on_depth(self, update: Any, ctx: Any) -> None:
            self.n += 1
            self.last = update.final_update_id

    return Counter


def run_replay(module: Any, scenario: str, name: str, directory: str, expected: int) -> float:
    """Records/s of one replay of ``name`` through ``module``'s endpoint."""
    from boomnet.service import DirectSelector, IOService

    options = {"base_url": getattr(module, "REPLAY_URL", "wss://replay.invalid")}
    ep = counting_endpoint(module)(streams_of(scenario), **options)
    with IOService[Any](DirectSelector()) as service:
        service.register(ep.replay(name, directory))
        poll = service.poll
        start = clock()
        while len(service):
            for _ in range(64):
                poll(None)
        elapsed = clock() - start
    if ep.n != expected:
        raise SystemExit(f"{module.__name__}: {ep.n} records of {expected}")
    return expected / elapsed


# --- the decode-loop variants --------------------------------------------------------------------


class NtTrade(NamedTuple):
    symbol: str
    event_time: int
    trade_id: int
    price: str
    quantity: str
    trade_time: int
    buyer_is_maker: bool


class NtBook(NamedTuple):
    symbol: str
    update_id: int
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str


class NtDepth(NamedTuple):
    symbol: str
    event_time: int
    first_update_id: int
    final_update_id: int
    bids: list[Any]
    asks: list[Any]


def loop_handwritten(messages: list[Any]) -> float:
    """What a picows user writes: orjson, unwrap, NamedTuple, a handler (no type checks)."""
    loads = orjson.loads
    state = {"n": 0}

    def handler(record: Any) -> None:
        state["n"] += 1
        state["last"] = record[3]

    start = clock()
    for payload in messages:
        msg = loads(payload)
        d = msg["data"]
        e = d.get("e")
        if e == "trade":
            rec: Any = NtTrade(d["s"], d["E"], d["t"], d["p"], d["q"], d["T"], d["m"])
        elif e == "aggTrade":
            rec = NtTrade(d["s"], d["E"], d["a"], d["p"], d["q"], d["T"], d["m"])
        elif e == "depthUpdate":
            rec = NtDepth(d["s"], d["E"], d["U"], d["u"], d["b"], d["a"])
        else:
            rec = NtBook(d["s"], d["u"], d["b"], d["B"], d["a"], d["A"])
        handler(rec)
    elapsed = clock() - start
    assert state["n"] == len(messages)
    return len(messages) / elapsed


def loop_new(messages: list[Any], scenario: str) -> float:
    """This branch's path minus framing: the endpoint's own batch loop (decode, decimal check,
    dispatch) over ``boomnet.ws.Frame`` objects holding the payloads, 1024 frames a batch."""
    from boomnet.ws import Frame, Opcode
    from endpoints.binance import REPLAY_URL

    ep = counting_endpoint(importlib.import_module("endpoints.binance"))(streams_of(scenario), base_url=REPLAY_URL)
    frames = [Frame(Opcode.TEXT, True, m) for m in messages]
    batches = [frames[i:i + 1024] for i in range(0, len(frames), 1024)]
    decode = ep.decoder.decoder.decode
    run = ep._poll_fast
    start = clock()
    for batch in batches:
        run(batch, decode, None)
    elapsed = clock() - start
    assert ep.n == len(messages)
    return len(messages) / elapsed


def cryptofeed_handler() -> Callable[[Any], Any] | None:
    """cryptofeed's Binance ``message_handler`` with a fake symbol table; None if unavailable."""
    try:
        from cryptofeed.defines import TICKER, TRADES  # type: ignore[import-untyped]
        from cryptofeed.exchanges import Binance  # type: ignore[import-untyped]
        from cryptofeed.symbols import Symbols  # type: ignore[import-untyped]
    except ImportError:
        return None
    info = {"symbols": [{"symbol": s.upper(), "baseAsset": s[:-4].upper(), "quoteAsset": "USDT", "status": "TRADING",
                         "filters": [{"tickSize": "0.01"}]} for s in SYMBOLS]}
    Symbols.set(Binance.id, *Binance._parse_symbol_data(info))
    state = {"n": 0}

    async def callback(obj: Any, receipt_timestamp: float) -> None:
        state["n"] += 1
        state["last"] = obj.price if hasattr(obj, "price") else obj.bid

    feed = Binance(symbols=[f"{s[:-4].upper()}-USDT" for s in SYMBOLS], channels=[TRADES, TICKER],
                   callbacks={TRADES: callback, TICKER: callback})
    handler = feed.message_handler

    def run(messages: list[Any]) -> float:
        state["n"] = 0
        start = clock()
        for payload in messages:
            coro = handler(payload, None, 0.0)
            try:  # drive the coroutine by hand: it never really awaits (no I/O in these paths)
                coro.send(None)
            except StopIteration:
                pass
        elapsed = clock() - start
        assert state["n"] == len(messages), state["n"]
        return len(messages) / elapsed

    return run


def make_variants(new: Any, earlier: dict[str, Any], crypto: Any, scenario: str, name: str, tmp: str,
                  messages: list[bytes], server: Any) -> dict[str, Callable[[], float]]:
    from perf.binance_live import run_live_boomnet, run_live_picows

    views = [memoryview(m) for m in messages]  # what a frame's payload is
    strs = [m.decode() for m in messages]  # cryptofeed's websocket layer hands it str
    variants: dict[str, Callable[[], float]] = {
        "replay new": lambda: run_replay(new, scenario, name, tmp, len(messages)),
        "decode new": lambda: loop_new(views, scenario),
        "decode orjson+NamedTuple": lambda: loop_handwritten(views),
    }
    for label, module in earlier.items():
        if module is not None:
            variants[label] = lambda module=module: run_replay(module, scenario, name, tmp, len(messages))
    if server is not None:
        variants["live boomnet"] = lambda: run_live_boomnet(new, scenario, server.port, len(messages))
        variants["live picows+orjson+NamedTuple"] = lambda: run_live_picows(server.port, len(messages))
    if crypto is not None and scenario == "aggTrade":
        variants["decode cryptofeed"] = lambda: crypto(strs)
    return variants


# --- driver --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.binance_records", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--no-live", dest="live", action="store_false", help="skip the loopback TCP variants")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall (default; the figure) or cpu (this thread's CPU time: for a loaded machine)")
    p.add_argument("--shared-process", action="store_true",
                   help="run every scenario in this process (default: each in a fresh one)")
    args = p.parse_args(argv)
    scenarios = args.scenarios.split(",")
    if len(scenarios) > 1 and not args.shared_process:
        return _per_scenario_processes(args, scenarios)
    _clock[0] = CLOCKS[args.clock]
    sys.path.insert(0, str(REPO))
    # `python -m` runs this file as __main__: perf.binance_live imports it again under its name
    importlib.import_module("perf.binance_records")._clock[0] = CLOCKS[args.clock]
    sys.path.insert(0, str(REPO))
    load_start = os.getloadavg()[0]
    print(f"load: {load_start:.2f}; clock: {args.clock}; {build_status()}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="binance-records-") as tmp:
        earlier = {label: earlier_package(tmp, f"endpoints_{i}", ref) for i, (label, ref) in enumerate(EARLIER.items())}
        new = importlib.import_module("endpoints.binance")
        crypto = cryptofeed_handler()
        for scenario in args.scenarios.split(","):
            messages = payloads(scenario, args.count)
            name = f"perf-{scenario}"
            record(messages, name, tmp)
            from perf.binance_live import RawServer

            server = RawServer(messages) if args.live else None
            variants = make_variants(new, earlier, crypto, scenario, name, tmp, messages, server)
            rates: dict[str, list[float]] = {k: [] for k in variants}
            for _ in range(args.rounds):
                for label, fn in variants.items():
                    rates[label].append(fn())
            for label, values in rates.items():
                row = {"scenario": scenario, "variant": label, "records_per_s": round(statistics.median(values)),
                       "rounds": [round(v) for v in values], "messages": len(messages)}
                results.append(row)
                print(json.dumps(row), flush=True)
            if server is not None:
                server.close()
    _report(results, load_start, "")
    return 0


def _report(results: list[dict[str, Any]], load_start: float, how: str) -> None:
    """The summary table and the targets (``how``: a note on how the scenarios were run)."""
    print(f"\nload: {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1-min average){how}")
    print(f"{'scenario':10} {'variant':30} {'records/s':>12}")
    for row in results:
        print(f"{row['scenario']:10} {row['variant']:30} {row['records_per_s']:>12,}")
    print()
    for line in targets(results):
        print(line)


def _per_scenario_processes(args: argparse.Namespace, scenarios: list[str]) -> int:
    """Each scenario in a fresh process (its variants still alternate inside it), so a figure
    does not depend on what ran before it: in one shared process the aggTrade scenario measured
    ~8% slower after the trade scenario than alone (the heap the first one leaves behind)."""
    results: list[dict[str, Any]] = []
    load_start = os.getloadavg()[0]
    for scenario in scenarios:
        cmd = [sys.executable, "-m", "perf.binance_records", "--scenarios", scenario, "--count", str(args.count),
               "--rounds", str(args.rounds), "--clock", args.clock] + ([] if args.live else ["--no-live"])
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
        if out.returncode:
            raise SystemExit(f"scenario {scenario} failed:\n{out.stderr[-2000:]}")
        for line in out.stdout.splitlines():
            if line.startswith("load:") and not results:
                print(line, flush=True)
            if line.startswith("{"):
                print(line, flush=True)
                results.append(json.loads(line))
    _report(results, load_start, "; each scenario in its own process")
    return 0


TARGETS = [  # (scenario, numerator row, denominator row or None for an absolute rate, target)
    ("trade", "replay new", None, 1_000_000),
    ("trade", "replay new", "live picows+orjson+NamedTuple", 2.0),
    ("trade", "live boomnet", "live picows+orjson+NamedTuple", 2.0),
    ("aggTrade", "replay new", "decode cryptofeed", 5.0),
    ("aggTrade", "decode new", "decode cryptofeed", 5.0),  # like for like: neither pays framing/loading
    ("aggTrade", "replay new", "live picows+orjson+NamedTuple", 2.0),
    ("mixed", "replay new", "live picows+orjson+NamedTuple", 2.0),
]


def targets(results: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each as the rows it is computed from."""
    rate = {(r["scenario"], r["variant"]): r["records_per_s"] for r in results}
    out = []
    for scenario, num, den, target in TARGETS:
        a = rate.get((scenario, num))
        if a is None:
            continue
        if den is None:
            verdict = "met" if a >= target else "NOT met"
            out.append(f"target {scenario}: {num!r} = {a / 1e6:.2f} M/s (>= {target / 1e6:.0f} M/s: {verdict})")
            continue
        b = rate.get((scenario, den))
        if b is None:
            out.append(f"target {scenario}: {num!r} / {den!r}: {den!r} not measured")
            continue
        verdict = "met" if a / b >= target else "NOT met"
        out.append(f"target {scenario}: {num!r} / {den!r} = {a:,} / {b:,} = {a / b:.2f}x (>= {target}x: {verdict})")
    return out


def build_status() -> str:
    """Which C fast paths this run uses (a figure without them is not the fast path)."""
    import boomnet
    from endpoints import binance_checks

    return (f"boomnet.ws C framing: {boomnet.speedups_status()}; endpoints C decimal check: "
            f"{'enabled' if binance_checks.SPEEDUPS else 'OFF (pure Python; build with pip install -e .)'}")


if __name__ == "__main__":
    raise SystemExit(main())
