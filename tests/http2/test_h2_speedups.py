"""The switch between the HTTP/2 DATA run loops: the C one whenever it is built, the pure-Python
reference under BOOMNET_PURE_PYTHON=1 (checked in fresh interpreters: the choice is made at import)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

_PROBE = "import boomnet.http.h2.demux as d; print(d.SPEEDUPS, d._data_run is None)"


def _probe(pure: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "BOOMNET_PURE_PYTHON"}
    if pure:
        env["BOOMNET_PURE_PYTHON"] = "1"
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_pure_python_is_forced_by_the_environment() -> None:
    assert _probe(pure=True) == "False True"


def test_the_c_loop_is_used_whenever_it_is_built() -> None:
    if importlib.util.find_spec("boomnet.http.h2._speedups") is None:
        pytest.skip("n/a: the C run loop is not built here")
    assert _probe(pure=False) == "True False"
