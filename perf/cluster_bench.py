"""Scale-out benchmarks: worker scaling (1 vs 2 pinned workers), records *delivered* to a consumer
that decodes them, with each process's CPU; and end-to-end latency exchange -> worker -> NATS ->
consumer.

    .venv/bin/python -m perf.cluster_bench [--seconds 5] [--rounds 3] [--batch 64] [--idle 0.001]

* **scaling**: each worker (a :class:`boomnet.cluster.Cluster` process pinned to its own core)
  runs the per-message work of a feed worker as fast as it can — decode a Binance combined-stream
  trade payload into its typed record (``endpoints.binance.StreamDecoder``, msgspec) and publish
  it onto NATS (``RecordPublisher`` over ``NatsEndpoint``; ``--batch N``: version-2 envelopes of
  up to N records of one stream per NATS message, ``--batch 1``: one envelope per record) — from
  payloads held in memory (a source process would compete for the same two cores).
  The figure is records **delivered**: a ``RecordConsumer`` in this process receives every
  message from nats-server and decodes every record into ``endpoints.binance.Trade`` (one
  msgspec call per batch, and ``RecordConsumer(checks={"trade": first_bad})``: the decimal check
  a direct feed runs, once per batch), counted over the
  last ``--seconds`` after a warm-up; gaps it saw are reported (a slow consumer shows as gaps,
  never as a higher rate). The consumer sleeps in epoll when idle (``io.run(idle=...)``), it does
  not busy-poll a core away from the workers. Each round also prints the workers' own production
  rate (from their metrics on the bus) and the CPU share of every process over the window
  (workers, nats-server, consumer), so the budget of the two cores is on the page.
  1 worker and 2 workers alternate rounds; medians.
* **latency**: the embedded exchange (Python, ~100 trades/s per symbol) -> one worker running
  ``BinanceEndpoint`` -> NATS -> a ``RecordConsumer``: receive-to-consume latency
  (``now - envelope.recv_ns``, the worker stamps it when the record leaves its handler) and
  exchange-to-consume (``now - E``, where ``E`` has millisecond resolution); ``--idle`` runs
  that worker with ``Cluster(idle=...)`` (sleeping in epoll between trades) instead of busy-polling.
  ``--rounds 0`` measures only the latency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
from typing import Any

import orjson

from boomnet.bus import NatsEndpoint, RecordConsumer, RecordPublisher
from boomnet.cluster import Cluster, WorkerInfo
from boomnet.service import Endpoint, IOService


def _payloads(n: int = 1024) -> list[bytes]:
    out = []
    for i in range(n):
        out.append(orjson.dumps({"stream": "btcusdt@trade", "data": {
            "e": "trade", "E": 1700000000000 + i, "s": "BTCUSDT", "t": 1000 + i, "p": f"{43000 + i % 100}.12000000",
            "q": "0.00100000", "T": 1700000000000 + i, "m": i % 2 == 0, "M": True}}))
    return out


class _Always:
    """A target with no descriptor: the service polls it on every poll (like a replay)."""

    def establish(self) -> bool:
        return True

    def fileno(self) -> int:
        return -1

    def read_hint(self) -> int:
        return 1

    def close(self) -> None:
        pass


class DecodePublish(Endpoint[_Always, Any]):
    """The per-message work of a feed worker, from payloads in memory, 256 per poll, decoded the
    way ``BinanceEndpoint``'s fast path does it: one msgspec call per message, one decimal check
    (``endpoints.binance_checks.first_bad``) per batch, then the handler publishes each record."""

    def __init__(self, publisher: RecordPublisher) -> None:
        super().__init__(None, None)
        from endpoints.binance import StreamDecoder

        decoder = StreamDecoder(["btcusdt@trade"], combined=True).decoder
        assert decoder is not None
        self.decode = decoder.decode
        self.publisher = publisher
        payloads = _payloads()
        self.chunks = [payloads[i:i + 256] for i in range(0, len(payloads), 256)]
        self.i = 0
        self.records = 0

    def create_target(self, addr: Any, ctx: Any) -> _Always:
        return _Always()

    def poll(self, target: _Always, ctx: Any) -> None:
        from endpoints.binance_checks import first_bad

        decode, publish = self.decode, self.publisher.publish
        chunk = self.chunks[self.i]
        self.i = (self.i + 1) % len(self.chunks)
        records = [decode(p).data for p in chunk]
        if first_bad(records) >= 0:
            raise AssertionError("a bench payload failed the decimal check")
        for rec in records:
            publish("btcusdt", "trade", rec, exch_ns=rec.event_time * 1_000_000)
        self.records += len(records)

    def metrics(self) -> dict[str, int]:
        return {"records": self.records}


def build_decode_publish(worker: WorkerInfo) -> list[Any]:
    nats = NatsEndpoint([worker.options["nats"]], name=worker.name, max_buffered=2_000_000)
    publisher = RecordPublisher(nats, venue="bench", publisher=worker.name, batch=worker.options["batch"])
    return [nats, DecodePublish(publisher)]


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) of a running process, from /proc."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Delivered(RecordConsumer):
    """Counts records as they are decoded and checked (``records``, by RecordConsumer, built with
    ``checks={"trade": first_bad}``: the decimal check a direct feed runs, once per batch)."""

    def on_batch(self, kind: str, records: list[Any], batch: Any, ctx: Any) -> None:
        pass  # decoded and checked already: the list holds the typed records

    def on_record(self, kind: str, record: Any, env: Any, ctx: Any) -> None:
        pass


def _scaling(nats_url: str, workers: int, seconds: float, batch: int, server_pid: int) -> dict[str, Any]:
    from endpoints.binance import Trade

    io: IOService[None] = IOService()
    reports: dict[str, list[tuple[float, int]]] = {}
    from endpoints.binance_checks import first_bad

    consumer = Delivered([nats_url], {"trade": Trade}, "md.bench.>", checks={"trade": first_bad},
                         max_pending_bytes=64 << 20)

    def on_metrics(msg: Any, ctx: Any) -> None:
        r = json.loads(bytes(msg.payload))
        recs = sum(v.get("records", 0) for v in r["endpoints"].values())
        reports.setdefault(r["worker"], []).append((time.monotonic(), recs))

    consumer.subscribe("boomnet.metrics.>", handler=on_metrics)
    io.register(consumer)
    io.run(idle=0.001, until=lambda: consumer.connects > 0, duration=10)
    io.run(idle=0.001, duration=0.2)  # the SUBs reach the server before the workers publish
    cluster = Cluster(build_decode_publish, keys=[f"k{i}" for i in range(workers)], workers=workers,
                      cpus=list(range(workers)), metrics_url=nats_url, metrics_interval=0.5,
                      options={"nats": nats_url, "batch": batch})
    try:
        cluster.start()
        io.run(idle=0.001, until=lambda: len(reports) == workers and consumer.records > 0, duration=60)
        io.run(idle=0.001, duration=1.0)  # warm-up
        pids = [*cluster.pids(), server_pid]
        cpu0 = [_proc_cpu(p) for p in pids]
        me0, n0, t0, missed0 = time.process_time(), consumer.records, time.monotonic(), consumer.gaps.missed
        io.run(idle=0.001, duration=seconds)
        me1, n1, t1, missed1 = time.process_time(), consumer.records, time.monotonic(), consumer.gaps.missed
        cpu1 = [_proc_cpu(p) for p in pids]
    finally:
        cluster.stop()
        io.close()
    span = t1 - t0
    produced = 0.0
    for samples in reports.values():
        tail = [s for s in samples if t0 - 0.5 <= s[0] <= t1 + 0.5]
        if len(tail) >= 2:
            produced += (tail[-1][1] - tail[0][1]) / (tail[-1][0] - tail[0][0])
    shares = [(b - a) / span for a, b in zip(cpu0, cpu1)]
    return {"delivered": (n1 - n0) / span, "produced": produced, "missed": missed1 - missed0,
            "workers_cpu": shares[:-1], "server_cpu": shares[-1], "consumer_cpu": (me1 - me0) / span,
            "records": n1 - n0}


def _latency(nats_url: str, seconds: float, batch: int, idle: float | None) -> tuple[list[float], list[float]]:
    from endpoints.binance import Trade
    from boomnet.testing.binance import Exchange

    recv: list[float] = []
    exch: list[float] = []

    class Measure(RecordConsumer):
        def on_record(self, kind: str, record: Any, env: Any, ctx: Any) -> None:
            now = time.time_ns()
            recv.append((now - env.recv_ns) / 1e3)
            exch.append((now - env.exch_ns) / 1e3)

    io: IOService[None] = IOService()
    io.register(Measure([nats_url], {"trade": Trade}, "md.sim.>"))
    with Exchange(rate=100, burst_every=0, seed=1) as ex:
        cluster = Cluster(_latency_worker, keys=["btcusdt", "ethusdt"], workers=1, cpus=[1], idle=idle,
                          options={"nats": nats_url, "url": ex.url, "ca_file": ex.ca_file, "batch": batch})
        try:
            cluster.start()
            io.run(idle=0.0005, duration=2.0)
            recv.clear()
            exch.clear()
            io.run(idle=0.0005, duration=seconds)
        finally:
            cluster.stop()
            io.close()
    return sorted(recv), sorted(exch)


def _latency_worker(worker: WorkerInfo) -> list[Any]:
    from tests.bus.cluster_workers import build_binance_worker

    return build_binance_worker(worker)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64, help="records per NATS message (1: one envelope each)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--idle", type=float, default=0.0, help="Cluster(idle=...) for the latency worker (0: busy-poll)")
    ap.add_argument("--gomaxprocs", type=int, default=0, help="GOMAXPROCS for nats-server (0: Go's default)")
    a = ap.parse_args()
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    if a.gomaxprocs:
        env["GOMAXPROCS"] = str(a.gomaxprocs)
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    url = f"nats://127.0.0.1:{port}"
    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    load0 = os.getloadavg()[0]
    recv: list[float] = []
    exch: list[float] = []
    try:
        time.sleep(0.3)
        for r in range(a.rounds):
            for n in (1, 2) if r % 2 == 0 else (2, 1):
                res = _scaling(url, n, a.seconds, a.batch, proc.pid)
                results[n].append(res)
                workers_cpu = " + ".join(f"{c:.0%}" for c in res["workers_cpu"])
                print(f"round {r + 1}: {n} worker(s) delivered {res['delivered']:10,.0f} records/s "
                      f"(produced {res['produced']:,.0f}/s, gaps {res['missed']}); CPU: workers {workers_cpu}, "
                      f"nats-server {res['server_cpu']:.0%}, consumer {res['consumer_cpu']:.0%}", flush=True)
        if not a.no_latency:
            recv, exch = _latency(url, a.seconds * 2, a.batch, a.idle or None)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    def med(n: int, key: str) -> float:
        return float(statistics.median(x[key] for x in results[n]))

    if recv:
        q = statistics.quantiles(recv, n=100)
        qe = statistics.quantiles(exch, n=100)
        latency_line = (f"Latency over {len(recv):,} trades from the embedded exchange (batch {a.batch}, worker "
                        f"{'idle=' + str(a.idle) if a.idle else 'busy-polling'}): worker -> "
                        f"NATS -> consumer p50 {statistics.median(recv):.0f} µs, p99 {q[98]:.0f} µs; exchange E -> "
                        f"consumer p50 {statistics.median(exch) / 1e3:.2f} ms, p99 {qe[98] / 1e3:.2f} ms "
                        "(E has ms resolution)")
    if not a.rounds:
        print(latency_line if recv else "nothing measured")
        return 0
    one, two = med(1, "delivered"), med(2, "delivered")
    print()
    print(f"Decode + publish per worker (records in memory, batch {a.batch}), delivered to a decoding consumer, "
          f"{a.rounds} alternating rounds (medians), load {load0:.1f} -> {os.getloadavg()[0]:.1f}:")
    print()
    print("| workers | delivered records/s | vs 1 worker | produced/s | CPU: workers | nats-server | consumer |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for n, rate in ((1, one), (2, two)):
        cpus = " + ".join(f"{statistics.median(x['workers_cpu'][i] for x in results[n]):.0%}" for i in range(n))
        print(f"| {n} | {rate:,.0f} | {rate / one:.2f}x | {med(n, 'produced'):,.0f} | {cpus} | "
              f"{med(n, 'server_cpu'):.0%} | {med(n, 'consumer_cpu'):.0%} |")
    # the budget: CPU seconds per delivered record of each role, from the 1-worker rounds
    w = statistics.median(x["workers_cpu"][0] / x["delivered"] for x in results[1])
    c = statistics.median(x["consumer_cpu"] / x["delivered"] for x in results[1])
    srv = statistics.median(x["server_cpu"] / x["delivered"] for x in results[1])
    bound = min(2.0, 2 * w / (w + c + srv))
    print()
    print(f"CPU per record (1-worker rounds): worker {w * 1e9:.0f} ns, consumer {c * 1e9:.0f} ns, nats-server "
          f"{srv * 1e9:.0f} ns. On 2 cores, 2 workers can deliver at most 2w/(w+c+s) = {bound:.2f}x one worker.")
    if recv:
        print()
        print(latency_line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
