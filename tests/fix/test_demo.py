"""``python -m examples.fix`` runs offline, trades and ends by itself."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import ROOT


def test_demo_runs_offline_and_ends() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.fix", "--duration", "2", "--rate", "50", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"orders sent (\d+)\s+fills (\d+)", proc.stdout)
    assert m and int(m.group(1)) > 20 and int(m.group(2)) > 10, proc.stdout
    assert re.search(r"market data: 2 snapshots, [1-9]\d* increments", proc.stdout), proc.stdout
    assert re.search(r"round trip \(us\): p50 \d+", proc.stdout), proc.stdout
