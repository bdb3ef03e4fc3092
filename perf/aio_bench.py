"""What running boomnet beside an asyncio server costs the server.

    .venv/bin/python -m perf.aio_bench [--requests 3000] [--rounds 3]

An aiohttp server (uvloop) answers ``GET /`` in a process that also runs an IOService doing
real work: an RPC client and server on loopback, 1,000 calls a second driven by a timer. The
IOService runs one of three ways: not at all (the baseline), a busy-poll thread
(``run_in_thread(idle=None)``), or ``run_in_thread(idle=0.001)`` (``poll()`` + ``wait(1 ms)``,
the default) — and, as the fourth row, the same through :class:`boomnet.aio.AsyncBridge` with an
``await bridge.call(...)`` inside every request handler. A separate client process makes
sequential keep-alive requests (raw socket, no library) and records each latency. Modes
alternate round by round; medians of the per-round p50/p99; CPU is the server process's CPU
time over the measured span.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

MODES = ("none", "busy-thread", "wait-thread", "bridge")


def server(mode: str, port: int, ready_path: str) -> None:  # pragma: no cover - child process
    import asyncio

    from aiohttp import web

    from boomnet.aio import AsyncBridge
    from boomnet.rpc import RpcClientEndpoint, RpcServerEndpoint
    from boomnet.service import IOService

    io: IOService[None] = IOService()
    loop_thread = None
    bridge: AsyncBridge[None] | None = None
    if mode != "none":
        srv = RpcServerEndpoint("127.0.0.1", 0, handlers={"echo": lambda req: req.payload})
        io.register(srv)
        while srv.address is None:
            io.poll()
        cli = RpcClientEndpoint("127.0.0.1", srv.address[1])
        io.register(cli)
        cli.every(0.001, lambda conn, ctx: cli.call("echo", b"x" * 64, timeout=1))

    async def handle(request: web.Request) -> web.Response:
        if bridge is not None:
            await bridge.call(lambda: cli.rpc.completed)
        return web.Response(text="ok")

    async def main() -> None:
        nonlocal loop_thread, bridge
        if mode == "busy-thread":
            loop_thread = io.run_in_thread(idle=None)
        elif mode == "wait-thread":
            loop_thread = io.run_in_thread(idle=0.001)
        elif mode == "bridge":
            bridge = AsyncBridge(io)
            bridge.start()
        app = web.Application()
        app.router.add_get("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        with open(ready_path, "w") as f:
            f.write(str(os.getpid()))
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def client(port: int, n: int) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    lat = []
    for i in range(n + 200):
        t0 = time.perf_counter()
        sock.sendall(req)
        data = b""
        while not data.endswith(b"ok"):
            data += sock.recv(4096)
        if i >= 200:  # warm-up
            lat.append((time.perf_counter() - t0) * 1e6)
    sock.close()
    return lat


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        server(a.serve, a.port, a.ready)
        return 0
    results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
    for r in range(a.rounds):
        for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            ready = f"/tmp/boomnet-aio-{os.getpid()}-{mode}"
            proc = subprocess.Popen([sys.executable, "-m", "perf.aio_bench", "--serve", mode, "--port", str(port),
                                     "--ready", ready])
            try:
                deadline = time.monotonic() + 20
                while not os.path.exists(ready) and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.3)
                cpu0, t0 = _cpu(proc.pid), time.monotonic()
                lat = sorted(client(port, a.requests))
                cpu = (_cpu(proc.pid) - cpu0) / (time.monotonic() - t0)
                q = statistics.quantiles(lat, n=100)
                results[mode].append((statistics.median(lat), q[98], cpu))
                print(f"round {r + 1} {mode:12s} p50 {results[mode][-1][0]:7.0f} µs  p99 {q[98]:7.0f} µs  "
                      f"cpu {cpu * 100:5.0f}%", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                if os.path.exists(ready):
                    os.unlink(ready)
    print()
    print(f"aiohttp GET p50/p99 over {a.requests:,} sequential requests, server process CPU; "
          f"{a.rounds} alternating rounds (medians); load {os.getloadavg()[0]:.1f}")
    print()
    print("| boomnet in the server process | p50 µs | p99 µs | server CPU |")
    print("|---|---:|---:|---:|")
    names = {"none": "nothing (baseline)", "busy-thread": "IOService busy-poll thread",
             "wait-thread": "IOService thread, poll() + wait(1 ms)",
             "bridge": "AsyncBridge, each request awaits the loop thread"}
    for mode in MODES:
        rows = results[mode]
        print(f"| {names[mode]} | {statistics.median(x[0] for x in rows):,.0f} | "
              f"{statistics.median(x[1] for x in rows):,.0f} | {statistics.median(x[2] for x in rows) * 100:.0f}% |")
    print(json.dumps({m: results[m] for m in MODES}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
