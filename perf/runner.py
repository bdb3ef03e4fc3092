"""Run client processes against a feed server, alternating clients round by round.

Every client run is a fresh process (``python -m perf.clients NAME``) so no client pays for
another's imports, JIT-less warm caches or garbage. Results are validated against what the feed
must have delivered (message count, payload bytes, sum of trade ids) before they count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from perf.clients import supports
from perf.frames import feed
from perf.servers import REPO, FeedServer, TlsFiles, _env
from perf.stats import median, rtt_summary


@dataclass
class Options:
    count: int = 300_000  # blast messages per run
    rounds: int = 3
    echo_samples: int = 10_000
    echo_warmup: int = 1_000
    echo_size: int = 256
    alloc_frames: int = 50_000
    alloc_warmup: int = 5_000
    client_cpu: int | None = None  # pin client processes (server gets the other CPU)
    verbose: bool = True


@dataclass
class ClientRuns:
    """Every run of one client in one job; ``values`` are the per-round figures."""

    values: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_values: list[float] = field(default_factory=list)  # blast: msgs per CPU-second of the client


def run_client(
    name: str, url: str, job: str, count: int, opts: Options, tls: TlsFiles | None, **extra: Any
) -> dict:
    """One client process; returns its JSON result or raises RuntimeError with its stderr tail."""
    cmd = [sys.executable, "-m", "perf.clients", name, "--url", url, "--job", job, "--count", str(count)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    if tls is not None:
        cmd += ["--ca-file", tls.ca]
    if opts.client_cpu is not None:
        cmd += ["--cpu", str(opts.client_cpu)]
    timeout = 60 + count / 5_000
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout:.0f}s") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"exit {proc.returncode}: {tail[:300]}")
    return json.loads(lines[-1])


def _log(opts: Options, text: str) -> None:
    if opts.verbose:
        print(text, file=sys.stderr, flush=True)


def rotated(items: list[str], k: int) -> list[str]:
    k %= max(1, len(items))
    return items[k:] + items[:k]


def rate_job(
    server: FeedServer, clients: list[str], handler: str, opts: Options, tls: TlsFiles | None, label: str
) -> dict[str, ClientRuns]:
    """Blast ``opts.count`` messages at each client, ``opts.rounds`` rounds; values are msgs/s."""
    expect = feed(opts.count)
    runs = {c: ClientRuns() for c in clients if supports(c, "blast")}
    names = list(runs)
    url = server.url(f"/blast?n={opts.count}")
    for rnd in range(opts.rounds):
        for name in rotated(names, rnd):
            try:
                res = run_client(name, url, "blast", opts.count, opts, tls, handler=handler)
                problem = _check_blast(res, expect, handler, name)
                if problem:
                    raise RuntimeError(problem)
                timed = res["msgs"] - res.get("uncounted", 1)
                rate = timed / res["seconds"]
                runs[name].values.append(rate)
                if res.get("cpu_seconds", 0) > 0:
                    runs[name].cpu_values.append(timed / res["cpu_seconds"])
                _log(opts, f"  {label} round {rnd + 1} {name:18s} {rate / 1e3:10.1f} k msgs/s (cpu {res.get('cpu_seconds', 0) / res['seconds']:.0%})")
            except RuntimeError as exc:
                runs[name].errors.append(str(exc))
                _log(opts, f"  {label} round {rnd + 1} {name:18s} FAILED {exc}")
    return runs


def _check_blast(res: dict, expect, handler: str, name: str) -> str | None:
    if res["msgs"] != expect.count:
        return f"delivered {res['msgs']} of {expect.count} messages"
    if res["bytes"] != expect.payload_bytes:
        return f"payload bytes {res['bytes']} != {expect.payload_bytes}"
    if handler == "orjson" and name != "raw" and res["id_sum"] != expect.id_sum:
        return f"trade id sum {res['id_sum']} != {expect.id_sum}"
    if res["seconds"] <= 0 or res.get("uncounted", 1) > res["msgs"] // 2:
        return "too few messages after the clock started (raise --count)"
    return None


def echo_job(
    server: FeedServer, clients: list[str], opts: Options, tls: TlsFiles | None, label: str
) -> dict[str, ClientRuns]:
    """Sequential ping-pong of ``echo_size`` bytes; values are rtt summaries (µs) per round."""
    runs = {c: ClientRuns() for c in clients if supports(c, "echo")}
    names = list(runs)
    for rnd in range(opts.rounds):
        for name in rotated(names, rnd):
            try:
                res = run_client(
                    name, server.url("/echo"), "echo", opts.echo_samples, opts, tls,
                    warmup=opts.echo_warmup, size=opts.echo_size,
                )  # fmt: skip
                if len(res["rtt_ns"]) != opts.echo_samples:
                    raise RuntimeError(f"{len(res['rtt_ns'])} samples instead of {opts.echo_samples}")
                summary = rtt_summary(res["rtt_ns"])
                runs[name].values.append(summary)
                _log(opts, f"  {label} round {rnd + 1} {name:18s} p50 {summary['p50']:7.1f} µs  p99 {summary['p99']:7.1f} µs")
            except RuntimeError as exc:
                runs[name].errors.append(str(exc))
                _log(opts, f"  {label} round {rnd + 1} {name:18s} FAILED {exc}")
    return runs


def alloc_job(server: FeedServer, clients: list[str], opts: Options) -> dict[str, ClientRuns]:
    """tracemalloc difference over ``alloc_frames`` frames after ``alloc_warmup``; one run each."""
    runs = {c: ClientRuns() for c in clients if supports(c, "alloc")}
    url = server.url("/paced")
    for name in runs:
        try:
            res = run_client(name, url, "alloc", opts.alloc_frames, opts, None, warmup=opts.alloc_warmup)
            runs[name].values.append(res)
            _log(opts, f"  alloc {name:18s} {res['blocks'] / res['frames']:.4f} blocks/frame retained")
        except RuntimeError as exc:
            runs[name].errors.append(str(exc))
            _log(opts, f"  alloc {name:18s} FAILED {exc}")
    return runs


def rate_medians(runs: dict[str, ClientRuns]) -> dict[str, float | None]:
    return {name: median(r.values) for name, r in runs.items()}


def rtt_medians(runs: dict[str, ClientRuns]) -> dict[str, dict[str, float] | None]:
    out: dict[str, dict[str, float] | None] = {}
    for name, r in runs.items():
        if not r.values:
            out[name] = None
            continue
        out[name] = {k: median(v[k] for v in r.values) for k in ("p50", "p99", "p99.9", "mean")}  # type: ignore[misc]
    return out
