"""RPC benchmarks: boomnet.rpc vs grpcio (unary, insecure, loopback) and pyzmq DEALER/ROUTER.

    .venv/bin/python -m perf.rpc_bench [--calls 20000] [--rounds 3]

Jobs, each peer with its own server process and a client process (alternating rounds, medians):

* **round trip**: one call at a time, 64-byte request and reply; p50/p99/p99.9 of the time
  from issuing the call to the client seeing the reply.
* **throughput**: 64 calls kept in flight; completed calls per second.

Servers: boomnet ``RpcServerEndpoint`` on a busy-polled IOService (echo handler); grpcio with a
generic unary handler (bytes in, bytes out: no protobuf codegen, so the codec costs nothing on
either side); a pyzmq ROUTER loop. Clients: boomnet ``RpcClientEndpoint`` on a busy-polled
IOService; grpcio's blocking stub (round trip) and its futures (``future()``, 64 in flight); a
pyzmq DEALER with ids in the first frame.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

PAYLOAD = b"x" * 64
PEERS = ("boomnet", "grpcio", "zmq")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- servers (child processes) -------------------------------------------------------------


def serve_boomnet(port: int) -> None:
    from boomnet.rpc import RpcServerEndpoint
    from boomnet.service import IOService

    io: IOService[None] = IOService()
    io.register(RpcServerEndpoint("127.0.0.1", port, handlers={"echo": lambda req: req.payload}))
    io.run()


def serve_grpcio(port: int) -> None:
    from concurrent import futures

    import grpc

    def echo(request: bytes, context: object) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),  # no serializers: bytes pass through
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def serve_zmq(port: int) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(f"tcp://127.0.0.1:{port}")
    while True:
        sock.send_multipart(sock.recv_multipart())  # [identity, id, payload] back


# --- clients (child processes): print "p50 p99 p999 rate" ----------------------------------


def client_boomnet(port: int, n: int) -> tuple[list[float], float]:
    from boomnet.rpc import RpcClientEndpoint
    from boomnet.service import IOService

    io: IOService[None] = IOService()
    ep = RpcClientEndpoint("127.0.0.1", port)
    io.register(ep)
    warm = ep.call("echo", PAYLOAD)
    while not warm.done:
        io.poll()
    poll, call = io.poll, ep.call
    clock = time.perf_counter
    lat = []
    for _ in range(n):
        t0 = clock()
        c = call("echo", PAYLOAD)
        while not c.done:
            poll()
        lat.append((clock() - t0) * 1e6)
    done = [0]

    def again(c: object) -> None:
        done[0] += 1
        if issued[0] < n:
            issued[0] += 1
            call("echo", PAYLOAD, callback=again)

    issued = [64]
    t0 = clock()
    for _ in range(64):
        call("echo", PAYLOAD, callback=again)
    while done[0] < n:
        poll()
    rate = n / (clock() - t0)
    io.close()
    return lat, rate


def client_grpcio(port: int, n: int) -> tuple[list[float], float]:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = channel.unary_unary("/bench.Echo/Echo")
    stub(PAYLOAD, timeout=10)
    clock = time.perf_counter
    lat = []
    for _ in range(n):
        t0 = clock()
        stub(PAYLOAD)
        lat.append((clock() - t0) * 1e6)
    t0 = clock()
    inflight = [stub.future(PAYLOAD) for _ in range(64)]
    issued, done = 64, 0
    while done < n:
        f = inflight.pop(0)
        f.result()
        done += 1
        if issued < n:
            inflight.append(stub.future(PAYLOAD))
            issued += 1
    rate = n / (clock() - t0)
    channel.close()
    return lat, rate


def client_zmq(port: int, n: int) -> tuple[list[float], float]:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(f"tcp://127.0.0.1:{port}")
    sock.send_multipart([b"0", PAYLOAD])
    sock.recv_multipart()
    clock = time.perf_counter
    lat = []
    for i in range(n):
        t0 = clock()
        sock.send_multipart([b"%d" % i, PAYLOAD])
        sock.recv_multipart()
        lat.append((clock() - t0) * 1e6)
    t0 = clock()
    for i in range(64):
        sock.send_multipart([b"%d" % i, PAYLOAD])
    issued, done = 64, 0
    while done < n:
        sock.recv_multipart()
        done += 1
        if issued < n:
            sock.send_multipart([b"%d" % issued, PAYLOAD])
            issued += 1
    rate = n / (clock() - t0)
    sock.close(linger=0)
    ctx.term()
    return lat, rate


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        {"boomnet": serve_boomnet, "grpcio": serve_grpcio, "zmq": serve_zmq}[a.serve](a.port)
        return 0
    if a.client:
        lat, rate = {"boomnet": client_boomnet, "grpcio": client_grpcio, "zmq": client_zmq}[a.client](a.port, a.calls)
        lat.sort()
        q = statistics.quantiles(lat, n=1000)
        print(f"{statistics.median(lat)} {q[989]} {q[998]} {rate}")
        return 0
    rows: dict[str, list[list[float]]] = {p: [] for p in PEERS}
    for r in range(a.rounds):
        for peer in PEERS if r % 2 == 0 else tuple(reversed(PEERS)):
            port = _free_port()
            srv = subprocess.Popen([sys.executable, "-m", "perf.rpc_bench", "--serve", peer, "--port", str(port)])
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                out = subprocess.run([sys.executable, "-m", "perf.rpc_bench", "--client", peer, "--port", str(port),
                                      "--calls", str(a.calls)], capture_output=True, text=True, timeout=600, check=True)
                vals = [float(x) for x in out.stdout.split()]
                rows[peer].append(vals)
                print(f"round {r + 1} {peer:8s} p50 {vals[0]:6.0f} µs p99 {vals[1]:6.0f} p99.9 {vals[2]:6.0f}  "
                      f"{vals[3]:9,.0f} calls/s (64 in flight)", flush=True)
            finally:
                srv.kill()
                srv.wait(timeout=10)
    med = {p: [statistics.median(v[i] for v in rows[p]) for i in range(4)] for p in PEERS}
    g = med["grpcio"]
    print()
    print(f"Unary 64-byte calls on loopback, {a.calls:,} per job, {a.rounds} alternating rounds (medians), "
          f"load {os.getloadavg()[0]:.1f}")
    print()
    print("| peer | p50 µs | p99 µs | p99.9 µs | calls/s, 64 in flight | p50 vs grpcio | calls/s vs grpcio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for p in PEERS:
        m = med[p]
        print(f"| {p} | {m[0]:.0f} | {m[1]:.0f} | {m[2]:.0f} | {m[3]:,.0f} | {m[0] / g[0]:.2f}x | {m[3] / g[3]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
