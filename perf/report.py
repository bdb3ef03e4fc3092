"""Render the results dictionary as Markdown: one table per job, ratios to boomnet, targets."""

from __future__ import annotations

from typing import Any

PRIMARY = "boomnet"

LABELS = {
    "raw": "raw socket (server check)",
    "boomnet": "boomnet (read_batch busy loop)",
    "boomnet-epoll": "boomnet IOService, epoll",
    "boomnet-direct": "boomnet IOService, direct",
    "boomnet-uring": "boomnet IOService, io_uring",
    "boomnet-epoll-wait": "boomnet IOService, epoll + wait(1 ms) when idle",
    "picows": "picows + uvloop",
    "aiohttp": "aiohttp + uvloop",
    "websockets": "websockets asyncio + uvloop",
    "websockets-sync": "websockets sync",
    "websocket-client": "websocket-client",
}


def label(name: str) -> str:
    return LABELS.get(name, name)


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    return f"{v / 1e3:.0f} k"


def fmt_ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}x"


def fmt_us(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    return f"{fmt_rate(lo)}–{fmt_rate(hi)}"


def rate_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| client | msgs/s (median) | runs (min–max) | boomnet ÷ client | msgs per client CPU-second | boomnet ÷ client (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in section["clients"].items():
        err = f" FAILED: {row['errors'][0]}" if row["errors"] else ""
        runs = f"{len(row['values'])} ({spread(row['values'])})" if row["values"] else "0"
        lines.append(
            f"| {label(name)}{err} | {fmt_rate(row['median'])} | {runs} | {fmt_ratio(row.get('ratio'))} "
            f"| {fmt_rate(row.get('cpu_median'))} | {fmt_ratio(row.get('cpu_ratio'))} |"
        )
    return lines


def rtt_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| client | p50 µs | p99 µs | p99.9 µs | mean µs | boomnet ÷ client p50 | p99 | p99.9 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in section["clients"].items():
        m = row["median"] or {}
        r = row.get("ratio") or {}
        err = f" FAILED: {row['errors'][0]}" if row["errors"] else ""
        lines.append(
            f"| {label(name)}{err} | {fmt_us(m.get('p50'))} | {fmt_us(m.get('p99'))} | {fmt_us(m.get('p99.9'))} "
            f"| {fmt_us(m.get('mean'))} | {fmt_ratio(r.get('p50'))} | {fmt_ratio(r.get('p99'))} "
            f"| {fmt_ratio(r.get('p99.9'))} |"
        )
    return lines


def alloc_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| client | frames | retained over the window: blocks (bytes) | growth in 2nd half: blocks / frame (bytes / frame) | transient peak KiB | largest retained (file: bytes, blocks) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in section["clients"].items():
        if not row["values"]:
            lines.append(f"| {label(name)} FAILED: {row['errors'][0] if row['errors'] else '?'} | | | | | |")
            continue
        v = row["values"][0]
        top = "; ".join(f"{f}: {b:+,d} B, {c:+d}" for f, b, c in v.get("top", [])[:3])
        gf = v["growth_frames"]
        lines.append(
            f"| {label(name)} | {v['frames']:,} | {v['blocks']:,} ({v['bytes']:,}) | "
            f"{v['growth_blocks'] / gf:.4f} ({v['growth_bytes'] / gf:.2f}) | {v['peak'] / 1024:.1f} | {top} |"
        )
    return lines


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | goal | measured | met |", "|---|---|---:|:---:|"]
    for t in targets:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['name']} | {t['goal']} | {t['measured']} | {met} |")
    return lines


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "# boomnet vs Python WebSocket peers",
        "",
        f"Run {meta['started']} ({meta['mode']} mode, {meta['seconds']:.0f} s), commit `{meta['commit']}`, "
        f"Python {meta['python']}, {meta['cpus']} CPUs ({meta['cpu_model']}), load average "
        f"{meta['load_before']} before / {meta['load_after']} after, an empty non-blocking recv_into (one syscall) "
        f"costs {meta.get('syscall_us', '?')} µs here. Versions: {meta['versions']}.",
        "",
        "Ratios are boomnet's figure divided by the client's, from medians of the same run (clients "
        "alternated round by round, each run a fresh process against the same feed server). "
        "For rates higher is better for boomnet; for latencies lower is.",
        "",
    ]
    if results.get("targets"):
        out += ["## Targets", ""] + targets_table(results["targets"]) + [""]
    for section in results.get("jobs", {}).values():
        out += [f"## {section['title']}", "", section.get("note", ""), ""]
        kind = section["kind"]
        if kind == "rate":
            out += rate_table(section)
        elif kind == "rtt":
            out += rtt_table(section)
        elif kind == "alloc":
            out += alloc_table(section)
        elif kind == "text":
            out += [section["text"]]
        out.append("")
    return "\n".join(out).replace("\n\n\n", "\n\n")
