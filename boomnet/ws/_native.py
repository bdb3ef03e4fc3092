"""Loads the optional C fast path (``_speedups.c``) once, or says loudly why it is not used.

The C ``scan`` rewrites ``PyMemoryViewObject`` fields in place (to re-aim a pooled payload view
without an allocation) and writes ``Frame`` slots through member offsets. Both depend on
CPython's private object layout, so the extension is used only on the CPython versions it was
tested on (:data:`TESTED_VERSIONS`); anywhere else boomnet falls back to the pure-Python decoder
and encoder (same behaviour, slower) with a ``RuntimeWarning``. Add a version to the set only
after ``pytest tests/ws`` (both decoders) and ``tools/autobahn.py`` pass on it.

``BOOMNET_PURE_PYTHON=1`` forces pure Python *quietly*: it is a deliberate choice (tests,
profiling), so it is logged at INFO, not warned about. ``boomnet.speedups_enabled()`` and
``boomnet.speedups_status()`` report the outcome.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

__all__ = ["TESTED_VERSIONS", "COST", "speedups", "reason", "load"]

log = logging.getLogger("boomnet.ws")

#: CPython versions on which the C fast path's layout assumptions were verified (tests + Autobahn)
TESTED_VERSIONS = frozenset({(3, 11)})
#: what the pure-Python fallback costs (measured 2026-12-01, perf/test_bench_ws.py and read_batch
#: over an in-memory stream: ~3 M vs ~31 M trade frames/s; masking a 256-byte frame 1.0 vs 0.4 us)
COST = "pure-Python WebSocket decode is ~10x slower per frame (masking ~2.5x slower)"


def load(
    version: tuple[int, int] | None = None,
    implementation: str | None = None,
    env: dict[str, str] | None = None,
    importer: Callable[[], ModuleType] | None = None,
) -> tuple[ModuleType | None, str]:
    """``(module or None, reason)``; warns (once per call) when the fast path is unavailable for
    a reason other than a deliberate ``BOOMNET_PURE_PYTHON``. Arguments exist for tests."""
    version = version or (sys.version_info[0], sys.version_info[1])
    implementation = implementation or platform.python_implementation()
    env = os.environ.copy() if env is None else env
    if env.get("BOOMNET_PURE_PYTHON", "") not in ("", "0"):
        why = "disabled by BOOMNET_PURE_PYTHON"
        log.info("boomnet.ws: C fast path %s; using pure Python", why)
        return None, why
    if implementation != "CPython":
        why = f"{implementation} is not CPython (the C fast path is a CPython extension)"
    elif version not in TESTED_VERSIONS:
        tested = ", ".join(f"{a}.{b}" for a, b in sorted(TESTED_VERSIONS))
        why = (f"CPython {version[0]}.{version[1]} is not among the versions it was tested on ({tested}); "
               "it relies on CPython's private memoryview layout")
    else:
        try:
            module = importer() if importer is not None else _import()
        except ImportError as exc:
            why = f"the extension did not build or load ({exc})"
        else:
            return module, "enabled"
    message = f"boomnet.ws: C fast path off: {why}; {COST}"
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    log.warning("%s", message)
    return None, why


def _import() -> ModuleType:
    from . import _speedups

    return _speedups


speedups, reason = load()
