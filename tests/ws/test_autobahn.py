"""The Autobahn TestSuite client cases (kosoku fuzzing server) through tools/autobahn.py.

The default run covers sections 1-7 and 10 (framing, pings, reserved bits, opcodes,
fragmentation, UTF-8, close handling, misc: 247 cases, about 10 s, mostly the server's own
waits); the full run (all 517 cases: 301 core + 216 permessage-deflate ones boomnet does not
negotiate) is marked slow and autobahn (``pytest -m "not autobahn"`` skips it locally; CI runs
it) and runs over both the C and the pure-Python decoder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "autobahn.py"
FAST_SECTIONS = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


def run_autobahn(tmp_path: Path, patterns: list[str], *, pure_python: bool = False, timeout: float) -> dict:
    summary_path = tmp_path / "summary.json"
    cmd = [sys.executable, str(TOOL), "--json", str(summary_path), "--case-timeout", "20"]
    for p in patterns:
        cmd += ["--cases", p]
    env = dict(os.environ)
    if pure_python:
        env["BOOMNET_PURE_PYTHON"] = "1"
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    report = f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert summary_path.exists(), report
    summary = json.loads(summary_path.read_text())
    assert proc.returncode == 0 and summary["ok"], report
    assert summary["failed"] == [], report
    assert summary["client_outcomes"] == {}, report  # no case hit its time limit
    summary["_report"] = report
    return summary


@pytest.mark.timeout(180)
def test_autobahn_core_sections(tmp_path: Path) -> None:
    summary = run_autobahn(tmp_path, FAST_SECTIONS, timeout=170)
    core = summary["core"]
    assert sum(core.values()) == 247, summary["_report"]
    assert set(core) <= {"OK", "NON-STRICT", "INFORMATIONAL"}, summary["_report"]
    assert set(summary["core_close"]) <= {"OK", "INFORMATIONAL"}, summary["_report"]


@pytest.mark.slow
@pytest.mark.autobahn  # deselect locally with -m "not autobahn"; CI runs it
@pytest.mark.timeout(900)
@pytest.mark.parametrize("pure_python", [False, True], ids=["c", "pure"])
def test_autobahn_full_suite(tmp_path: Path, pure_python: bool) -> None:
    summary = run_autobahn(tmp_path, [], pure_python=pure_python, timeout=880)
    assert summary["cases_run"] == 517
    assert sum(summary["core"].values()) == 301, summary["_report"]
    assert set(summary["core"]) <= {"OK", "NON-STRICT", "INFORMATIONAL"}, summary["_report"]
    assert summary["compression"] == {"UNIMPLEMENTED": 216}, summary["_report"]


def test_summary_counts_and_flags_failures(tmp_path: Path) -> None:
    """The runner's verdict logic on a hand-made report: core failures fail the run, 12.*/13.* don't."""
    import io

    from tools.autobahn import print_summary, summarise

    servers = tmp_path / "reports" / "servers"
    servers.mkdir(parents=True)
    index = {
        "1.1.1": ("OK", "OK"), "3.2": ("NON-STRICT", "OK"), "5.1": ("FAILED", "OK"),
        "7.1.1": ("OK", "UNCLEAN"), "12.1.1": ("FAILED", "OK"), "13.1.1": ("UNIMPLEMENTED", "OK"),
    }
    entries = {}
    for case_id, (behavior, close) in index.items():
        name = f"agent_case_{case_id.replace('.', '_')}.json"
        entries[case_id] = {"behavior": behavior, "behaviorClose": close, "reportfile": name, "duration": 1}
        (servers / name).write_text(json.dumps({"result": f"why {case_id}", "resultClose": "close why"}))
    (servers / "index.json").write_text(json.dumps({"agent": entries}))

    summary = summarise(tmp_path, "agent", 1.0, {})
    assert dict(summary.core) == {"OK": 2, "NON-STRICT": 1, "FAILED": 1}
    assert dict(summary.compression) == {"FAILED": 1, "UNIMPLEMENTED": 1}
    assert [c["id"] for c in summary.failed] == ["5.1", "7.1.1"] and not summary.ok
    out = io.StringIO()
    print_summary(summary, out)
    assert "FAILED 5.1" in out.getvalue() and "why 5.1" in out.getvalue() and "RESULT: FAIL" in out.getvalue()
