"""Charts: the perf report's main tables, and a run of the Binance demo over time (matplotlib, Agg).

    .venv/bin/python -m perf.plot [--results perf/results/latest.json] [--out perf/results/summary.png]

:func:`plot_report` draws one panel per job of ``perf/run.py``'s results (``latest.json``): for
rate jobs the median messages/s per client with the min–max of its runs as an error bar, for
RTT jobs p50 / p99 / p99.9 per client on a log scale; boomnet's rows are highlighted. Jobs of other kinds
(alloc, text) are tables, not charts, and are left out.

:class:`RunSamples` + :func:`plot_run` are for ``python -m examples.binance --plot FILE``: the
demo calls ``samples.sample(ctx.feeds, elapsed)`` at each status line (once a second) and
``plot_run(samples, FILE)`` at the end: total throughput and receipt latency (p50, p99 over each
interval) against time.

matplotlib is imported inside the functions (with the Agg backend, no display needed) so
importing this module costs nothing and needs no matplotlib.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["plot_report", "RunSamples", "plot_run", "main"]

RESULTS = Path(__file__).resolve().parent / "results"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: works with no display, in CI and over ssh
    import matplotlib.pyplot as plt

    return plt


def _panels(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in results.get("jobs", {}).values() if s.get("kind") in ("rate", "rtt") and s.get("clients")]


def plot_report(results: Mapping[str, Any], out: str | Path) -> Path:
    """Write a chart of ``results`` (the dict ``perf/run.py`` saves as latest.json) to ``out``."""
    panels = _panels(results)
    if not panels:
        raise ValueError("no rate or rtt job with clients in these results: nothing to chart")
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.2 + 0.45 * max(len(p["clients"]) for p in panels) * len(panels)),
                             squeeze=False)
    for ax, section in zip(axes[:, 0], panels):
        names = list(section["clients"])
        rows = [section["clients"][n] for n in names]
        ys = list(range(len(names)))
        colors = ["tab:orange" if n.startswith("boomnet") else "tab:blue" for n in names]
        if section["kind"] == "rate":
            med = [(r.get("median") or 0.0) / 1e3 for r in rows]
            lo = [m - min(r.get("values") or [m * 1e3]) / 1e3 for m, r in zip(med, rows)]
            hi = [max(r.get("values") or [m * 1e3]) / 1e3 - m for m, r in zip(med, rows)]
            ax.barh(ys, med, xerr=[lo, hi], color=colors, capsize=2)
            ax.set_xlabel("thousand messages/s (median; bar: min–max of runs) — higher is better")
        else:
            width = 0.27
            for i, (q, shade) in enumerate((("p50", 1.0), ("p99", 0.7), ("p99.9", 0.45))):
                vals = [((r.get("median") or {}).get(q) or float("nan")) for r in rows]
                ax.barh([y + (i - 1) * width for y in ys], vals, height=width, color=colors, alpha=shade, label=q)
            ax.set_xscale("log")  # tails are 10-1000x the median on a shared machine
            ax.set_xlabel("round trip µs, log scale (p50 / p99 / p99.9, median of runs) — lower is better")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_yticks(ys)
        ax.set_yticklabels([_label(n) + (" (FAILED)" if r.get("errors") else "") for n, r in zip(names, rows)],
                           fontsize=8)
        ax.invert_yaxis()
        ax.set_title(str(section.get("title", ""))[:110], fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    meta = results.get("meta", {})
    fig.suptitle(f"boomnet vs Python WebSocket peers — {meta.get('started', '?')}, commit {meta.get('commit', '?')}, "
                 f"load {meta.get('load_before', '?')}", fontsize=10)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(name: str) -> str:
    try:
        from .report import label
    except ImportError:  # run as a file, not as perf.plot
        return name
    return label(name)


class FeedLike(Protocol):
    """What the demo's ``FeedStats`` offers (examples/binance/stats.py)."""

    messages: int

    @property
    def latencies_ms(self) -> Sequence[float]: ...


class RunSamples:
    """Throughput and latency of a run, one sample per :meth:`sample` call (e.g. once a second)."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.rate: list[float] = []
        self.p50: list[float] = []
        self.p99: list[float] = []
        self._messages: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._last_t = 0.0

    def sample(self, feeds: Mapping[str, FeedLike], elapsed: float) -> None:
        """Record the interval since the previous sample: messages/s over all feeds, and the
        p50 / p99 of the latencies added meanwhile (``nan`` when none)."""
        span = elapsed - self._last_t
        if span <= 0:
            return
        messages = 0
        fresh: list[float] = []
        for name, feed in feeds.items():
            messages += feed.messages - self._messages.get(name, 0)
            self._messages[name] = feed.messages
            lat = feed.latencies_ms
            start = self._seen.get(name, 0)
            fresh.extend(lat[start:])
            self._seen[name] = len(lat)
        fresh.sort()
        self.t.append(elapsed)
        self.rate.append(messages / span)
        self.p50.append(_rank(fresh, 0.5))
        self.p99.append(_rank(fresh, 0.99))
        self._last_t = elapsed


def _rank(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values), max(1, math.ceil(q * len(sorted_values)))) - 1]


def plot_run(samples: RunSamples, out: str | Path, title: str = "boomnet Binance demo") -> Path:
    """Write throughput and latency against time to ``out`` (PNG, SVG, PDF: by its suffix)."""
    if not samples.t:
        raise ValueError("no samples: the run was shorter than one status interval")
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(samples.t, samples.rate, marker=".", color="tab:orange")
    top.set_ylabel("messages/s (all feeds)")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    bottom.plot(samples.t, samples.p50, marker=".", label="p50")
    bottom.plot(samples.t, samples.p99, marker=".", label="p99")
    bottom.set_ylabel("receipt latency, ms")
    bottom.set_xlabel("seconds since start")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf.plot", description="chart perf/results/latest.json")
    ap.add_argument("--results", default=str(RESULTS / "latest.json"), help="perf/run.py's JSON results")
    ap.add_argument("--out", default=str(RESULTS / "summary.png"), help="image to write (PNG/SVG/PDF)")
    args = ap.parse_args(argv)
    source = Path(args.results)
    if not source.exists():
        print(f"{source} does not exist: run `python -m perf.run` first (it writes latest.json)", file=sys.stderr)
        return 2
    path = plot_report(json.loads(source.read_text()), args.out)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
