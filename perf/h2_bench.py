"""HTTP/2 benchmarks against nginx (TLS, ALPN h2): concurrent small GETs and a 10 MB download.

    .venv/bin/python -m perf.h2_bench [--batches 20] [--rounds 3]

* **concurrent**: batches of 100 concurrent ``GET /small`` (a 2-byte body): boomnet
  ``HttpClient.gather`` (ALPN picks h2: one HTTP/2 connection) vs httpx ``AsyncClient(http2=True)`` with
  ``asyncio.gather`` (one connection), and the best HTTP/1.1 figures — boomnet's pipelined
  ``HttpConnection`` (one connection, 100 requests written at once) and aiohttp (100 concurrent,
  its connector's default pool). Requests/s over ``--batches`` batches.
* **download**: one 10 MB file on a warm connection (one small request first: connect, TLS and
  imports are not counted): boomnet ``HttpClient`` (HTTP/2 by ALPN) and ``HttpClient(http2="off")`` (HTTP/1.1)
  vs urllib3 (HTTP/1.1). MB/s.

Each client runs in its own process; clients alternate round by round; medians. The server is
one nginx worker (``master_process off``), started and stopped here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONF = """
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    http2_max_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {d}/chain.pem;
        ssl_certificate_key {d}/key.pem;
        root {d}/www;
        location /small {{ return 200 "ok"; }}
    }}
}}
"""

CLIENTS_CONC = ("boomnet-h2", "httpx-h2", "boomnet-h1-pipelined", "aiohttp-h1")
CLIENTS_DOWN = ("boomnet-h2", "boomnet-h1", "urllib3")


def concurrent(client: str, url: str, ca: str, batches: int) -> float:
    if client == "boomnet-h2":
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        with HttpClient(tls=TlsOptions(ca_file=ca), request_timeout=60) as http:
            assert http.get(url + "/small").http_version == "2"
            t0 = time.perf_counter()
            for _ in range(batches):
                rs = http.gather([("GET", url + "/small")] * 100)
                assert len(rs) == 100 and rs[-1].body == b"ok"
            return batches * 100 / (time.perf_counter() - t0)
    if client == "boomnet-h1-pipelined":
        from boomnet.http import HttpConnection
        from boomnet.stream import TcpStream

        host = url.split("//")[1]
        stream = TcpStream.connect("127.0.0.1", int(host.split(":")[1])).into_tls("localhost", ca_file=ca,
                                                                                  alpn=["http/1.1"])
        while not stream.establish():
            pass
        conn = HttpConnection(stream, host, pipelining=True)
        t0 = time.perf_counter()
        for _ in range(batches):
            for _ in range(100):
                conn.send_request("GET", "/small")
            got = 0
            while got < 100:
                got += len(conn.poll())
                conn.flush()
        return batches * 100 / (time.perf_counter() - t0)
    import asyncio

    async def run_httpx() -> float:
        import httpx

        async with httpx.AsyncClient(http2=True, verify=ca) as c:
            await c.get(url + "/small")
            t0 = time.perf_counter()
            for _ in range(batches):
                rs = await asyncio.gather(*(c.get(url + "/small") for _ in range(100)))
                assert rs[-1].http_version == "HTTP/2"
            return batches * 100 / (time.perf_counter() - t0)

    async def run_aiohttp() -> float:
        import ssl

        import aiohttp

        ctx = ssl.create_default_context(cafile=ca)
        async with aiohttp.ClientSession() as s:
            async def one() -> bytes:
                async with s.get(url + "/small", ssl=ctx) as r:
                    return await r.read()

            await one()
            t0 = time.perf_counter()
            for _ in range(batches):
                await asyncio.gather(*(one() for _ in range(100)))
            return batches * 100 / (time.perf_counter() - t0)

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    return runner(run_httpx() if client == "httpx-h2" else run_aiohttp())


def download(client: str, url: str, ca: str) -> float:
    size = 10 * 1024 * 1024
    t0 = time.perf_counter()
    if client == "boomnet-h2":
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        with HttpClient(tls=TlsOptions(ca_file=ca), request_timeout=60) as http:
            assert http.get(url + "/small").http_version == "2"  # warm: connection, TLS, imports (the same for every client)
            t0 = time.perf_counter()
            body = http.get(url + "/10mb.bin").body
    elif client == "boomnet-h1":
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        with HttpClient(tls=TlsOptions(ca_file=ca), request_timeout=60, http2="off") as http:
            assert http.get(url + "/small").http_version == "1.1"
            t0 = time.perf_counter()
            body = http.get(url + "/10mb.bin").body
    else:
        import urllib3

        pool = urllib3.PoolManager(ca_certs=ca)
        assert pool.request("GET", url + "/small").data == b"ok"
        t0 = time.perf_counter()
        body = pool.request("GET", url + "/10mb.bin").data
    dt = time.perf_counter() - t0
    assert len(body) == size, len(body)
    return size / dt / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--client")
    ap.add_argument("--job")
    ap.add_argument("--url")
    ap.add_argument("--ca")
    a = ap.parse_args()
    if a.client:
        value = concurrent(a.client, a.url, a.ca, a.batches) if a.job == "conc" else download(a.client, a.url, a.ca)
        print(value)
        return 0
    import trustme

    d = Path(tempfile.mkdtemp(prefix="boomnet-h2-"))
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    (d / "chain.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    (d / "www").mkdir()
    (d / "www" / "10mb.bin").write_bytes(os.urandom(10 * 1024 * 1024))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "nginx.conf").write_text(CONF.format(d=d, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(d / "nginx.conf"), "-p", str(d)])
    url = f"https://localhost:{port}"
    res: dict[str, list[float]] = {}
    try:
        time.sleep(0.5)
        for r in range(a.rounds):
            for job, clients in (("conc", CLIENTS_CONC), ("down", CLIENTS_DOWN)):
                for c in clients if r % 2 == 0 else tuple(reversed(clients)):
                    out = subprocess.run([sys.executable, "-m", "perf.h2_bench", "--client", c, "--job", job,
                                          "--url", url, "--ca", str(d / "ca.pem"), "--batches", str(a.batches)],
                                         capture_output=True, text=True, timeout=300)
                    if out.returncode:
                        print(f"{job} {c} failed: {out.stderr[-800:]}", file=sys.stderr)
                        continue
                    v = float(out.stdout.split()[-1])
                    res.setdefault(f"{job}:{c}", []).append(v)
                    print(f"round {r + 1} {job} {c:22s} {v:10,.1f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print()
    print(f"nginx (TLS), {a.rounds} alternating rounds (medians), load {os.getloadavg()[0]:.1f}")
    print()
    print("| 100 concurrent small GETs | requests/s | vs httpx HTTP/2 |")
    print("|---|---:|---:|")
    for c in CLIENTS_CONC:
        if f"conc:{c}" in med:
            print(f"| {c} | {med[f'conc:{c}']:,.0f} | {med[f'conc:{c}'] / med.get('conc:httpx-h2', float('nan')):.2f}x |")
    print()
    print("| 10 MB download | MB/s | vs urllib3 |")
    print("|---|---:|---:|")
    for c in CLIENTS_DOWN:
        if f"down:{c}" in med:
            print(f"| {c} | {med[f'down:{c}']:,.0f} | {med[f'down:{c}'] / med.get('down:urllib3', float('nan')):.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
