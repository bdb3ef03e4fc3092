"""``IOService.poll()`` overhead with 1, 100 and 1,000 idle connected endpoints, per selector.

    .venv/bin/python -m perf.bench_poll [--counts 1,100,1000] [--rounds 5] [--seconds 0.2]
    .venv/bin/python -m perf.bench_poll --wait-cpu [--seconds 2]
    PYTHONPATH=/tmp/old .venv/bin/python -m perf.bench_poll --against boomnet_old [--counts 1,100]

``--against PKG``: another copy of boomnet importable as ``PKG`` (e.g. a ``git archive`` of an
older commit with its ``boomnet/`` folder renamed; boomnet imports itself only relatively) is
measured in the same process, interleaved round by round with this one: on a loaded machine the
per-round ratio new/old is what counts, and its median is printed.

``--wait-cpu``: the CPU a loop ``poll(); wait(0.05)`` burns over ``--seconds`` while one endpoint
is stuck connecting to a blackhole (a listener with a full accept queue: the kernel drops the
SYNs), per selector: ``time.process_time()`` / wall time.

Idle = connected over loopback TCP to a server (a separate process) that never sends. Every
(selector, count) pair gets its own service, all alive at once; each round measures every one of
them in turn and the median per-poll time over the rounds is reported (see /work/shared/perf-method.md), next
to the bare ``selector.select()`` cost for reference. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from boomnet.service import (
    DirectSelector,
    Endpoint,
    EpollSelector,
    IOService,
    IoUringSelector,
    SelectorUnavailable,
)

SERVER = r"""
import selectors, socket, sys
srv = socket.create_server(("127.0.0.1", 0), backlog=4096)
srv.setblocking(False)
print(srv.getsockname()[1], flush=True)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
sel.register(sys.stdin, selectors.EVENT_READ)
held = []
while True:
    for key, _ in sel.select():
        if key.fileobj is sys.stdin:
            raise SystemExit(0)  # the benchmark closed our stdin: done
        if key.fileobj is srv:
            while True:
                try:
                    c, _ = srv.accept()
                except BlockingIOError:
                    break
                held.append(c)  # hold it open, never send
"""


class Idle(Endpoint):
    """Reads whatever arrives (nothing will): what a real endpoint's poll costs when visited."""

    buf = bytearray(4096)

    def poll(self, stream: Any, ctx: Any) -> None:
        stream.recv_into(self.buf)

    def on_disconnect(self, reason: Any, ctx: Any) -> bool:
        raise SystemExit(f"an idle endpoint disconnected: {reason}")


def make_selector(kind: str):
    return {"epoll": EpollSelector, "direct": DirectSelector, "io_uring": IoUringSelector}[kind]()


def connect_all(io: IOService, port: int, n: int) -> None:
    handles = [io.register(Idle("127.0.0.1", port)) for _ in range(n)]
    deadline = time.monotonic() + 60.0
    while not all(io.is_connected(h) for h in handles):
        io.poll()
        if time.monotonic() > deadline:
            raise SystemExit(f"could not connect {n} endpoints within 60 s")
    for _ in range(1000):  # settle: housekeeping quiet, selectors warm
        io.poll()


def per_call_ns(fn: Any, seconds: float) -> float:
    """Median-friendly single measurement: calls of ``fn`` for about ``seconds``, ns per call."""
    probe = 10
    t0 = time.perf_counter_ns()
    for _ in range(probe):
        fn()
    est = max(1, (time.perf_counter_ns() - t0) // probe)
    calls = max(50, int(seconds * 1e9 / est))
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - t0) / calls


def wait_cpu(kinds: list[str], seconds: float) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue; never accepted
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.1)
    print("| selector | CPU / wall while connecting | loop turns |")
    print("|---|---:|---:|")
    try:
        for kind in kinds:
            io = IOService(make_selector(kind), connect_timeout=600.0)
            io.register(Idle("127.0.0.1", port))
            for _ in range(10):
                io.poll()
            turns = 0
            cpu0, t0 = time.process_time(), time.monotonic()
            while time.monotonic() - t0 < seconds:
                io.poll()
                io.wait(0.05)
                turns += 1
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
            assert not any(io.is_connected(h) for h, _ in io), "the blackhole accepted"
            io.close()
            print(f"| {kind} | {cpu / wall:.1%} | {turns:,} |")
    finally:
        for c in fillers:
            c.close()
        srv.close()


def compare(pkg: str, counts: list[int], kinds: list[str], rounds: int, seconds: float) -> None:
    import importlib

    old = importlib.import_module(pkg + ".service")
    new = sys.modules["boomnet.service"]
    flavours = {"new": new, "old": old}
    idles = {name: _idle_class(mod) for name, mod in flavours.items()}
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        services: dict[tuple[str, str, int], Any] = {}
        for n in counts:
            for kind in kinds:
                for name, mod in flavours.items():
                    sel = {"epoll": mod.EpollSelector, "direct": mod.DirectSelector, "io_uring": mod.IoUringSelector}[kind]()
                    io = mod.IOService(sel)
                    handles = [io.register(idles[name]("127.0.0.1", port)) for _ in range(n)]
                    deadline = time.monotonic() + 60.0
                    while not all(io.is_connected(h) for h in handles):
                        io.poll()
                        if time.monotonic() > deadline:
                            raise SystemExit("could not connect")
                    for _ in range(1000):
                        io.poll()
                    services[name, kind, n] = io
        ratios: dict[tuple[str, int], list[float]] = {}
        times: dict[tuple[str, str, int], list[float]] = {key: [] for key in services}
        for r in range(rounds):
            for n in counts:
                for kind in kinds:
                    order = ("new", "old") if r % 2 == 0 else ("old", "new")
                    got = {}
                    for name in order:
                        got[name] = per_call_ns(services[name, kind, n].poll, seconds)
                        times[name, kind, n].append(got[name])
                    ratios.setdefault((kind, n), []).append(got["new"] / got["old"])
        for io in services.values():
            io.close()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)
    print(f"| selector | idle endpoints | new poll() | old poll() ({pkg}) | new / old (median of per-round ratios) |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        for n in counts:
            a = statistics.median(times["new", kind, n]) / 1000
            b = statistics.median(times["old", kind, n]) / 1000
            print(f"| {kind} | {n:,} | {a:.3f} µs | {b:.3f} µs | {statistics.median(ratios[kind, n]):.3f} |")
    print(f"\n{rounds} rounds, A/B order alternating per round; Python {sys.version.split()[0]}.")


def _idle_class(mod: Any) -> Any:
    class IdleOf(mod.Endpoint):  # type: ignore[misc,name-defined]
        buf = bytearray(4096)

        def poll(self, stream: Any, ctx: Any) -> None:
            stream.recv_into(self.buf)

        def on_disconnect(self, reason: Any, ctx: Any) -> bool:
            raise SystemExit(f"an idle endpoint disconnected: {reason}")

    return IdleOf


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1,100,1000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.2, help="per measurement")
    ap.add_argument("--selectors", default="epoll,direct,io_uring")
    ap.add_argument("--wait-cpu", action="store_true", help="CPU of poll()+wait() while connecting")
    ap.add_argument("--against", help="another boomnet copy's package name, measured side by side")
    args = ap.parse_args(argv)
    if args.against:
        compare(args.against, [int(c) for c in args.counts.split(",")], args.selectors.split(","), args.rounds, args.seconds)
        return
    if args.wait_cpu:
        wait_cpu(args.selectors.split(","), args.seconds if args.seconds != 0.2 else 2.0)
        return
    counts = [int(c) for c in args.counts.split(",")]
    kinds = args.selectors.split(",")
    notes: list[str] = []
    if "io_uring" in kinds:
        try:
            IoUringSelector(entries=8).close()
        except SelectorUnavailable as exc:
            kinds.remove("io_uring")
            notes.append(f"io_uring skipped: {exc}")

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        # every (selector, count) service lives for the whole run and rounds alternate over all
        # of them, so the 1,000 / 1 ratio compares measurements taken side by side
        services = {(kind, n): IOService(make_selector(kind)) for n in counts for kind in kinds}
        for (_kind, n), io in services.items():
            connect_all(io, port, n)
        samples: dict[tuple[str, int], list[float]] = {key: [] for key in services}
        sel_samples: dict[tuple[str, int], list[float]] = {key: [] for key in services}
        for _ in range(args.rounds):
            for key, io in services.items():
                samples[key].append(per_call_ns(io.poll, args.seconds))
                sel_samples[key].append(per_call_ns(io.selector.select, args.seconds / 4))
        poll_ns = {key: statistics.median(v) for key, v in samples.items()}
        select_ns = {key: statistics.median(v) for key, v in sel_samples.items()}
        for io in services.values():
            io.close()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)

    head = " | ".join(f"{n:,} idle" for n in counts)
    print(f"| selector | {head} | {counts[-1]:,} / {counts[0]:,} |")
    print("|---|" + "---:|" * (len(counts) + 1))
    for kind in kinds:
        cells = " | ".join(f"{poll_ns[kind, n] / 1000:.2f} µs ({select_ns[kind, n] / 1000:.2f})" for n in counts)
        ratio = poll_ns[kind, counts[-1]] / poll_ns[kind, counts[0]]
        print(f"| {kind} | {cells} | {ratio:.2f}x |")
    print()
    print(
        f"`IOService.poll()` time per call, median of {args.rounds} alternating rounds; in brackets the bare "
        "`selector.select()`. Python " + sys.version.split()[0] + "."
    )
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
