"""The documentation builds: ``mkdocs build --strict`` (API reference from the docstrings via
mkdocstrings, every page in the nav, every link resolving) with no warning.

The code blocks of the pages are run by tests/test_readme.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_builds_strict_without_warnings(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip("mkdocs / mkdocstrings[python] is not installed")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "WARNING" not in out, out[-4000:]
    service = (site / "reference" / "service" / "index.html").read_text()
    assert 'id="boomnet.service.IOService.poll"' in service  # the reference came from the docstrings
    assert "never blocks" in service
    assert (site / "recipes" / "asyncio" / "index.html").exists()


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("**/*.md"))
    missing = [p for p in pages if p not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"
