"""Keep-alive GET over loopback, one connection: boomnet vs aiohttp, httpx, requests, urllib3.

    .venv/bin/python perf/bench_http.py [--requests 3000] [--rounds 5] [--server nginx|aiohttp]
    .venv/bin/python perf/bench_http.py --body-size 1048576 --requests 200 --clients boomnet,urllib3

``--body-size`` N > 0 downloads an N-byte static file (nginx) instead of the small body: the
figure that shows the cost of receiving and handing out a large body.

The server (nginx by default; an aiohttp.web process otherwise) runs in its own process; every
client runs in its own fresh process, one at a time, alternating A,B,C,... for ``--rounds``
rounds. Each client makes ``--warmup`` requests, then ``--requests`` timed ones on one
keep-alive connection, checking every status and body. Reported: median requests/s, median of
per-round p50/p99 latency, and the ratio to aiohttp. Figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BODY = b"hello, keep-alive world\n"  # what /small returns
CLIENTS = ["boomnet", "boomnet-conn", "aiohttp", "aiohttp-uvloop", "httpx", "requests", "urllib3"]
#: the expected body (BODY, or the big file's bytes when --body-size is given)
EXPECTED = BODY


def _big_body(size: int) -> bytes:
    """Deterministic, incompressible-looking content of ``size`` bytes (the same in every process)."""
    block = bytes((i * 2654435761 >> 13) & 0xFF for i in range(65536))
    return (block * (size // len(block) + 1))[:size]


# --- clients (each runs in its own process: ``bench_http.py --client NAME --url URL``) ----------


def _measure(one_request, n: int, warmup: int) -> dict:
    for _ in range(warmup):
        one_request()
    lat = [0.0] * n
    clock = time.perf_counter
    start = clock()
    for i in range(n):
        t0 = clock()
        one_request()
        lat[i] = clock() - t0
    total = clock() - start
    lat.sort()
    return {"rps": n / total, "p50_us": lat[n // 2] * 1e6, "p99_us": lat[int(n * 0.99)] * 1e6}


async def _ameasure(one_request, n: int, warmup: int) -> dict:
    for _ in range(warmup):
        await one_request()
    lat = [0.0] * n
    clock = time.perf_counter
    start = clock()
    for i in range(n):
        t0 = clock()
        await one_request()
        lat[i] = clock() - t0
    total = clock() - start
    lat.sort()
    return {"rps": n / total, "p50_us": lat[n // 2] * 1e6, "p99_us": lat[int(n * 0.99)] * 1e6}


def _check(status: int, body: bytes) -> None:
    if status != 200 or len(body) != len(EXPECTED) or body != EXPECTED:
        raise SystemExit(f"wrong response: {status} {body[:60]!r}")


def run_client(name: str, url: str, n: int, warmup: int) -> dict:
    if name == "boomnet":
        from boomnet.http import HttpClient

        client = HttpClient()

        def one():
            r = client.get(url)
            _check(r.status, r.body)

        result = _measure(one, n, warmup)
        assert client.connections_opened == 1, client.connections_opened
        return result

    if name == "boomnet-conn":  # the non-blocking connection driven directly (no pool, no URL)
        from boomnet.http import HttpConnection, encode_request, parse_url
        from boomnet.http.blocking import establish, exchange

        u = parse_url(url)
        from boomnet.stream import TcpStream

        conn = HttpConnection(TcpStream.connect(u.host, u.port), u.host_header)
        establish(conn, time.monotonic() + 5)
        head, _ = encode_request("GET", u.target, u.host_header)

        def one():
            r = exchange(conn, "GET", head, b"", time.monotonic() + 5)
            _check(r.status, r.body)

        return _measure(one, n, warmup)

    if name in ("aiohttp", "aiohttp-uvloop"):
        import asyncio

        import aiohttp

        async def main() -> dict:
            conn = aiohttp.TCPConnector(limit=1)
            async with aiohttp.ClientSession(connector=conn) as session:

                async def one():
                    async with session.get(url) as r:
                        _check(r.status, await r.read())

                return await _ameasure(one, n, warmup)

        if name == "aiohttp-uvloop":
            import uvloop

            return uvloop.run(main())
        return asyncio.run(main())

    if name == "httpx":
        import httpx

        with httpx.Client() as client:

            def one():
                r = client.get(url)
                _check(r.status_code, r.content)

            return _measure(one, n, warmup)

    if name == "urllib3":
        import urllib3

        pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.split(":")[2].split("/")[0]), maxsize=1)
        path = "/" + url.split("/", 3)[3]

        def one():
            r = pool.request("GET", path)
            _check(r.status, r.data)

        return _measure(one, n, warmup)

    if name == "requests":
        import requests

        with requests.Session() as session:

            def one():
                r = session.get(url)
                _check(r.status_code, r.content)

            return _measure(one, n, warmup)

    raise SystemExit(f"unknown client {name}")


# --- servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def start_nginx(tmp: Path, body_size: int = 0) -> tuple[subprocess.Popen, int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _free_port()
    body = BODY.decode().replace("\n", "\\n")
    (tmp / "www").mkdir(exist_ok=True)
    if body_size:
        (tmp / "www" / "big").write_bytes(_big_body(body_size))
    (tmp / "nginx.conf").write_text(
        f"""
daemon off; master_process off; worker_processes 1;
pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000; keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location = /small {{ default_type text/plain; return 200 "{body}"; }}
        location = /big {{ default_type application/octet-stream; }}
    }}
}}
"""
    )
    proc = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.DEVNULL)
    _wait_port(port, proc)
    return proc, port


AIOHTTP_SERVER = """
import sys
from aiohttp import web
body = %r
async def small(request):
    return web.Response(body=body, content_type="text/plain")
app = web.Application()
app.router.add_get("/small", small)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def start_aiohttp(tmp: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    script = tmp / "server.py"
    script.write_text(AIOHTTP_SERVER % BODY)
    proc = subprocess.Popen([PY, str(script), str(port)])
    _wait_port(port, proc)
    return proc, port


# --- orchestration ------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--server", choices=["nginx", "aiohttp"], default="nginx")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset of " + ",".join(CLIENTS))
    ap.add_argument("--body-size", type=int, default=0, help="download a static file of this size (nginx only)")
    args = ap.parse_args()
    global EXPECTED
    if args.body_size:
        EXPECTED = _big_body(args.body_size)

    if args.client:  # child process: run one client, print JSON
        print(json.dumps(run_client(args.client, args.url, args.requests, args.warmup)))
        return

    clients = [c for c in args.clients.split(",") if c]
    with tempfile.TemporaryDirectory() as d:
        server = args.server
        if server == "nginx" and not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
            print("nginx not found; using the aiohttp server", file=sys.stderr)
            server = "aiohttp"
        if args.body_size and server != "nginx":
            raise SystemExit("--body-size needs the nginx server")
        if server == "nginx":
            proc, port = start_nginx(Path(d), args.body_size)
        else:
            proc, port = start_aiohttp(Path(d))
        url = f"http://127.0.0.1:{port}/big" if args.body_size else f"http://127.0.0.1:{port}/small"
        results: dict[str, list[dict]] = {c: [] for c in clients}
        try:
            for rnd in range(args.rounds):
                for c in clients:  # A, B, C, ... then again
                    out = subprocess.run(
                        [PY, __file__, "--client", c, "--url", url, "--requests", str(args.requests),
                         "--warmup", str(args.warmup), "--body-size", str(args.body_size)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        timeout=300,
                    )
                    if out.returncode:
                        raise SystemExit(f"{c} failed: {out.stderr[-2000:]}")
                    results[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
                    print(f"round {rnd + 1} {c}: {results[c][-1]['rps']:.0f} req/s", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(10)

    med = {c: {k: statistics.median(r[k] for r in results[c]) for k in ("rps", "p50_us", "p99_us")} for c in clients}
    ref = "aiohttp" if "aiohttp" in med else clients[-1]
    base = med[ref]["rps"]
    print(f"\nKeep-alive GET, {len(EXPECTED)}-byte body, one connection, server: {server}, "
          f"{args.requests} requests x {args.rounds} rounds (medians), Python {sys.version.split()[0]}\n")
    print(f"| client | requests/s | p50 µs | p99 µs | vs {ref} |")
    print("|---|---:|---:|---:|---:|")
    for c in clients:
        m = med[c]
        ratio = f"{m['rps'] / base:.2f}x" if base else "-"
        print(f"| {c} | {m['rps']:,.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
