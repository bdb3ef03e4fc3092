"""The FIX demo: one FixEndpoint on an IOService against the embedded venue, offline.

    python -m examples.fix                      # 10 s: subscribe, trade, print fills and latency
    python -m examples.fix --duration 3 --rate 200
    python -m examples.fix --port 9878          # against a venue already running there

It starts :mod:`boomnet.testing.fix.acceptor` in a subprocess, logs on, subscribes to BTCUSD and ETHUSD
market data (snapshot W, then increments X), keeps the best bid/offer, and sends ``--rate``
limit orders per second at the touch (buy at the offer, sell at the bid) plus a few passive ones
it cancels. Fills print as they arrive; the end prints order -> ExecutionReport round-trip
latency (p50/p99/max) and message counts, logs out, stops the venue and exits.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boomnet.fix import sending_time
from boomnet.fix.config import SessionConfig
from boomnet.fix.endpoint import FixEndpoint
from boomnet.fix.message import FixMessage
from boomnet.fix.session import FixSession
from boomnet.service import EpollSelector, IOService

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ("BTCUSD", "ETHUSD")


@dataclass
class Stats:
    md: int = 0
    snapshots: int = 0
    sent: int = 0
    fills: int = 0
    acks: int = 0
    cancels: int = 0
    rejects: int = 0
    cancel_rejects: int = 0
    latencies_us: list[float] = field(default_factory=list)
    book: dict[str, tuple[float, float]] = field(default_factory=dict)


class Trader(FixEndpoint):
    def __init__(self, port: int, rate: float, quiet: bool) -> None:
        super().__init__("127.0.0.1", port, SessionConfig("TRADER", "VENUE", heartbeat_interval=5))
        self.stats = Stats()
        self.quiet = quiet
        self.sent_at: dict[bytes, int] = {}
        self.resting: list[bytes] = []
        self.n = 0
        if rate > 0:
            self.every(1.0 / rate, self.trade)

    def on_logon(self, session: FixSession, ctx: Any) -> None:
        fields: list[tuple[int, object]] = [(262, "md1"), (263, 1), (264, 5), (265, 1), (267, 2), (269, 0), (269, 1)]
        fields.append((146, len(SYMBOLS)))
        fields += [(55, s) for s in SYMBOLS]
        self.send("V", fields)  # type: ignore[arg-type]

    def on_message(self, session: FixSession, msg: FixMessage, ctx: Any) -> None:
        mt, st = msg.msg_type, self.stats
        if mt == b"X":
            st.md += 1
            for e in msg.groups(268):
                sym = e[55].decode()
                bid, ask = st.book.get(sym, (0.0, 0.0))
                px = float(e[270])
                st.book[sym] = (px, ask) if e[269] == b"0" else (bid, px)
        elif mt == b"W":
            st.snapshots += 1
            entries = msg.groups(268)
            bids = [float(e[270]) for e in entries if e[269] == b"0"]
            asks = [float(e[270]) for e in entries if e[269] == b"1"]
            st.book[msg[55].decode()] = (max(bids), min(asks))
        elif mt == b"8":
            self.on_report(msg)
        elif mt == b"9":
            st.cancel_rejects += 1  # the order filled before the cancel arrived
        elif mt in (b"3", b"j"):
            st.rejects += 1
            print(f"reject {msg!r}", file=sys.stderr)

    def on_report(self, msg: FixMessage) -> None:
        st = self.stats
        t0 = self.sent_at.pop(msg[11], None)  # the first report of an order ends its round trip
        us = (time.perf_counter_ns() - t0) / 1000 if t0 is not None else None
        if us is not None:
            st.latencies_us.append(us)
        exec_type = msg[150]
        if exec_type == b"F":
            st.fills += 1
            if (not self.quiet and st.fills <= 10) or st.fills % 1000 == 0:
                side = "BUY " if msg[54] == b"1" else "SELL"
                took = f"order->report {us:6.0f} us" if us is not None else "(rested, filled later)"
                print(f"fill #{st.fills:<5} {side} {msg[38].decode():>2} {msg[55].decode()} @ "
                      f"{msg[31].decode():<9} {msg[11].decode():<7} {took}")
        elif exec_type == b"0":
            st.acks += 1
            self.resting.append(msg[11])
        elif exec_type == b"4":
            st.cancels += 1

    def trade(self, target: Any, ctx: Any) -> None:
        book = self.stats.book
        if not self.session.logged_on or len(book) < len(SYMBOLS):
            return
        self.n += 1
        sym = SYMBOLS[self.n % 2]
        bid, ask = book[sym]
        if self.n % 10 == 0:  # a passive order, cancelled on the next round
            side, px = 1, round(bid * 0.99, 2)
        else:
            side, px = (1, ask) if self.n % 3 else (2, bid)
        clordid = f"c{self.n}"
        self.sent_at[clordid.encode()] = time.perf_counter_ns()
        self.send("D", [(11, clordid), (55, sym), (54, side), (38, 1 + self.n % 5), (40, 2), (44, f"{px:.2f}"),
                        (59, 0), (60, sending_time())])
        self.stats.sent += 1
        while self.resting:
            orig = self.resting.pop()
            self.n += 1
            self.send("F", [(11, f"x{self.n}"), (41, orig), (55, sym), (54, 1), (60, sending_time())])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="boomnet FIX demo against an embedded venue")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to trade (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="orders per second (default 100)")
    parser.add_argument("--port", type=int, default=0, help="use a venue already listening here")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    venue = None
    port = args.port
    if not port:
        venue = subprocess.Popen([sys.executable, "-m", "boomnet.testing.fix.acceptor"], cwd=REPO, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        assert venue.stdout is not None
        line = venue.stdout.readline()
        if not line.startswith("READY"):
            print(f"the embedded venue did not start: {line!r}", file=sys.stderr)
            return 1
        port = int(line.split()[1])
    trader = Trader(port, args.rate, args.quiet)
    io: IOService[Any] = IOService(EpollSelector())
    io.register(trader)
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.duration:
            io.poll(None)
        trader.logout("demo over")
        end = time.monotonic() + 3
        while trader.connection is not None and time.monotonic() < end:
            io.poll(None)
    except KeyboardInterrupt:
        pass
    finally:
        if venue is not None:
            assert venue.stdin is not None
            venue.stdin.close()
            try:
                venue.wait(5)
            except subprocess.TimeoutExpired:
                venue.kill()
                venue.wait(5)
    st = trader.stats
    lat = st.latencies_us
    print(f"\norders sent {st.sent}  fills {st.fills}  acks {st.acks}  cancels {st.cancels} "
          f"(too late {st.cancel_rejects})  rejects {st.rejects}")
    print(f"market data: {st.snapshots} snapshots, {st.md} increments; book {st.book}")
    print(f"order -> ExecutionReport round trip (us): p50 {percentile(lat, 0.5):.0f}  p99 {percentile(lat, 0.99):.0f}  "
          f"max {max(lat) if lat else float('nan'):.0f}  (n={len(lat)})")
    print(f"session: next out {trader.session.store.next_sender_seq}, next in {trader.session.store.next_target_seq}")
    return 0 if (st.fills > 0 and st.rejects == 0) or args.rate == 0 else 2
