"""Profile the 10 MB download paths against the bench's nginx (see :mod:`perf.h2_bench`).

    .venv/bin/python -m perf.h2_profile [--client boomnet-h2|boomnet-h1|boomnet-h2-direct|boomnet-h1-direct|urllib3|curl-h2|curl-h1] [--downloads 5] [--cprofile]

Prints MB/s, wall and CPU time (this process, and nginx's: tick-granular, 10 ms) per download, then per-download counts: TLS reads (``SSL_read`` calls that returned
data, and the empty ones), HTTP/2 DATA frames, polls, and Python-level function calls (from
``sys.setprofile``, so the figure is the number of Python and C calls made per download).
``--cprofile`` prints the top of a cProfile run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import time

from perf.h2_bench import SIZE, serve
from perf.h2_bench import process_cpu as _cpu


def _get(client: str, url: str, ca: str):
    direct = client.endswith("-direct")  # TlsOptions(memory_bio=False)
    if client.startswith("boomnet-h2"):
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        http = HttpClient(tls=TlsOptions(ca_file=ca, memory_bio=not direct), request_timeout=60)
        http.get(url + "/10mb.sha256")
        return http, lambda: http.get(url + "/10mb.bin").body
    if client.startswith("boomnet-h1"):
        from boomnet.http import HttpClient
        from boomnet.stream.options import TlsOptions

        http1 = HttpClient(tls=TlsOptions(ca_file=ca, memory_bio=not direct), request_timeout=60, http2="off")
        http1.get(url + "/10mb.sha256")
        return http1, lambda: http1.get(url + "/10mb.bin").body
    import urllib3

    pool = urllib3.PoolManager(ca_certs=ca)
    pool.request("GET", url + "/10mb.sha256")
    return pool, lambda: pool.request("GET", url + "/10mb.bin").data


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", default="boomnet-h2")
    ap.add_argument("--downloads", type=int, default=5)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--perf", metavar="FILE", help="also record the downloads with Linux perf into FILE")
    a = ap.parse_args()
    with serve() as (url, ca, nginx_pid):
        if a.client.startswith("curl"):  # a C client for reference: what nginx can deliver
            proto = "--http2" if a.client == "curl-h2" else "--http1.1"
            out = subprocess.run(["curl", "-s", proto, "--cacert", ca, "-w", "%{speed_download} %{http_version}\\n"]
                                 + ["-o", "/dev/null", url + "/10mb.bin"] * a.downloads,
                                 capture_output=True, text=True, timeout=120)
            for line in out.stdout.split("\n"):
                if line:
                    speed, version = line.split()
                    print(f"{a.client} (HTTP/{version}): {float(speed) / 1e6:,.0f} MB/s")
            return 0
        owner, get = _get(a.client, url, ca)
        recorder = None
        if a.perf:  # only the downloads, only this process (not nginx, not the setup)
            recorder = subprocess.Popen(["perf", "record", "-q", "-F", "9999", "-g", "-o", a.perf, "-p", str(os.getpid())])
            time.sleep(0.5)
        for _ in range(a.downloads):
            t0, c0, s0 = time.perf_counter(), time.process_time(), _cpu(nginx_pid)
            body = get()
            dt, dc, ds = time.perf_counter() - t0, time.process_time() - c0, _cpu(nginx_pid) - s0
            assert len(body) == SIZE
            print(f"{a.client}: {SIZE / dt / 1e6:,.0f} MB/s, {dt * 1e3:.1f} ms wall, {dc * 1e3:.1f} ms CPU here, "
                  f"{ds * 1e3:.0f} ms CPU in nginx")
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=30)
        if a.cprofile:
            prof = cProfile.Profile()
            prof.enable()
            get()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        else:
            calls: dict[str, int] = {}

            def tracer(frame, event, arg):
                if event == "call":
                    key = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_code.co_name}"
                    calls[key] = calls.get(key, 0) + 1
                elif event == "c_call":
                    key = f"C:{getattr(arg, '__qualname__', arg)}"
                    calls[key] = calls.get(key, 0) + 1

            sys.setprofile(tracer)
            get()
            sys.setprofile(None)
            total = sum(calls.values())
            print(f"calls per download: {total:,} (Python + C, profiler-visible)")
            for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:30]:
                print(f"{v:10,d}  {k}")
        close = getattr(owner, "close", None) or owner.clear
        close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
