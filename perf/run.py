"""Side-by-side benchmarks of boomnet against the Python WebSocket peers (one command).

    .venv/bin/python -m perf.run                    # full run (~10 min)
    .venv/bin/python -m perf.run --quick            # sanity run (~1-2 min)
    .venv/bin/python -m perf.run --jobs blast,echo --clients boomnet,picows

Writes perf/results/latest.md and perf/results/latest.json (or --out DIR) and prints the Markdown.
Jobs: blast (plain + TLS), orjson (blast + orjson.loads), echo (RTT), alloc (tracemalloc per
frame), replay (recorded session through WebSocket.read_batch), poll (perf/bench_poll.py's table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from perf import replay_job
from perf.clients import CLIENTS
from perf.frames import trade_message
from perf.report import PRIMARY, render
from perf.runner import ClientRuns, Options, alloc_job, echo_job, rate_job, rate_medians, rtt_medians
from perf.servers import REPO, _env, make_tls_files, start_feed_server
from perf.stats import median
from perf.targets import evaluate

ALL_JOBS = ("blast", "orjson", "echo", "alloc", "replay", "poll")
DEFAULT_CLIENTS = [c for c in CLIENTS]
PEERS_VERSIONED = ("picows", "aiohttp", "websockets", "websocket-client", "uvloop", "orjson", "aiofastnet")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m perf.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts, 2 rounds, plain only (~1-2 min)")
    ap.add_argument("--jobs", default=",".join(ALL_JOBS), help=f"comma list from {','.join(ALL_JOBS)}")
    ap.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help="comma list of clients")
    ap.add_argument("--transports", default=None, help="plain,tls (default: both; --quick: plain)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--count", type=int, default=None, help="messages per blast run")
    ap.add_argument("--echo-samples", type=int, default=None)
    ap.add_argument("--pin", action="store_true", help="pin the server to CPU 0 and clients to CPU 1")
    ap.add_argument("--out", default=str(REPO / "perf" / "results"), help="directory for latest.md/json")
    ap.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    return ap.parse_args(argv)


def build_options(ns: argparse.Namespace) -> Options:
    if ns.quick:
        opts = Options(count=50_000, rounds=2, echo_samples=2_000, echo_warmup=300, alloc_frames=10_000, alloc_warmup=2_000)
    else:
        opts = Options()
    if ns.rounds:
        opts.rounds = ns.rounds
    if ns.count:
        opts.count = ns.count
    if ns.echo_samples:
        opts.echo_samples = ns.echo_samples
        opts.echo_warmup = max(100, ns.echo_samples // 10)
    if ns.pin:
        opts.client_cpu = 1
    opts.verbose = not ns.quiet
    return opts


def section(title: str, kind: str, runs: dict[str, ClientRuns], note: str = "", load: float | None = None) -> dict[str, Any]:
    """A job's results: per-client runs, medians and boomnet's ratio to each client.

    ``load`` is the 1-minute load average when the job started (the end value is read here):
    on a shared machine it says how much the figures can be trusted."""
    if load is not None:
        note = (note + " " if note else "") + f"Load average during the job: {load:.2f} → {os.getloadavg()[0]:.2f}."
    clients: dict[str, Any] = {}
    if kind == "rate":
        medians = rate_medians(runs)
        base = medians.get(PRIMARY)
        cpu_medians = {name: median(r.cpu_values) for name, r in runs.items()}
        cpu_base = cpu_medians.get(PRIMARY)
        for name, r in runs.items():
            m, c = medians[name], cpu_medians[name]
            clients[name] = {
                "values": r.values,
                "errors": r.errors,
                "median": m,
                "ratio": base / m if base and m else None,
                "cpu_values": r.cpu_values,
                "cpu_median": c,
                "cpu_ratio": cpu_base / c if cpu_base and c else None,
            }
    elif kind == "rtt":
        medians = rtt_medians(runs)
        base = medians.get(PRIMARY)
        for name, r in runs.items():
            m = medians[name]
            ratio = {k: base[k] / m[k] for k in ("p50", "p99", "p99.9")} if base and m else None
            clients[name] = {"values": r.values, "errors": r.errors, "median": m, "ratio": ratio}
    else:
        for name, r in runs.items():
            clients[name] = {"values": r.values, "errors": r.errors}
    return {"title": title, "kind": kind, "note": note, "clients": clients}


def run_poll(quick: bool) -> dict[str, Any]:
    script = REPO / "perf" / "bench_poll.py"
    if not script.exists():
        return {"title": "poll() overhead", "kind": "text", "text": "skipped: perf/bench_poll.py not present yet", "clients": {}}
    cmd = [sys.executable, "-m", "perf.bench_poll"]
    help_text = subprocess.run(cmd + ["--help"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60).stdout
    if quick and "--quick" in help_text:
        cmd.append("--quick")
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    text = proc.stdout.strip() if proc.returncode == 0 else f"FAILED (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    return {"title": "poll() overhead with idle endpoints (perf/bench_poll.py)", "kind": "text", "text": text, "clients": {}}


def syscall_cost_us() -> float:
    """Median cost of an empty non-blocking ``recv_into`` (one syscall): virtualised machines
    can charge several µs, which weighs on every busy-poll read and every round trip."""
    import socket

    a, b = socket.socketpair()
    a.setblocking(False)
    buf = bytearray(4096)
    samples = []
    for _ in range(21):
        t = time.perf_counter_ns()
        for _ in range(200):
            try:
                a.recv_into(buf)
            except BlockingIOError:
                pass
        samples.append((time.perf_counter_ns() - t) / 200 / 1e3)
    a.close()
    b.close()
    return median(samples) or 0.0


def meta_info(mode: str) -> dict[str, Any]:
    versions = []
    for dist in PEERS_VERSIONED:
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "boomnet"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        commit += "+dirty boomnet/" if dirty else ""
    except OSError:
        commit = "?"
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "mode": mode,
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "load_before": "%.2f" % os.getloadavg()[0],
        "syscall_us": round(syscall_cost_us(), 2),
        "versions": ", ".join(versions),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ns = parse_args(argv)
    opts = build_options(ns)
    jobs = [j for j in ns.jobs.split(",") if j]
    clients = [c for c in ns.clients.split(",") if c]
    unknown = [j for j in jobs if j not in ALL_JOBS] + [c for c in clients if c not in CLIENTS]
    if unknown:
        raise SystemExit(f"unknown job/client: {', '.join(unknown)}")
    transports = (ns.transports or ("plain" if ns.quick else "plain,tls")).split(",")
    server_cpu = 0 if ns.pin else None
    started = time.monotonic()
    results: dict[str, Any] = {"meta": meta_info("quick" if ns.quick else "full"), "options": asdict(opts), "jobs": {}}
    frame_len = len(trade_message(0)) + 4
    with tempfile.TemporaryDirectory(prefix="boomnet-perf-") as tmp:
        tls_files = make_tls_files(tmp)
        for transport in transports:
            tls = tls_files if transport == "tls" else None
            if not {"blast", "orjson", "echo"} & set(jobs):
                break
            with start_feed_server(tls, cpu=server_cpu) as server:
                scheme = "wss" if tls else "ws"
                if "blast" in jobs:
                    load = os.getloadavg()[0]
                    runs = rate_job(server, clients, "len", opts, tls, f"blast {transport}")
                    results["jobs"][f"blast_{transport}"] = section(
                        f"blast, {transport} ({scheme}://): {opts.count:,} trade text frames of ~{frame_len} B, handler takes len(payload)",
                        "rate", runs,
                        "Messages delivered to the handler per second, first to last message. The raw socket row only counts bytes: it shows the feed server is not the bottleneck. 'CPU' columns divide by the client's own CPU time over the same span (all its threads): less sensitive to other load on the machine.",
                        load,
                    )  # fmt: skip
                if "orjson" in jobs:
                    load = os.getloadavg()[0]
                    runs = rate_job(server, [c for c in clients if c != "raw"], "orjson", opts, tls, f"orjson {transport}")
                    results["jobs"][f"orjson_{transport}"] = section(
                        f"blast + orjson.loads, {transport} ({scheme}://): {opts.count:,} messages, handler parses each and sums trade ids",
                        "rate", runs, "", load,
                    )  # fmt: skip
                if "echo" in jobs and transport == transports[0]:
                    load = os.getloadavg()[0]
                    runs = echo_job(server, clients, opts, tls, f"echo {transport}")
                    results["jobs"][f"echo_{transport}"] = section(
                        f"echo round trip, {transport}: {opts.echo_samples:,} sequential ping-pongs of a {opts.echo_size}-byte text message",
                        "rtt", runs,
                        f"From just before send to the handler seeing the reply; {opts.echo_warmup:,} warm-up round trips dropped; per-round percentiles, median over rounds.",
                        load,
                    )  # fmt: skip
        if "alloc" in jobs:
            with start_feed_server(None, cpu=server_cpu) as server:
                load = os.getloadavg()[0]
                runs = alloc_job(server, clients, opts)
            results["jobs"]["alloc"] = section(
                f"allocations per frame (tracemalloc, {opts.alloc_frames:,} frames after {opts.alloc_warmup:,} warm-up, plain)",
                "alloc", runs,
                "Paced feed: the client asks for 256 frames at a time; every snapshot follows a 1-frame burst, so all snapshots see the same client state. 'Retained over the window' includes bounded pools and caches; 'growth in 2nd half' (last snapshot minus the middle one, per frame) is what a per-frame leak would grow. The peak is the largest transient growth (buffers, in-flight messages).",
                load,
            )  # fmt: skip
        if "replay" in jobs:
            results["jobs"]["replay"] = replay_job.run(opts, tmp, server_cpu)
        if "poll" in jobs:
            results["jobs"]["poll"] = run_poll(ns.quick)
    results["meta"]["seconds"] = time.monotonic() - started
    results["meta"]["load_after"] = "%.2f" % os.getloadavg()[0]
    results["targets"] = evaluate(results)
    markdown = render(results)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(markdown + "\n")
    (out / "latest.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(markdown)
    return results


if __name__ == "__main__":
    main()
