"""Replay job: record a blast session, then replay it through ``WebSocket.read_batch``.

The work happens in a child process (``perf.replay_bench``); this side starts the feed server,
checks the counts and builds the report section. Skipped, with the reason in the table, while
boomnet.stream has no RecordedStream/ReplayStream.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from perf.runner import Options
from perf.servers import REPO, _env, start_feed_server
from perf.stats import median

TITLE = "replay of a recorded blast session through WebSocket.read_batch"


def run(opts: Options, tmp: str, server_cpu: int | None) -> dict[str, Any]:
    try:
        from boomnet.stream import RecordedStream, ReplayStream  # noqa: F401
    except ImportError as exc:
        return _text(f"skipped: {exc}")
    with start_feed_server(None, cpu=server_cpu) as server:
        cmd = [
            sys.executable, "-m", "perf.replay_bench", "--url", server.url(f"/blast?n={opts.count}"),
            "--count", str(opts.count), "--dir", tmp, "--rounds", str(opts.rounds),
        ]  # fmt: skip
        if opts.client_cpu is not None:
            cmd += ["--cpu", str(opts.client_cpu)]
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return _text(f"FAILED (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    res = json.loads(lines[-1])
    rows = {}
    for way in ("direct", "service"):
        rates, problems = [], []
        for r in res[way]:
            if r["frames"] != opts.count:
                problems.append(f"replayed {r['frames']} of {opts.count} frames")
            else:
                rates.append(r["frames"] / r["seconds"])
        rows[way] = {"values": rates, "errors": problems, "median": median(rates)}
    load = median(r["load_seconds"] for r in res["direct"])
    if opts.verbose:
        print(f"  replay direct {rows['direct']['median'] or 0:,.0f} frames/s, service {rows['service']['median'] or 0:,.0f} frames/s", file=sys.stderr)
    rec = res["recording"]
    lines = [
        f"Recording: {rec['frames']:,} frames, {rec['bytes'] / 1e6:.1f} MB on disk; loading it (parse + checksums) took "
        f"{(load or 0) * 1e3:.0f} ms (not counted). Handler: len(payload). Rate = replayed frames / time from the first read to the end of the recording.",
        "",
        "| way | frames/s (median) | runs (min–max) |",
        "|---|---:|---:|",
    ]
    for way, label in (("direct", "WebSocket over ReplayStream, read_batch loop"), ("service", "IOService(DirectSelector) + WebsocketEndpoint.replay")):
        row = rows[way]
        vals = row["values"]
        spread = f"{len(vals)} ({min(vals):,.0f}–{max(vals):,.0f})" if vals else "0"
        err = f" FAILED: {row['errors'][0]}" if row["errors"] else ""
        lines.append(f"| {label}{err} | {row['median'] or 0:,.0f} | {spread} |")
    return {"title": TITLE, "kind": "text", "text": "\n".join(lines), "clients": rows, "rate": rows["direct"]["median"]}


def _text(text: str) -> dict[str, Any]:
    return {"title": TITLE, "kind": "text", "text": text, "clients": {}, "rate": None}
