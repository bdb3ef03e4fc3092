"""The README's main job, run as users run it: ``python -m examples.binance`` from the repo root."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from decimal import Decimal

import pytest

from boomnet.service import IoUringSelector, SelectorUnavailable

from .helpers import RECORDINGS

REPO = RECORDINGS.parent


def run_demo(*args: str, timeout: float = 45.0) -> tuple[dict[str, dict[str, str]], str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "examples.binance", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return parse_summary(proc.stdout), proc.stdout, proc.stderr


def parse_summary(stdout: str) -> dict[str, dict[str, str]]:
    """The summary table as {endpoint: {column: value}}."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["endpoint"])
    columns = lines[start].split()
    rows = {}
    for line in lines[start + 1 :]:
        values = line.split()
        if len(values) != len(columns):
            break
        rows[values[0]] = dict(zip(columns, values, strict=False))
    return rows


@pytest.mark.parametrize("selector", ["epoll", "uring"])
def test_demo_against_the_embedded_exchange(selector: str) -> None:
    if selector == "uring":
        try:
            IoUringSelector().close()
        except SelectorUnavailable as exc:
            pytest.skip(f"io_uring unavailable here: {exc}")
    rows, stdout, stderr = run_demo("--duration", "3", "--rate", "100", "--selector", selector)
    assert sorted(rows) == ["btcusdt", "ethusdt", "total", "xrpusdt"]
    for name, row in rows.items():
        assert int(row["messages"]) > 0 and int(row["trades"]) > 0 and int(row["tickers"]) > 0, name
        assert row["reconnects"] == row["gaps"] == row["dups"] == "0", name
        assert float(row["p50_ms"]) <= float(row["p99_ms"]) <= float(row["max_ms"])
    assert rows["total"]["conns"] == "3"
    assert int(rows["total"]["messages"]) == sum(int(rows[s]["messages"]) for s in ("btcusdt", "ethusdt", "xrpusdt"))
    status = [line for line in stderr.splitlines() if line.startswith("t=")]
    assert status and all("btcusdt" in line and "reconnects 0" in line for line in status)
    # the live local book (snapshot over HTTP + diffs), last line of the run
    [book] = [line.split() for line in stdout.splitlines() if line.startswith("book ")]
    assert book[:3] == ["book", "BTCUSDT", "live"] and book[-2:] == ["resyncs", "0"]
    bid, ask, spread = (Decimal(book[i]) for i in (4, 6, 8))
    assert 0 < bid < ask and spread == ask - bid


def test_demo_replays_the_committed_recording() -> None:
    rows, stdout, _ = run_demo("--replay", "binance-sim")
    assert {name: (row["trades"], row["tickers"], row["messages"]) for name, row in rows.items()} == {
        "btcusdt": ("282", "292", "605"),
        "ethusdt": ("222", "291", "543"),
        "xrpusdt": ("247", "291", "568"),
        "total": ("751", "874", "1716"),
    }
    assert "replayed 1716 messages" in stdout


def test_ctrl_c_ends_an_open_ended_run_with_the_summary() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.binance", "--duration", "0", "--rate", "50"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the first status line means data is flowing
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready and proc.stderr.readline().startswith("t="):
                break
        else:
            pytest.fail("no status line within 30 s")
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    rows = parse_summary(stdout)
    assert int(rows["total"]["messages"]) > 0 and rows["total"]["reconnects"] == "0"


def test_plot_writes_a_chart_and_the_rpc_round_trips_are_reported(tmp_path: Path) -> None:
    chart = tmp_path / "run.png"
    rows, stdout, _ = run_demo("--duration", "3", "--symbols", "btcusdt", "--plot", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    line = next(li for li in stdout.splitlines() if li.startswith("GET_PROPERTY round trips"))
    assert "failed 0" in line and int(line.split(":")[1].split(",")[0]) >= 1
