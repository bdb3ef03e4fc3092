"""Bus benchmarks: publish rate to NATS (boomnet on an IOService vs nats-py on asyncio) and
end-to-end latency publisher -> NATS -> consumer, against a local nats-server.

    .venv/bin/python -m perf.bus_bench [--messages 300000] [--rounds 3]

Method (shared/perf-method.md): one nats-server; one *counting subscriber* process (a plain
socket speaking just enough NATS to SUB and count MSG bytes, so it is no one's client library
and is faster than either publisher); each publisher run is a fresh process; boomnet and nats-py
alternate round by round; medians. The rate is messages *received by the subscriber* over the
time from the publisher's first ``publish`` call (after connecting) to the subscriber's last
message (wall clock, same host), so a publisher that buffers before sending gains nothing. Latency: a boomnet consumer on an IOService reads envelopes and computes
``now - recv_ns`` (publish-side timestamp; same host clock) for paced messages (2,000/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

PAYLOAD = b"x" * 200
SUBJECT = "md.sim.btc.trade"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counting_subscriber(port: int, expect: int, out: str) -> None:
    """Subscribe with a raw socket; write {count, first, last} when ``expect`` arrived."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.recv(4096)  # INFO
    sock.sendall(b'CONNECT {"verbose":false}\r\nSUB md.> 1\r\nPING\r\n')
    buf = b""
    while b"PONG" not in buf:
        buf += sock.recv(4096)
    with open(out + ".ready", "w"):
        pass
    count = 0
    first = last = 0.0
    marker = b"MSG "
    tail = b""
    sock.settimeout(30)
    while count < expect:
        data = sock.recv(1 << 20)
        if not data:
            break
        now = time.time()
        if not first:
            first = now
        chunk = tail + data
        count += chunk.count(marker)
        tail = chunk[-3:]  # a marker split across reads is counted once, in the next chunk
        last = now
    with open(out, "w") as f:
        json.dump({"count": count, "first": first, "last": last}, f)


def _started(path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            f.write(repr(time.time()))


def boomnet_publisher(port: int, n: int, started: str | None = None) -> None:
    from boomnet.bus import NatsEndpoint
    from boomnet.service import IOService

    io: IOService = IOService()
    nats = NatsEndpoint([f"nats://127.0.0.1:{port}"], max_buffered=n + 10)
    io.register(nats)
    while nats.connects == 0:
        io.poll()
    publish, poll = nats.publish, io.poll
    _started(started)
    sent = 0
    while sent < n:
        for _ in range(512):
            publish(SUBJECT, PAYLOAD)
        sent += 512
        poll()
    while nats.buffered or nats._nats is not None and nats._nats.pending:
        poll()
    done = nats.confirm()
    while not done():
        poll()
    io.close()


def natspy_publisher(port: int, n: int, started: str | None = None) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(f"nats://127.0.0.1:{port}", pending_size=64 * 1024 * 1024)
        _started(started)
        sent = 0
        while sent < n:
            for _ in range(512):
                await nc.publish(SUBJECT, PAYLOAD)
            sent += 512
        await nc.flush()
        await nc.close()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover
        asyncio.run(main())


def latency(port: int, n: int) -> list[float]:
    """Paced publisher and consumer on one IOService; returns latencies in µs."""
    from boomnet.bus import NatsEndpoint, RecordPublisher
    from boomnet.bus.envelope import decode_envelope
    from boomnet.service import IOService

    lat: list[float] = []
    io: IOService = IOService()
    pub_ep = NatsEndpoint([f"nats://127.0.0.1:{port}"])
    sub_ep = NatsEndpoint([f"nats://127.0.0.1:{port}"])
    sub_ep.subscribe("md.>", handler=lambda m, c: lat.append((time.time_ns() - decode_envelope(m.payload).recv_ns) / 1e3))
    io.register(pub_ep)
    io.register(sub_ep)
    while pub_ep.connects == 0 or sub_ep.connects == 0:
        io.poll()
    pub = RecordPublisher(pub_ep, venue="sim", publisher="p")
    t_end = time.monotonic() + 0.5
    while time.monotonic() < t_end:  # let the SUB settle
        io.poll()
    lat.clear()
    interval = 1 / 2000
    next_t = time.perf_counter()
    deadline = time.monotonic() + n * interval * 3 + 10
    while len(lat) < n and time.monotonic() < deadline:
        now = time.perf_counter()
        if now >= next_t:
            pub.publish("btc", "trade", {"p": "1.0"})
            next_t += interval
        io.poll()
    io.close()
    return lat


def _run(args: list[str], timeout: float = 300) -> None:
    subprocess.run([sys.executable, "-m", "perf.bus_bench", *args], check=True, timeout=timeout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "sub":
        counting_subscriber(a.port, a.messages, a.out)
        return 0
    if a.role == "boomnet":
        boomnet_publisher(a.port, a.messages, a.out)
        return 0
    if a.role == "nats-py":
        natspy_publisher(a.port, a.messages, a.out)
        return 0
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = _free_port()
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rates: dict[str, list[float]] = {"boomnet": [], "nats-py": []}
    try:
        time.sleep(0.3)
        n = a.messages - a.messages % 512
        for r in range(a.rounds):
            for who in ("boomnet", "nats-py") if r % 2 == 0 else ("nats-py", "boomnet"):
                out = f"/tmp/boomnet-bus-{os.getpid()}-{who}-{r}.json"
                sub = subprocess.Popen([sys.executable, "-m", "perf.bus_bench", "--role", "sub", "--port", str(port),
                                        "--messages", str(n), "--out", out])
                deadline = time.monotonic() + 10
                while not os.path.exists(out + ".ready") and time.monotonic() < deadline:
                    time.sleep(0.01)
                _run(["--role", who, "--port", str(port), "--messages", str(n), "--out", out + ".start"])
                sub.wait(timeout=60)
                with open(out) as f:
                    res = json.load(f)
                with open(out + ".start") as f:
                    res["seconds"] = res["last"] - float(f.read())
                for suffix in ("", ".ready", ".start"):
                    os.unlink(out + suffix)
                if res["count"] != n:
                    raise SystemExit(f"{who}: subscriber counted {res['count']} of {n}")
                rates[who].append(n / res["seconds"])
                print(f"round {r + 1} {who:8s} {n / res['seconds'] / 1e3:8.0f} k msgs/s", flush=True)
        lat = sorted(latency(port, 10_000))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    b, p = statistics.median(rates["boomnet"]), statistics.median(rates["nats-py"])
    q = statistics.quantiles(lat, n=1000)
    load = os.getloadavg()[0]
    print()
    print(f"Publish {n:,} messages of 200 B to NATS, counted at a raw subscriber, {a.rounds} alternating "
          f"rounds (medians), load {load:.1f}:")
    print()
    print("| publisher | msgs/s | vs nats-py |")
    print("|---|---:|---:|")
    print(f"| boomnet NatsEndpoint on an IOService | {b:,.0f} | {b / p:.2f}x |")
    print(f"| nats-py (asyncio + uvloop) | {p:,.0f} | 1.00x |")
    print()
    print(f"Latency publish -> nats-server -> boomnet consumer, {len(lat):,} paced messages (2,000/s): "
          f"p50 {statistics.median(lat):.0f} µs, p99 {q[989]:.0f} µs, p99.9 {q[998]:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
