"""The project's performance targets (issue #7), checked against one run's results."""

from __future__ import annotations

from typing import Any

PEER = "picows"


def _rate_ratio(results: dict[str, Any], key: str) -> float | None:
    section = results["jobs"].get(key)
    if not section:
        return None
    row = section["clients"].get(PEER)
    return row.get("ratio") if row else None


def _rtt_ratio(results: dict[str, Any], which: str) -> float | None:
    section = results["jobs"].get("echo_plain") or results["jobs"].get("echo_tls")
    if not section:
        return None
    row = section["clients"].get(PEER)
    return (row.get("ratio") or {}).get(which) if row else None


def _entry(name: str, goal: str, value: float | None, ok, fmt: str = "{:.2f}x") -> dict[str, Any]:
    return {
        "name": name,
        "goal": goal,
        "measured": "not measured" if value is None else fmt.format(value),
        "value": value,
        "met": None if value is None else bool(ok(value)),
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        _entry("blast plain, msgs/s", "boomnet ≥ 1.5x picows", _rate_ratio(results, "blast_plain"), lambda v: v >= 1.5),
        _entry("blast TLS, msgs/s", "boomnet ≥ 1.5x picows", _rate_ratio(results, "blast_tls"), lambda v: v >= 1.5),
        _entry("blast + orjson plain, msgs/s", "boomnet ≥ 1.3x picows", _rate_ratio(results, "orjson_plain"), lambda v: v >= 1.3),
    ]
    if "orjson_tls" in results["jobs"]:
        out.append(
            _entry("blast + orjson TLS, msgs/s", "boomnet ≥ 1.3x picows", _rate_ratio(results, "orjson_tls"), lambda v: v >= 1.3)
        )
    out += [
        _entry("echo RTT p50", "boomnet ≤ 0.9x picows", _rtt_ratio(results, "p50"), lambda v: v <= 0.9),
        _entry("echo RTT p99", "boomnet ≤ 1.0x picows", _rtt_ratio(results, "p99"), lambda v: v <= 1.0),
    ]
    alloc = results["jobs"].get("alloc", {}).get("clients", {}).get("boomnet")
    per_frame = None
    if alloc and alloc["values"]:
        v = alloc["values"][0]
        per_frame = v["growth_blocks"] / v["growth_frames"]
    # Retained growth between the half-window and full-window snapshots: a bounded pool or cache
    # adds nothing there, a per-frame leak adds >= 1 block per frame. "Zero" allows a constant
    # handful of blocks (< 1 per 1,000 frames).
    out.append(
        _entry("retained allocations per frame (growth)", "0 (< 0.001 blocks/frame)", per_frame, lambda v: v < 0.001, "{:.4f} blocks/frame")
    )
    replay = results["jobs"].get("replay", {}).get("rate")
    out.append(_entry("replay through WebSocket.read_batch", "≥ 2 M frames/s", replay, lambda v: v >= 2e6, "{:,.0f} frames/s"))
    return out
