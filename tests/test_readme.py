"""Every ```python block of README.md (and docs/*.md) runs, as written, in a fresh interpreter.

A block that needs a server starts one itself (the embedded exchange, a local peer) and ends by
itself; a block that cannot run here is not a ```python block (the README says why in prose).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            out.append((f"{path.relative_to(ROOT)}:{line}", line, m.group(1)))
    return out


@pytest.mark.parametrize("where,line,code", _blocks(), ids=[b[0] for b in _blocks()])
def test_block_runs(where: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_there_are_blocks() -> None:
    assert len(_blocks()) >= 3
