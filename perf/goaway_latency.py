"""How long quick HTTP/2 requests wait across nginx's GOAWAYs while slow streams are in flight.

    .venv/bin/python -m perf.goaway_latency main goaway      # git refs to compare, alternated

nginx (TLS, HTTP/2, ``keepalive_requests 50``: a GOAWAY every 50 requests) serves ``/small`` at
once and proxies ``/slow`` to an aiohttp upstream that answers after 100 ms. One
``HttpEndpoint`` on an ``IOService`` submits a GET every millisecond, every 25th a ``/slow``
one, 3,000 in all. The figures are the quick requests' latencies, from submission to
``on_response``. Each ref is exported (``git archive``) and run in a fresh process, ref after ref,
round after round; the script prints one JSON line per run and the load average before and
after. The point of the comparison: a ref that holds new requests until the old connection
has drained keeps each one waiting for the slowest stream still in flight (here up to 100 ms
every 50 requests, which is more than the arrival rate allows, so the queue grows).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
N = 3000


def client(tree: str, port: int, ca_file: str) -> None:
    sys.path.insert(0, tree)
    import boomnet

    assert boomnet.__file__ is not None and boomnet.__file__.startswith(tree), boomnet.__file__
    from boomnet.http import HttpEndpoint
    from boomnet.service import IOService
    from boomnet.stream.options import TlsOptions

    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(f"https://localhost:{port}", tls=TlsOptions(ca_file=ca_file),
                                         request_timeout=30)
    io.register(ep)
    deadline = time.monotonic() + 10
    while ep.http_version != "2" and time.monotonic() < deadline:
        io.poll()
    quick: list[float] = []
    slow: list[float] = []
    errors: list[BaseException] = []

    def done(into: list[float], t: float) -> Any:
        return lambda response: into.append(time.monotonic() - t)

    sent, due, deadline = 0, time.monotonic(), time.monotonic() + 120
    while (sent < N or len(quick) + len(slow) + len(errors) < N) and time.monotonic() < deadline:
        io.poll()
        now = time.monotonic()
        if sent < N and now >= due:
            is_slow = sent % 25 == 0
            ep.get(f"/{'slow' if is_slow else 'small'}?{sent}", on_response=done(slow if is_slow else quick, now),
                   on_error=errors.append)
            sent += 1
            due += 0.001
    io.close()
    q = sorted(quick) or [float("nan")]

    def ms(p: float) -> float:
        return round(q[min(len(q) - 1, int(p * len(q)))] * 1000, 2)

    kinds = sorted({type(e).__name__ for e in errors})
    print(json.dumps({"quick": len(quick), "slow": len(slow), "errors": len(errors), "error_kinds": kinds,
                      "p50_ms": ms(0.5),
                      "p90_ms": ms(0.9), "p99_ms": ms(0.99), "max_ms": ms(1.0), "connections": ep.connections}))


def main(refs: list[str], rounds: int = 3) -> None:
    import trustme
    from aiohttp import web

    d = Path(tempfile.mkdtemp(prefix="goaway-perf-"))
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    (d / "chain.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    trees = {}
    for ref in refs:
        tree = d / ref.replace("/", "_")
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "boomnet"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        trees[ref] = str(tree)

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.1)
        return web.Response(text="slow")

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True).start()
    assert ready.wait(10)
    from tests.conftest import free_port
    from tests.http2.conftest import _wait_port

    tls = free_port()
    (d / "nginx.conf").write_text(f"""daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 50; client_body_temp_path {d}/b; proxy_temp_path {d}/p;
  fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{ listen 127.0.0.1:{tls} ssl http2; ssl_certificate {d}/chain.pem; ssl_certificate_key {d}/key.pem;
    location /small {{ return 200 "ok"; }}
    location /slow {{ proxy_pass http://127.0.0.1:{holder['port']}; }} }} }}
""")
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(d / "nginx.conf"), "-p", str(d)])
    try:
        _wait_port(tls, nginx)
        print("load", Path("/proc/loadavg").read_text().split()[:3], flush=True)
        for _ in range(rounds):
            for ref in refs:
                out = subprocess.run([sys.executable, "-m", "perf.goaway_latency", "--client", trees[ref], str(tls),
                                      str(d / "ca.pem")], capture_output=True, text=True, timeout=200, cwd=ROOT)
                print(ref, out.stdout.strip() or out.stderr[-400:], flush=True)
        print("load", Path("/proc/loadavg").read_text().split()[:3], flush=True)
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main(sys.argv[1:] or ["main", "HEAD"])
    os._exit(0)  # (the upstream's loop thread is a daemon; do not wait for it)
