"""boomnet.msg side by side with pyzmq, asyncio+uvloop and raw sockets (one run, ratios).

Jobs: one-way blast of 100-byte messages (msgs/s delivered to a handler in the receiving
process, from the sender's first send to the receiver's last message) and echo round trips of 64-byte messages (p50/p99/p99.9 over
``--samples`` round trips, server in a child process), over TCP and TLS. Rounds alternate the
systems (A, B, C, D, A, B, ...); the figures are per-system medians over rounds, and each ratio
is the median of the per-round ratios (both systems measured in the same round). Also measures
retained allocations per message on boomnet's bytes receive path (tracemalloc).

    .venv/bin/python -m perf.msg_bench [--rounds 3] [--blast 200000] [--samples 10000]

Which row is which: every row names who waits how ("spin": a loop of non-blocking calls, one
core at 100 %; "park": asleep in the kernel after every empty read) — the legend is printed
under the table (``perf.msg_peers.LEGEND``). A mode that sleeps pays the kernel's wake-up twice per round trip
(once per side), which "raw socket blocking" measures with no framework at all; a mode that
spins pays none, which "raw socket spin" measures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import time
from typing import Any

from perf.msg_peers import LEGEND, SYSTEMS
from perf.stats import rtt_summary

BLAST_PAYLOAD = b"b" * 100
ECHO_PAYLOAD = b"e" * 64


def _child_blast_recv(fn: Any, n: int, ready: Any, result: Any, certs: Any) -> None:
    result.put(fn(n, ready, certs))


def run_blast(name: str, n: int, tls: bool, certs: tuple[str, str], ca: str) -> float | None:
    blast = SYSTEMS[name][0]
    if blast is None:
        return None
    recv, send = blast
    ctx = mp.get_context("fork")
    ready, result, started = ctx.Queue(), ctx.Queue(), ctx.Queue()
    rp = ctx.Process(target=_child_blast_recv, args=(recv, n, ready, result, certs if tls else None), daemon=True)
    rp.start()
    port = ready.get(timeout=30)
    sp = ctx.Process(target=send, args=(port, n, BLAST_PAYLOAD, ca if tls else None, started), daemon=True)
    sp.start()
    deadline = time.monotonic() + 300
    end = None
    while end is None:
        try:
            end = result.get(timeout=1.0)
        except queue.Empty:
            # a dead sender or receiver never delivers: say which, do not wait the full 300 s
            dead = [(who, p.exitcode) for who, p in (("sender", sp), ("receiver", rp)) if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in (sp, rp):
                    p.kill()
                raise RuntimeError(f"blast {name} {'TLS' if tls else 'TCP'}: no result ({dead or 'timeout'})") from None
    # CLOCK_MONOTONIC is one clock for every process: first send (after connecting) to last handled
    elapsed = end - started.get(timeout=30)
    sp.join(30)
    rp.join(30)
    for p in (sp, rp):
        if p.is_alive():
            p.kill()
    return n / elapsed


def run_echo(name: str, samples: int, tls: bool, certs: tuple[str, str], ca: str) -> dict[str, float]:
    _, (server, client), _ = SYSTEMS[name]
    ctx = mp.get_context("fork")
    ready = ctx.Queue()
    sp = ctx.Process(target=server, args=(ready, certs if tls else None), daemon=True)
    sp.start()
    try:
        port = ready.get(timeout=30)
        warm = client(port, 500, ECHO_PAYLOAD, ca if tls else None)
        del warm
        # a fresh connection per run (the raw server serves one): restart for the real run
    finally:
        sp.kill()
        sp.join(5)
    sp = ctx.Process(target=server, args=(ready, certs if tls else None), daemon=True)
    sp.start()
    try:
        port = ready.get(timeout=30)
        return rtt_summary(client(port, samples, ECHO_PAYLOAD, ca if tls else None))
    finally:
        sp.kill()
        sp.join(5)


def retained_per_message(n: int = 200_000) -> float:
    """Bytes retained per message after decoding ``n`` messages through Connection.read_batch."""
    import socket
    import threading
    import tracemalloc

    from boomnet.msg import Connection, LengthPrefixed
    from boomnet.stream import TcpStream

    lst = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(lst.getsockname())
    b, _ = lst.accept()
    conn = Connection(TcpStream(a, "alloc"), LengthPrefixed())
    conn.establish()
    frame = (100).to_bytes(4, "big") + BLAST_PAYLOAD
    count = 0

    def handler(msg: memoryview) -> None:
        nonlocal count
        count += 1

    def feed(k: int) -> None:
        blob = frame * 1000
        for _ in range(k // 1000):
            b.sendall(blob)

    def consume(k: int) -> None:
        target = count + k
        while count < target:
            for m in conn.read_batch():
                handler(m)

    t = threading.Thread(target=feed, args=(20_000,))
    t.start()
    consume(20_000)  # warm up: buffers sized, caches filled
    t.join()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    t = threading.Thread(target=feed, args=(n,))
    t.start()
    consume(n)
    t.join()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if "boomnet" in (s.traceback[0].filename if s.traceback else ""))
    a.close(), b.close(), lst.close()
    return grown / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--blast", type=int, default=200_000)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--only", default="", help="comma-separated system names (as in the table)")
    args = ap.parse_args()
    import trustme

    tmp = tempfile.mkdtemp(prefix="msgbench")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    certs = (os.path.join(tmp, "chain.pem"), os.path.join(tmp, "key.pem"))
    leaf.private_key_pem.write_to_path(certs[1])
    with open(certs[0], "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    ca_file = os.path.join(tmp, "ca.pem")
    ca.cert_pem.write_to_path(ca_file)

    names = [s for s in SYSTEMS if not args.only or s in args.only.split(",")]
    blast: dict[tuple[str, bool], list[float | None]] = {}
    echo: dict[tuple[str, bool], list[dict[str, float]]] = {}
    print(f"load before: {os.getloadavg()}")
    for r in range(args.rounds):
        for tls in (False, True):
            for name in names:
                if tls and not SYSTEMS[name][2]:
                    continue
                blast.setdefault((name, tls), []).append(run_blast(name, args.blast, tls, certs, ca_file))
                echo.setdefault((name, tls), []).append(run_echo(name, args.samples, tls, certs, ca_file))
        print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)

    def med(key: tuple[str, bool], field: str) -> float:
        return statistics.median(e[field] for e in echo[key])

    zkey = ("pyzmq", False)

    def paired(values: list[float | None], ref: list[float | None], invert: bool = False) -> str:
        # ratio per round (each round ran both, close in time), then the median: robust to a
        # round where the shared machine was busy for everyone
        pairs = [(v, r) for v, r in zip(values, ref) if v is not None and r is not None and r > 0 and v > 0]
        if not pairs:
            return "-"
        return f"{statistics.median(v / r for v, r in pairs):.2f}x"

    print("\n| system | transport | blast msgs/s (median) | vs pyzmq (paired) | echo p50 us | p99 us | p99.9 us | p50 vs pyzmq | p99 vs pyzmq |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, tls), rates in blast.items():
        key = (name, tls)
        known = [r for r in rates if r is not None]
        shown = f"{statistics.median(known):,.0f}" if known else "-"
        rb = paired(rates, blast.get(zkey, [])) if known and zkey in blast else "-"
        p50, p99, p999 = med(key, "p50"), med(key, "p99"), med(key, "p99.9")
        ze = echo.get(zkey)
        r50 = paired([e["p50"] for e in echo[key]], [e["p50"] for e in ze]) if ze else "-"
        r99 = paired([e["p99"] for e in echo[key]], [e["p99"] for e in ze]) if ze else "-"
        print(f"| {name} | {'TLS' if tls else 'TCP'} | {shown} | {rb} | {p50:.1f} | {p99:.1f} | {p999:.1f} | {r50} | {r99} |")
    print("\nrows (who spins, who sleeps):")
    for name in names:
        print(f"  {name}: {LEGEND[name]}")
    print("\nper-round blast msgs/s (k):")
    for (name, tls), rates in blast.items():
        if any(r is not None for r in rates):
            print(f"  {name} {'TLS' if tls else 'TCP'}: " + ", ".join(f"{r / 1e3:.0f}" for r in rates if r is not None))
    print(f"\nretained allocations on the bytes path: {retained_per_message():.4f} bytes/message")
    print(f"load after: {os.getloadavg()}  ({time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
