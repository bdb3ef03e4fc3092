"""TLS read modes side by side: small-message echo RTT and the cost of an idle poll, TlsStream over
memory BIOs (the default) vs direct (``memory_bio=False``: the engine reads the socket itself).

    .venv/bin/python -m perf.tls_modes [--rounds 3] [--count 20000] [--size 100]

A stdlib ``ssl`` echo server (TLS 1.3, a ``trustme`` certificate) runs in its own process; the
client busy-polls ``recv_into``. Modes alternate round by round (A, B, A, B, ...); medians of the
per-round p50/p99 and of the per-call idle cost (100,000 ``recv_into`` calls with nothing to read).
For bulk transfers see ``perf/h2_bench.py --job down`` and ``perf/tls_backends.py``.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import ssl
import statistics
import tempfile
import time

import trustme

from boomnet.stream import TcpStream
from boomnet.stream.tls import TlsStream
from boomnet.stream.options import TlsOptions



def server(port_q: mp.Queue, certfile: str, keyfile: str) -> None:
    """Echo every read back, one connection after another (until terminated)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port_q.put(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = ctx.wrap_socket(conn, server_side=True)
        try:
            while data := tls.recv(65536):
                tls.sendall(data)
        except OSError:
            pass
        tls.close()


def client(port: int, ca: str, memory: bool, n: int, size: int) -> tuple[float, float, float]:
    """p50 and p99 round trip (ns) of ``n`` echoes of ``size`` bytes, then ns per idle recv_into."""
    st = TlsStream(TcpStream.connect("127.0.0.1", port), "localhost", options=TlsOptions(ca_file=ca, memory_bio=memory))
    deadline = time.monotonic() + 10
    while not st.establish():
        if time.monotonic() > deadline:
            raise SystemExit("TLS handshake timed out")
    buf = bytearray(65536)
    msg = b"x" * size
    rtts = []
    warmup = 500
    for i in range(n + warmup):
        t0 = time.perf_counter_ns()
        st.write(msg)
        st.flush()
        got = 0
        while got < size:
            got += st.recv_into(buf)
            if time.monotonic() > deadline + 60:
                raise SystemExit("echo stalled")
        if i >= warmup:
            rtts.append(time.perf_counter_ns() - t0)
    idle_calls = 100_000
    t0 = time.perf_counter_ns()
    for _ in range(idle_calls):
        st.recv_into(buf)
    idle = (time.perf_counter_ns() - t0) / idle_calls
    st.close()
    rtts.sort()
    return rtts[len(rtts) // 2], rtts[int(len(rtts) * 0.99)], idle


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m perf.tls_modes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=20_000, help="round trips per run")
    ap.add_argument("--size", type=int, default=100, help="message bytes")
    a = ap.parse_args()
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    with tempfile.TemporaryDirectory(prefix="tls-modes-") as d:
        cert.private_key_pem.write_to_path(d + "/key.pem")
        cert.cert_chain_pems[0].write_to_path(d + "/cert.pem")
        ca.cert_pem.write_to_path(d + "/ca.pem")
        q: mp.Queue = mp.Queue()
        p = mp.Process(target=server, args=(q, d + "/cert.pem", d + "/key.pem"), daemon=True)
        p.start()
        try:
            port = q.get(timeout=10)
            load = os.getloadavg()[0]
            res: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
            for _ in range(a.rounds):
                for memory in (True, False):
                    res[memory].append(client(port, d + "/ca.pem", memory, a.count, a.size))
        finally:
            p.terminate()
            p.join(10)
    print(f"TLS echo of {a.size} B, {a.count} round trips x {a.rounds} rounds, load {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| mode | p50 us | p99 us | idle recv_into ns |\n|---|---:|---:|---:|")
    for memory, rows in res.items():
        print(f"| {'memory BIO (default)' if memory else 'direct (memory_bio=False)'} | "
              f"{statistics.median(r[0] for r in rows) / 1e3:.1f} | {statistics.median(r[1] for r in rows) / 1e3:.1f} | "
              f"{statistics.median(r[2] for r in rows):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
