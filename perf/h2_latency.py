"""One small request at a time (order entry's pattern), against nginx over TLS: latency and CPU.

    .venv/bin/python -m perf.h2_latency [--requests 3000] [--rounds 5]

Each client sends ``GET /small`` (a 2-byte body) on one warm connection, waits for the answer,
sends the next: boomnet ``HttpClient`` over HTTP/2 (ALPN) and over HTTP/1.1 (``http2="off"``),
httpx ``AsyncClient(http2=True)`` (one ``get`` at a time on its own event loop) and urllib3
(HTTP/1.1). p50 / p99 of the wall time per request (the first tenth of each run is warm-up and
not counted), and the client's CPU time per request. Each client runs in its own process;
clients alternate round by round; medians of the per-run figures. The server is
:func:`perf.h2_bench.serve` (one nginx worker, its defaults).

What it shows: a lone HTTP/2 request costs more than a lone HTTP/1.1 one in every Python client
-- the ``h2`` package's HPACK and header validation run for each request and each response
(~100 us here) -- so where one origin speaks both and only single requests matter,
``http2="off"`` is the faster choice; HTTP/2 pays off with many requests in flight
(``perf.h2_bench``'s concurrent job).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from perf.h2_bench import serve

CLIENTS = ("boomnet-h2", "boomnet-h1", "httpx-h2", "urllib3")


def _client(name: str, url: str, ca: str) -> tuple[Callable[[], bytes], Callable[[], object]]:
    if name.startswith("boomnet"):
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        http = HttpClient(tls=TlsOptions(ca_file=ca), request_timeout=10, http2="alpn" if name == "boomnet-h2" else "off")
        want = "2" if name == "boomnet-h2" else "1.1"
        assert http.get(url).http_version == want
        return (lambda: bytes(http.get(url).body)), http.close
    if name == "httpx-h2":
        import asyncio

        import httpx

        loop = asyncio.new_event_loop()
        hx = httpx.AsyncClient(http2=True, verify=ca)
        assert loop.run_until_complete(hx.get(url)).http_version == "HTTP/2"

        def close() -> None:
            loop.run_until_complete(hx.aclose())
            loop.close()

        return (lambda: loop.run_until_complete(hx.get(url)).content), close
    import urllib3

    pool = urllib3.PoolManager(ca_certs=ca)
    return (lambda: pool.request("GET", url).data), pool.clear


def run(name: str, url: str, ca: str, requests: int) -> tuple[float, float, float]:
    """p50 and p99 latency (us) and CPU per request (us) of ``requests`` sequential GETs."""
    get, close = _client(name, url + "/small", ca)
    warm = requests // 10
    lat: list[float] = []
    try:
        for _ in range(warm):
            assert get() == b"ok"
        c0 = time.process_time()
        for _ in range(requests):
            t0 = time.perf_counter()
            body = get()
            lat.append(time.perf_counter() - t0)
            assert body == b"ok"
        cpu = (time.process_time() - c0) / requests
    finally:
        close()
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, cpu * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client:
        print(*run(a.client, a.url, a.ca, a.requests))
        return 0
    res: dict[str, list[tuple[float, float, float]]] = {c: [] for c in CLIENTS}
    load0 = os.getloadavg()[0]
    with serve() as (url, ca, _):
        for r in range(a.rounds):
            for c in CLIENTS if r % 2 == 0 else tuple(reversed(CLIENTS)):
                out = subprocess.run([sys.executable, "-m", "perf.h2_latency", "--client", c, "--url", url, "--ca", ca,
                                      "--requests", str(a.requests)], capture_output=True, text=True, timeout=300)
                if out.returncode:
                    print(f"{c} failed: {out.stderr[-800:]}", file=sys.stderr)
                    continue
                p50, p99, cpu = map(float, out.stdout.split()[-3:])
                res[c].append((p50, p99, cpu))
                print(f"round {r + 1} {c:11s} p50 {p50:6.0f} us  p99 {p99:6.0f} us  CPU {cpu:5.0f} us", flush=True)
    print()
    print(f"nginx (TLS), {a.requests:,} sequential GETs per run, {a.rounds} alternating rounds (medians), "
          f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print()
    print("| one small GET at a time | p50 µs | p99 µs | client CPU µs per request |")
    print("|---|---:|---:|---:|")
    for c in CLIENTS:
        if res[c]:
            p50, p99, cpu = (statistics.median(x[k] for x in res[c]) for k in range(3))
            print(f"| {c} | {p50:,.0f} | {p99:,.0f} | {cpu:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
