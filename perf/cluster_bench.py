"""Scale-out benchmarks: worker scaling (1 vs 2 pinned workers) and end-to-end latency
exchange -> worker -> NATS -> consumer.

    .venv/bin/python -m perf.cluster_bench [--seconds 5] [--rounds 3]

* **scaling**: each worker (a :class:`boomnet.cluster.Cluster` process pinned to its own core)
  runs the per-message work of a feed worker as fast as it can — decode a Binance combined-stream
  trade payload into its typed record (``endpoints.binance.StreamDecoder``, msgspec) and publish
  it onto NATS in an envelope (``RecordPublisher`` over ``NatsEndpoint``) — from payloads held in
  memory (a source process would compete for the same two cores). Records/s summed over workers,
  from each worker's own counters published on the bus; 1 worker and 2 workers alternate rounds.
  nats-server runs on the same two cores, so this is the scaling the whole machine shows.
* **latency**: the embedded exchange (Python, ~100 trades/s per symbol) -> one worker running
  ``BinanceEndpoint`` -> NATS -> a ``RecordConsumer``: receive-to-consume latency
  (``now - envelope.recv_ns``, the worker stamps it when the record leaves its handler) and
  exchange-to-consume (``now - E``, where ``E`` has millisecond resolution).
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


def _payloads(n: int = 1000) -> list[bytes]:
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
    """The per-message work of a feed worker, from payloads in memory, 256 per poll."""

    def __init__(self, publisher: RecordPublisher) -> None:
        super().__init__(None, None)
        from endpoints.binance import StreamDecoder

        self.decoder = StreamDecoder(["btcusdt@trade"], combined=True)
        self.publisher = publisher
        self.payloads = _payloads()
        self.i = 0
        self.records = 0

    def create_target(self, addr: Any, ctx: Any) -> _Always:
        return _Always()

    def poll(self, target: _Always, ctx: Any) -> None:
        decode, publish, payloads = self.decoder.decode, self.publisher.publish, self.payloads
        i = self.i
        for _ in range(256):
            rec = decode(payloads[i])
            publish("btcusdt", "trade", rec, exch_ns=rec.event_time * 1_000_000)
            i = (i + 1) % len(payloads)
        self.i = i
        self.records += 256

    def metrics(self) -> dict[str, int]:
        return {"records": self.records}


def build_decode_publish(worker: WorkerInfo) -> list[Any]:
    nats = NatsEndpoint([worker.options["nats"]], name=worker.name, max_buffered=2_000_000)
    return [nats, DecodePublish(RecordPublisher(nats, venue="bench", publisher=worker.name))]


def _scaling(nats_url: str, workers: int, seconds: float) -> float:
    io: IOService[None] = IOService()
    reports: dict[str, list[tuple[float, int]]] = {}
    sub = NatsEndpoint([nats_url])

    def on_metrics(msg: Any, ctx: Any) -> None:
        r = json.loads(bytes(msg.payload))
        recs = sum(v.get("records", 0) for v in r["endpoints"].values())
        reports.setdefault(r["worker"], []).append((time.monotonic(), recs))

    sub.subscribe("boomnet.metrics.>", handler=on_metrics)
    io.register(sub)
    cluster = Cluster(build_decode_publish, keys=[f"k{i}" for i in range(workers)], workers=workers,
                      cpus=list(range(workers)), metrics_url=nats_url, metrics_interval=0.5,
                      options={"nats": nats_url})
    try:
        cluster.start()

        def spanned() -> bool:  # every worker has reported over the measured span
            return len(reports) == workers and all(v[-1][0] - v[0][0] >= seconds + 1 for v in reports.values())

        io.run(until=spanned, duration=seconds * 4 + 30)
    finally:
        cluster.stop()
        io.close()
    total = 0.0
    for samples in reports.values():
        # the rate over the last `seconds` of samples (start-up excluded)
        tail = [s for s in samples if s[0] >= samples[-1][0] - seconds]
        if len(tail) >= 2:
            total += (tail[-1][1] - tail[0][1]) / (tail[-1][0] - tail[0][0])
    return total


def _latency(nats_url: str, seconds: float) -> tuple[list[float], list[float]]:
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
        cluster = Cluster(_latency_worker, keys=["btcusdt", "ethusdt"], workers=1, cpus=[1],
                          options={"nats": nats_url, "url": ex.url, "ca_file": ex.ca_file})
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
    a = ap.parse_args()
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"nats://127.0.0.1:{port}"
    rates: dict[int, list[float]] = {1: [], 2: []}
    try:
        time.sleep(0.3)
        for r in range(a.rounds):
            for n in (1, 2) if r % 2 == 0 else (2, 1):
                rate = _scaling(url, n, a.seconds)
                rates[n].append(rate)
                print(f"round {r + 1}: {n} worker(s) {rate:12,.0f} records/s", flush=True)
        recv, exch = _latency(url, a.seconds * 2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print()
    print(f"Decode + publish per worker (records in memory), {a.rounds} alternating rounds (medians), "
          f"load {os.getloadavg()[0]:.1f}:")
    print()
    print("| workers | records/s | vs 1 worker |")
    print("|---|---:|---:|")
    print(f"| 1 | {one:,.0f} | 1.00x |")
    print(f"| 2 | {two:,.0f} | {two / one:.2f}x |")
    if recv:
        q = statistics.quantiles(recv, n=100)
        qe = statistics.quantiles(exch, n=100)
        print()
        print(f"Latency over {len(recv):,} trades from the embedded exchange: worker -> NATS -> consumer "
              f"p50 {statistics.median(recv):.0f} µs, p99 {q[98]:.0f} µs; exchange E -> consumer "
              f"p50 {statistics.median(exch) / 1e3:.2f} ms, p99 {qe[98] / 1e3:.2f} ms (E has ms resolution)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
