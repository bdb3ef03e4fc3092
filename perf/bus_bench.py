"""Bus benchmarks: publish rate to NATS (boomnet on an IOService vs nats-py on asyncio) and
end-to-end latency publisher -> NATS -> consumer, against a local nats-server.

    .venv/bin/python -m perf.bus_bench [--messages 1000000] [--rounds 5] [--no-pin]

Method (shared/perf-method.md):

* one nats-server; one *counting subscriber* per round (a plain socket speaking just enough NATS
  to SUB and count ``MSG`` lines and bytes, so it is no one's client library and much faster
  than either publisher); each publisher run is a fresh process; boomnet and nats-py alternate
  round by round (A B, B A, ...); medians.
* the rate is messages *received by the subscriber* over the time from the publisher's first
  ``publish`` call (after connecting) to the subscriber's last message (wall clock, same host),
  so a publisher that buffers before sending gains nothing. The subscriber checks the count and
  the exact byte total of what it received (every ``MSG`` line and payload), for both sides.
* pinning (default on 2+ cores), identical for both publishers: the publisher alone on cpu 0,
  nats-server (GOMAXPROCS follows its affinity) and the subscriber on cpu 1. Unpinned, three
  busy processes share two cores and the scheduler decides who waits: that, and the other load
  on the machine, is what made unpinned rounds swing by ±15 %.
* CPU: each round prints the CPU seconds of the publisher (while publishing), nats-server and
  the subscriber over the round, so a reader sees which one was the bottleneck; the table adds
  messages per publisher CPU-second (what the publisher itself costs; other load on the machine
  moves it much less than the wall-clock rate). Pinned on 2 cores, boomnet's wall-clock rate is
  bounded by cpu 1 (nats-server + subscriber), not by the publisher.
* both publishers run with the interpreter's default gc settings (nothing tuned on either side).

Latency: a boomnet consumer on an IOService reads envelopes and computes ``now - recv_ns``
(publish-side timestamp; same host clock) for paced messages (2,000/s).
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
from typing import Any

PAYLOAD = b"x" * 200
SUBJECT = "md.sim.btc.trade"
# what the subscriber receives per message: "MSG <subject> <sid> <size>\r\n<payload>\r\n" (sid 1)


def _msg_bytes() -> int:
    return len(b"MSG %s 1 %d\r\n" % (SUBJECT.encode(), len(PAYLOAD))) + len(PAYLOAD) + 2


def _set_size(size: int) -> None:
    global PAYLOAD
    PAYLOAD = b"x" * size

PING = b"PING\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counting_subscriber(port: int, expect: int, out: str) -> None:
    """Subscribe with a raw socket; write {count, bytes, first, last, cpu} once ``expect`` arrived.

    Every byte received is checked against the exact expected stream (``MSG <subject> 1 200``,
    the payload, CRLF, over and over) with one ``memcmp`` per read (``bytes.startswith`` on a
    memoryview), so the count is exact and the check costs far less than scanning for markers.
    The only other thing allowed between messages is the server's ``PING`` (answered)."""
    one = b"MSG %s 1 %d\r\n" % (SUBJECT.encode(), len(PAYLOAD)) + PAYLOAD + b"\r\n"
    size = len(one)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    pattern = one * (len(buf) // size + 2)  # any read, at any phase, fits inside it
    sock = socket.create_connection(("127.0.0.1", port))
    sock.recv(4096)  # INFO
    sock.sendall(b'CONNECT {"verbose":false}\r\nSUB md.> 1\r\nPING\r\n')
    got = b""
    while b"PONG\r\n" not in got:
        got += sock.recv(4096)
    rest = got.partition(b"PONG\r\n")[2]
    with open(out + ".ready", "w"):
        pass
    matched = pings = 0  # message bytes matched; server PINGs seen
    first = last = 0.0
    cpu0 = 0.0
    keep = len(rest)  # bytes carried at the front of buf (a partial PING)
    buf[:keep] = rest
    # blocking reads (no timeout: one syscall per read, not poll + recv; the parent kills a stuck
    # subscriber) woken only once 64 KiB are queued (SO_RCVLOWAT), lowered near the end: a few
    # hundred messages per read keep the instrument far cheaper than what it measures
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    recv_into, clock, setsockopt, startswith = sock.recv_into, time.time, sock.setsockopt, pattern.startswith
    want = expect * size
    lowat = 0
    while matched < want:
        low = max(1, min(64 << 10, want - matched))
        if low != lowat:
            setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, low)
            lowat = low
        n = recv_into(view[keep:])
        if not n:
            break
        last = clock()
        if not first:
            first, cpu0 = last, time.process_time()
        end, start, keep = keep + n, 0, 0
        while start < end:
            phase = matched % size
            if startswith(view[start:end], phase):
                matched += end - start
                break
            # a mismatch (rare: a server PING between messages): find the matching prefix
            lo, hi = 0, end - start
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if startswith(view[start:start + mid], phase):
                    lo = mid
                else:
                    hi = mid
            matched += lo
            start += lo
            tail = bytes(view[start:min(end, start + 6)])
            if matched % size == 0 and tail == PING:
                pings += 1
                sock.sendall(b"PONG\r\n")
                start += 6
            elif matched % size == 0 and end - start < 6 and PING.startswith(tail):
                keep = end - start  # the rest of the PING comes with the next read
                buf[:keep] = tail
                break
            else:
                raise SystemExit(f"subscriber: unexpected bytes after message {matched // size}: {tail!r}")
    with open(out, "w") as f:
        json.dump({"count": matched // size, "bytes": matched, "pings": pings, "first": first, "last": last,
                   "cpu": time.process_time() - cpu0}, f)


def _started(path: str | None, cpu: float = 0.0) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({"t": time.time(), "cpu": cpu}, f)


def boomnet_publisher(port: int, n: int, started: str | None = None) -> float:
    from boomnet.bus import NatsEndpoint
    from boomnet.service import IOService

    io: IOService[None] = IOService()
    nats = NatsEndpoint([f"nats://127.0.0.1:{port}"], max_buffered=n + 10)
    io.register(nats)
    while nats.connects == 0:
        io.poll()
    publish, poll = nats.publish, io.poll
    _started(started)
    cpu0 = time.process_time()
    sent = 0
    while sent < n:
        for _ in range(512):
            publish(SUBJECT, PAYLOAD)
        sent += 512
        poll()
    while nats.buffered or nats.pending:
        poll()
    cpu = time.process_time() - cpu0
    done = nats.confirm()
    while not done():
        poll()
    io.close()
    return cpu


def natspy_publisher(port: int, n: int, started: str | None = None) -> float:
    import nats

    cpu = [0.0]

    async def main() -> None:
        nc = await nats.connect(f"nats://127.0.0.1:{port}", pending_size=64 * 1024 * 1024)
        _started(started)
        cpu0 = time.process_time()
        sent = 0
        while sent < n:
            for _ in range(512):
                await nc.publish(SUBJECT, PAYLOAD)
            sent += 512
        await nc.flush()
        cpu[0] = time.process_time() - cpu0
        await nc.close()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover
        asyncio.run(main())
    return cpu[0]


def latency(port: int, n: int) -> list[float]:
    """Paced publisher and consumer on one IOService; returns latencies in µs."""
    from boomnet.bus import NatsEndpoint, RecordPublisher
    from boomnet.bus.envelope import decode_envelope
    from boomnet.bus.nats.protocol import Msg
    from boomnet.service import IOService

    lat: list[float] = []

    def on_msg(m: Msg, ctx: Any) -> None:
        lat.append((time.time_ns() - decode_envelope(m.payload).recv_ns) / 1e3)

    io: IOService[None] = IOService()
    pub_ep = NatsEndpoint([f"nats://127.0.0.1:{port}"])
    sub_ep = NatsEndpoint([f"nats://127.0.0.1:{port}"])
    sub_ep.subscribe("md.>", handler=on_msg)
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


def _role(a: argparse.Namespace) -> None:
    _pin(a.cpu)
    if a.role == "sub":
        counting_subscriber(a.port, a.messages, a.out)
        return
    cpu = (boomnet_publisher if a.role == "boomnet" else natspy_publisher)(a.port, a.messages, a.out + ".start")
    with open(a.out + ".pub", "w") as f:
        json.dump({"cpu": cpu}, f)


def _spawn(role: str, port: int, n: int, out: str, cpu: int | None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "perf.bus_bench", "--role", role, "--port", str(port), "--messages", str(n),
            "--size", str(len(PAYLOAD)),
            "--out", out]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    return subprocess.Popen(args)


def _round(who: str, port: int, n: int, server_pid: int, pin: bool) -> dict[str, float]:
    out = f"/tmp/boomnet-bus-{os.getpid()}-{who}"
    sub = _spawn("sub", port, n, out, 1 if pin else None)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(out + ".ready") and time.monotonic() < deadline:
            time.sleep(0.01)
        server0 = _proc_cpu(server_pid)
        pub = _spawn(who, port, n, out, 0 if pin else None)
        if pub.wait(timeout=300):
            raise SystemExit(f"{who} publisher failed")
        if sub.wait(timeout=15):  # the publisher confirmed (PING/PONG) the server has it all
            raise SystemExit(f"{who}: the subscriber failed (see above)")
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    server_cpu = _proc_cpu(server_pid) - server0
    res: dict[str, float] = {}
    with open(out) as f:
        res.update(json.load(f))
    with open(out + ".start") as f:
        res["t0"] = json.load(f)["t"]
    with open(out + ".pub") as f:
        res["pub_cpu"] = json.load(f)["cpu"]
    for suffix in ("", ".ready", ".start", ".pub"):
        os.unlink(out + suffix)
    if res["count"] != n or res["bytes"] != n * _msg_bytes():
        raise SystemExit(f"{who}: subscriber got {res['count']} of {n} messages, {res['bytes']:.0f} of "
                         f"{n * _msg_bytes()} bytes")
    res["seconds"] = res["last"] - res["t0"]
    res["rate"] = n / res["seconds"]
    res["server_cpu"] = server_cpu
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-pin", action="store_true", help="let the scheduler place the processes")
    ap.add_argument("--size", type=int, default=200, help="payload bytes (the target is about 200)")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    _set_size(a.size)
    if a.role:
        _role(a)
        return 0
    pin = not a.no_pin and len(os.sched_getaffinity(0)) >= 2
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = _free_port()
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=(lambda: _pin(1)) if pin else None)
    rates: dict[str, list[float]] = {"boomnet": [], "nats-py": []}
    per_cpu: dict[str, list[float]] = {"boomnet": [], "nats-py": []}
    load0 = os.getloadavg()[0]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        n = a.messages - a.messages % 512
        for r in range(a.rounds):
            for who in ("boomnet", "nats-py") if r % 2 == 0 else ("nats-py", "boomnet"):
                res = _round(who, port, n, proc.pid, pin)
                rates[who].append(res["rate"])
                per_cpu[who].append(n / res["pub_cpu"])
                print(f"round {r + 1} {who:8s} {res['rate'] / 1e3:6.0f} k msgs/s in {res['seconds']:.3f} s; CPU s: "
                      f"publisher {res['pub_cpu']:.3f}, nats-server {res['server_cpu']:.3f}, "
                      f"subscriber {res['cpu']:.3f}", flush=True)
        lat = sorted(latency(port, 10_000))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    b, p = statistics.median(rates["boomnet"]), statistics.median(rates["nats-py"])
    q = statistics.quantiles(lat, n=1000)
    load = os.getloadavg()[0]
    placement = ("publisher pinned to cpu 0, nats-server + subscriber to cpu 1" if pin
                 else "unpinned")
    print()
    print(f"Publish {n:,} messages of {a.size} B to NATS, counted at a raw subscriber, {a.rounds} alternating "
          f"rounds (medians), {placement}, load {load0:.1f} -> {load:.1f}:")
    print()
    bc, pc = statistics.median(per_cpu["boomnet"]), statistics.median(per_cpu["nats-py"])
    print("| publisher | msgs/s | vs nats-py | rounds (k msgs/s) | msgs per publisher CPU-s | vs nats-py |")
    print("|---|---:|---:|---|---:|---:|")
    print(f"| boomnet NatsEndpoint on an IOService | {b:,.0f} | {b / p:.2f}x | "
          f"{', '.join(f'{x / 1e3:.0f}' for x in rates['boomnet'])} | {bc:,.0f} | {bc / pc:.2f}x |")
    print(f"| nats-py (asyncio + uvloop) | {p:,.0f} | 1.00x | {', '.join(f'{x / 1e3:.0f}' for x in rates['nats-py'])} "
          f"| {pc:,.0f} | 1.00x |")
    print()
    print(f"Latency publish -> nats-server -> boomnet consumer, {len(lat):,} paced messages (2,000/s): "
          f"p50 {statistics.median(lat):.0f} µs, p99 {q[989]:.0f} µs, p99.9 {q[998]:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
