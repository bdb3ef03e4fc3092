"""HTTP/2 benchmarks against nginx (TLS, ALPN h2): concurrent small GETs and a 10 MB download.

    .venv/bin/python -m perf.h2_bench [--job conc|down] [--batches 20] [--downloads 3] [--rounds 3]

* **concurrent**: batches of 100 concurrent ``GET /small`` (a 2-byte body): boomnet
  ``HttpClient.gather`` (ALPN picks h2: one HTTP/2 connection) vs httpx ``AsyncClient(http2=True)`` with
  ``asyncio.gather`` (one connection), and the best HTTP/1.1 figures — boomnet's pipelined
  ``HttpConnection`` (one connection, 100 requests written at once) and aiohttp (100 concurrent,
  its connector's default pool). Requests/s over ``--batches`` batches.
* **download**: ``--downloads`` 10 MB downloads (random bytes) on one warm connection (one small
  request first, the file's SHA-256: connect, TLS and imports are not counted): boomnet
  ``HttpClient`` (HTTP/2 by ALPN) and ``HttpClient(http2="off")`` (HTTP/1.1), with default TLS
  options (memory BIOs: one ``recv`` per burst of records, up to 256 KiB) and (``-direct``) with
  ``TlsOptions(memory_bio=False)`` (the engine reads the socket: two ``recv`` per TLS record), vs
  urllib3 (HTTP/1.1) and httpx (``AsyncClient(http2=True)``, one ``get`` at a time on its own
  event loop). Every body's length and SHA-256 are checked (outside the timing). The median MB/s
  of a run counts; the client's CPU time per download is reported too (steadier than MB/s on a
  loaded machine), and nginx's (the mean over the timed downloads, from ``/proc``: 10 ms clock
  ticks summed over all of them). nginx keeps its defaults for HTTP/2 (8 KiB DATA frames,
  ``http2_chunk_size``) and TLS records.

  ``curl-h2`` / ``curl-h1`` (libcurl with nghttp2, C, one process reusing its connection, to
  ``/dev/null``) show what this server can deliver: nginx itself spends ~1.5-2 ms more CPU per
  10 MB serving HTTP/2 than HTTP/1.1 (and nghttpd, nghttp2's own server, no less), so with one
  nginx worker and the client on two cores the HTTP/2 rows are bound by the server, whatever the
  client -- curl's HTTP/2 download is slower than its HTTP/1.1 one by about as much as boomnet's.

  ``--warm N`` makes N untimed downloads first. It matters: in a fresh process every client's
  first few 10 MB bodies are fresh memory (page faults: ~12 ms of CPU where the steady state needs
  ~6-8), and glibc only starts recycling such blocks after a few have been freed; ``--warm 8``
  measures the steady state a long-running process sees.

Each client runs in its own process; clients alternate round by round; medians. The server is
one nginx worker (``master_process off``), started and stopped here (:func:`serve`, also
used by ``perf/h2_profile.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
CLIENTS_DOWN = ("boomnet-h2", "boomnet-h1", "boomnet-h2-direct", "boomnet-h1-direct", "urllib3", "httpx-h2", "curl-h2",
                "curl-h1")
SIZE = 10 * 1024 * 1024


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


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(client: str, url: str, ca: str, downloads: int, warm: int = 0,
             nginx_pid: int = 0) -> tuple[float, float, float]:
    """The median MB/s of ``downloads`` 10 MB downloads on one warm connection, the median
    CPU time (ms, this process: user + system) per download -- on a loaded machine the CPU time
    is the steadier figure -- and nginx's CPU time over the timed downloads (ms, total). Every
    body is checked (length and SHA-256). The warm-up request fetches the checksum."""
    if client.startswith("curl"):
        return _curl(client, url, ca, downloads, warm, nginx_pid)
    direct = client.endswith("-direct")  # TlsOptions(memory_bio=False): the engine reads the socket itself
    if client.startswith("boomnet-h2"):
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        h2 = HttpClient(tls=TlsOptions(ca_file=ca, memory_bio=not direct), request_timeout=60)
        first = h2.get(url + "/10mb.sha256")  # warm: connection, TLS, imports (the same for every client)
        assert first.http_version == "2", first.http_version
        get, close = (lambda: h2.get(url + "/10mb.bin").body), h2.close
    elif client.startswith("boomnet-h1"):
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        h1 = HttpClient(tls=TlsOptions(ca_file=ca, memory_bio=not direct), request_timeout=60, http2="off")
        first = h1.get(url + "/10mb.sha256")
        assert first.http_version == "1.1", first.http_version
        get, close = (lambda: h1.get(url + "/10mb.bin").body), h1.close
    elif client == "httpx-h2":
        import asyncio

        import httpx

        loop = asyncio.new_event_loop()
        hx = httpx.AsyncClient(http2=True, verify=ca)
        first = loop.run_until_complete(hx.get(url + "/10mb.sha256"))
        assert first.http_version == "HTTP/2", first.http_version

        def get_httpx() -> bytes:
            return loop.run_until_complete(hx.get(url + "/10mb.bin")).content

        def close_httpx() -> None:
            loop.run_until_complete(hx.aclose())
            loop.close()

        get, close = get_httpx, close_httpx
    else:
        import urllib3

        pool = urllib3.PoolManager(ca_certs=ca)
        first = pool.request("GET", url + "/10mb.sha256")
        get, close = (lambda: pool.request("GET", url + "/10mb.bin").data), pool.clear
    if client == "httpx-h2":
        digest = first.content.decode()
    else:
        digest = bytes(first.data if client == "urllib3" else first.body).decode()
    rates, cpus = [], []
    server = 0.0
    try:
        for _ in range(warm):  # untimed: the allocator's steady state (see the module doc)
            _check(get(), digest)
        for _ in range(downloads):
            s0 = process_cpu(nginx_pid) if nginx_pid else 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            body = get()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            server += (process_cpu(nginx_pid) - s0) if nginx_pid else 0.0
            rates.append(SIZE / dt / 1e6)
            cpus.append(dc * 1e3)
            _check(body, digest)
    finally:
        close()
    return statistics.median(rates), statistics.median(cpus), server * 1e3


def _curl(client: str, url: str, ca: str, downloads: int, warm: int, nginx_pid: int) -> tuple[float, float, float]:
    """curl's own per-transfer speed (connection reused; the first transfers are the warm-up),
    its CPU time per transfer (the whole process, handshake included, divided evenly), and
    nginx's CPU time over the whole run scaled to the timed transfers."""
    import resource

    proto = "--http2" if client == "curl-h2" else "--http1.1"
    n = warm + downloads
    s0 = process_cpu(nginx_pid) if nginx_pid else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["curl", "-s", "-f", proto, "--cacert", ca, "-w", "%{speed_download} %{http_version}\\n"]
                         + ["-o", "/dev/null", url + "/10mb.bin"] * n, capture_output=True, text=True, timeout=120,
                         check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = (process_cpu(nginx_pid) - s0) * downloads / n if nginx_pid else 0.0
    lines = [line.split() for line in out.stdout.splitlines() if line.strip()]
    want = "2" if client == "curl-h2" else "1.1"
    assert len(lines) == n and all(v == want for _, v in lines), out.stdout[-300:]
    rates = [float(speed) / 1e6 for speed, _ in lines[warm:]]
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n
    return statistics.median(rates), cpu * 1e3, server * 1e3


def _check(body: bytes | bytearray, digest: str) -> None:
    assert len(body) == SIZE, len(body)
    assert hashlib.sha256(body).hexdigest() == digest, "corrupt download"


@contextlib.contextmanager
def serve() -> Iterator[tuple[str, str, int]]:
    """nginx (one worker, TLS, ALPN h2 + http/1.1, default frame sizes) serving /small and
    /10mb.bin (random bytes; its SHA-256 is in /10mb.sha256); yields (url, CA file, nginx pid)."""
    import trustme

    d = Path(tempfile.mkdtemp(prefix="boomnet-h2-"))
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    (d / "chain.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    (d / "www").mkdir()
    blob = os.urandom(SIZE)
    (d / "www" / "10mb.bin").write_bytes(blob)
    (d / "www" / "10mb.sha256").write_text(hashlib.sha256(blob).hexdigest())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "nginx.conf").write_text(CONF.format(d=d, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(d / "nginx.conf"), "-p", str(d)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until nginx listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        yield f"https://localhost:{port}", str(d / "ca.pem"), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20, help="concurrent job: batches of 100 GETs per client run")
    ap.add_argument("--downloads", type=int, default=3, help="download job: downloads per client run (median)")
    ap.add_argument("--warm", type=int, default=0,
                    help="download job: untimed downloads first (0: a fresh process; 8: the steady state)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--job", choices=("conc", "down"), help="run only this job (default: both)")
    ap.add_argument("--client", help=argparse.SUPPRESS)  # a child process: one client, one job
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    ap.add_argument("--nginx-pid", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client:
        if a.job == "conc":
            print(concurrent(a.client, a.url, a.ca, a.batches))
        else:  # MB/s, CPU ms per download, nginx CPU ms over the timed downloads
            print(*download(a.client, a.url, a.ca, a.downloads, a.warm, a.nginx_pid))
        return 0
    down = CLIENTS_DOWN if shutil.which("curl") else tuple(c for c in CLIENTS_DOWN if not c.startswith("curl"))
    jobs = [(j, c) for j, c in (("conc", CLIENTS_CONC), ("down", down)) if a.job in (None, j)]
    res: dict[str, list[float]] = {}
    load0 = os.getloadavg()[0]
    with serve() as (url, ca, nginx_pid):
        for r in range(a.rounds):
            for job, clients in jobs:
                for c in clients if r % 2 == 0 else tuple(reversed(clients)):
                    out = subprocess.run([sys.executable, "-m", "perf.h2_bench", "--client", c, "--job", job,
                                          "--url", url, "--ca", ca, "--batches", str(a.batches),
                                          "--downloads", str(a.downloads), "--warm", str(a.warm),
                                          "--nginx-pid", str(nginx_pid)],
                                         capture_output=True, text=True, timeout=300)
                    if out.returncode:
                        print(f"{job} {c} failed: {out.stderr[-800:]}", file=sys.stderr)
                        continue
                    if job == "conc":
                        v = float(out.stdout.split()[-1])
                        print(f"round {r + 1} {job} {c:22s} {v:10,.1f}", flush=True)
                    else:
                        v, cpu, server = map(float, out.stdout.split()[-3:])
                        res.setdefault(f"cpu:{c}", []).append(cpu)
                        res.setdefault(f"nginx:{c}", []).append(server)
                        print(f"round {r + 1} {job} {c:22s} {v:10,.1f} MB/s {cpu:6.1f} ms CPU", flush=True)
                    res.setdefault(f"{job}:{c}", []).append(v)
    med = {k: statistics.median(v) for k, v in res.items()}
    print()
    print(f"nginx (TLS), {a.rounds} alternating rounds (medians), load {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    if a.job in (None, "conc"):
        print()
        print("| 100 concurrent small GETs | requests/s | vs httpx HTTP/2 |")
        print("|---|---:|---:|")
        for c in CLIENTS_CONC:
            if f"conc:{c}" in med:
                print(f"| {c} | {med[f'conc:{c}']:,.0f} | {med[f'conc:{c}'] / med.get('conc:httpx-h2', float('nan')):.2f}x |")
    if a.job in (None, "down"):
        print()
        after = f", after {a.warm} untimed" if a.warm else ", a fresh process"
        print(f"| 10 MB download (median of {a.downloads} per run{after}) | MB/s | vs urllib3 | client CPU ms "
              "| urllib3 CPU / this | nginx CPU ms |")
        print("|---|---:|---:|---:|---:|---:|")
        nan = float("nan")
        timed = a.downloads * a.rounds
        for c in down:
            if f"down:{c}" in med:
                server = sum(res[f"nginx:{c}"]) / timed  # ticks are 10 ms: only the sum is meaningful
                print(f"| {c} | {med[f'down:{c}']:,.0f} | {med[f'down:{c}'] / med.get('down:urllib3', nan):.2f}x "
                      f"| {med[f'cpu:{c}']:.1f} | {med.get('cpu:urllib3', nan) / med[f'cpu:{c}']:.2f}x | {server:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
