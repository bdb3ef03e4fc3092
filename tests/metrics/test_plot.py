"""perf/plot.py: charts of perf/run.py's results (built by its own ``section()``) and of a demo run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed")

from perf.plot import RunSamples, plot_report, plot_run
from perf.run import section
from perf.runner import ClientRuns

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def results() -> dict[str, object]:
    rate = section("blast, plain", "rate", {
        "boomnet": ClientRuns([3.7e6, 3.3e6, 4.0e6], [], [3.7e6, 3.3e6, 4.0e6]),
        "picows": ClientRuns([6.4e5, 5.8e5], [], [6.6e5, 6.0e5]),
        "websockets": ClientRuns([], ["connection refused"], []),
    })
    rtt = section("echo", "rtt", {
        "boomnet": ClientRuns([{"p50": 20.0, "p99": 40.0, "p99.9": 60.0, "mean": 22.0}]),
        "picows": ClientRuns([{"p50": 26.0, "p99": 42.0, "p99.9": 80.0, "mean": 28.0}]),
    })
    text = {"title": "poll", "kind": "text", "text": "| a |", "clients": {}}
    return {"meta": {"started": "now", "commit": "abc", "load_before": 0.5},
            "jobs": {"blast_plain": rate, "echo_plain": rtt, "poll": text}}


def test_report_chart_is_a_png(tmp_path: Path) -> None:
    out = plot_report(results(), tmp_path / "sub" / "summary.png")
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_report_without_charts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to chart"):
        plot_report({"jobs": {"poll": {"kind": "text", "clients": {}}}}, tmp_path / "x.png")


def test_cli_reads_latest_json_and_says_when_it_is_missing(tmp_path: Path) -> None:
    src = tmp_path / "latest.json"
    env_cmd = [sys.executable, "-m", "perf.plot", "--results", str(src), "--out", str(tmp_path / "s.png")]
    missing = subprocess.run(env_cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "perf.run" in missing.stderr
    src.write_text(json.dumps(results()))
    ok = subprocess.run(env_cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "s.png").read_bytes().startswith(PNG)


class Feed:
    def __init__(self) -> None:
        self.messages = 0
        self.latencies_ms = array("d")


def test_run_samples_are_per_interval_and_plot(tmp_path: Path) -> None:
    a, b = Feed(), Feed()
    s = RunSamples()
    a.messages, b.messages = 100, 50
    a.latencies_ms.extend([1.0, 2.0, 3.0])
    s.sample({"a": a, "b": b}, 1.0)
    a.messages, b.messages = 300, 50
    a.latencies_ms.extend([10.0] * 99 + [50.0])
    s.sample({"a": a, "b": b}, 2.0)
    s.sample({"a": a, "b": b}, 2.0)  # no time passed: ignored
    s.sample({"a": a, "b": b}, 2.5)  # nothing new: rate 0, latency nan
    assert s.t == [1.0, 2.0, 2.5]
    assert s.rate == [150.0, 200.0, 0.0]
    assert s.p50[:2] == [2.0, 10.0] and s.p99[:2] == [3.0, 10.0]  # only the interval's own latencies
    assert math.isnan(s.p50[2])
    out = plot_run(s, tmp_path / "run.png")
    assert out.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="no samples"):
        plot_run(RunSamples(), tmp_path / "empty.png")
