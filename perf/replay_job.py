"""Replay job: record a blast session, then replay it through ``WebSocket.read_batch``.

Skipped (with the reason in the table) while boomnet.stream has no RecordedStream/ReplayStream.
"""

from __future__ import annotations

from typing import Any

from perf.runner import Options


def run(opts: Options, tmp: str, server_cpu: int | None) -> dict[str, Any]:
    title = "replay of a recorded session through WebSocket.read_batch"
    try:
        from boomnet.stream import RecordedStream, ReplayStream  # noqa: F401
    except ImportError as exc:
        return {"title": title, "kind": "text", "text": f"skipped: {exc}", "clients": {}, "rate": None}
    from perf.replay_bench import record_and_replay

    return record_and_replay(opts, tmp, server_cpu, title)
