"""Small statistics helpers: percentiles and medians over rounds."""

from __future__ import annotations

import math
import statistics
from typing import Iterable, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already-sorted values, nearest-rank (no interpolation)."""
    if not sorted_values:
        raise ValueError("no values")
    # rank = ceil(q * n); the epsilon keeps 0.99 * 1000 (990.0000000000001) at rank 990
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values) - 1e-9) - 1))
    return sorted_values[k]


def rtt_summary(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50 / p99 / p99.9 / mean of round trips, in microseconds."""
    s = sorted(samples_ns)
    return {
        "n": len(s),
        "p50": percentile(s, 0.50) / 1e3,
        "p99": percentile(s, 0.99) / 1e3,
        "p99.9": percentile(s, 0.999) / 1e3,
        "mean": statistics.fmean(s) / 1e3,
    }


def median(values: Iterable[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None
