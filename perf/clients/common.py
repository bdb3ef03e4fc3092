"""What every benchmark client shares: its arguments, TLS trust, result reporting.

A client runs in its own process (``python -m perf.clients NAME ...``), does one job against the
feed server and prints exactly one JSON line on stdout:

* blast: ``{"msgs", "bytes", "id_sum", "seconds", "cpu_seconds"}`` — ``seconds`` is from the
  first message seen by the handler to the last one (so ``(msgs - uncounted) / seconds`` is the
  delivery rate, ``uncounted`` being what arrived before the clock started); ``cpu_seconds`` is the client process's CPU time over the same span (all threads);
* echo: ``{"rtt_ns": [...]}`` — one round trip per sample, send to handler seeing the reply;
* alloc: ``{"frames", "blocks", "bytes", "peak", "top"}`` — tracemalloc difference over
  ``frames`` of a paced feed (see :func:`run_alloc`).

Handler work is the same everywhere: ``len`` adds the payload length; ``orjson`` also parses the
message with ``orjson.loads`` and adds its trade id (the orchestrator checks both sums).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import tracemalloc
from dataclasses import dataclass


@dataclass
class Args:
    url: str
    job: str  # blast | echo | alloc
    count: int  # messages (blast, alloc measured part) or samples (echo)
    warmup: int  # echo warm-up round trips / alloc warm-up frames
    handler: str  # len | orjson
    ca_file: str | None
    size: int  # echo payload size

    @property
    def secure(self) -> bool:
        return self.url.startswith("wss://")


def parse_args(argv: list[str]) -> Args:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--job", choices=("blast", "echo", "alloc"), required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--handler", choices=("len", "orjson"), default="len")
    ap.add_argument("--ca-file", default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    ns = ap.parse_args(argv)
    if ns.cpu is not None:
        os.sched_setaffinity(0, {ns.cpu})
    return Args(ns.url, ns.job, ns.count, ns.warmup, ns.handler, ns.ca_file, ns.size)


def client_ssl_context(args: Args) -> ssl.SSLContext | None:
    """A verifying client context trusting the benchmark CA (None for ws://)."""
    if not args.secure:
        return None
    ctx = ssl.create_default_context(cafile=args.ca_file)
    return ctx


def emit(result: dict) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def stamp() -> tuple[int, int]:
    """(wall clock, this process's CPU time of all threads), both in ns."""
    return time.perf_counter_ns(), time.process_time_ns()


def blast_result(
    msgs: int, nbytes: int, id_sum: int, first: tuple[int, int], last: tuple[int, int], uncounted: int = 1
) -> dict:
    """What a blast client reports; ``first``/``last`` are :func:`stamp` values.

    ``uncounted`` messages were received before ``first`` was taken (1 for a per-message
    callback: the first message itself; a whole batch for a batch reader); the rate is
    ``(msgs - uncounted) / seconds``."""
    first = first or last  # no message at all: report zero time (the orchestrator rejects it)
    return {
        "msgs": msgs,
        "bytes": nbytes,
        "id_sum": id_sum,
        "seconds": (last[0] - first[0]) / 1e9,
        "cpu_seconds": (last[1] - first[1]) / 1e9,
        "uncounted": uncounted,
    }


class AllocProbe:
    """tracemalloc snapshots: ``start`` after warm-up, ``mark`` at the middle, ``stop`` at the end.

    ``blocks``/``bytes`` are what stays allocated over the whole window (bounded caches and pools
    show up here once); ``growth_*`` is what the second half added on top of the first — a
    per-frame leak grows it in proportion to the frames, a bounded pool does not.
    """

    def __init__(self) -> None:
        self.before: tracemalloc.Snapshot | None = None
        self.middle: tracemalloc.Snapshot | None = None
        self.result: dict | None = None

    def start(self) -> None:
        tracemalloc.start(1)
        self.before = tracemalloc.take_snapshot()
        self._base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def mark(self) -> None:
        self.middle = tracemalloc.take_snapshot()

    def stop(self, frames: int, second_half_frames: int) -> dict:
        _, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        assert self.before is not None and self.middle is not None
        whole = _own_dropped(after.compare_to(self.before, "filename"))
        growth = _own_dropped(after.compare_to(self.middle, "filename"))
        self.result = {
            "frames": frames,
            "blocks": sum(d.count_diff for d in whole),
            "bytes": sum(d.size_diff for d in whole),
            "growth_frames": second_half_frames,
            "growth_blocks": sum(d.count_diff for d in growth),
            "growth_bytes": sum(d.size_diff for d in growth),
            "peak": peak - self._base,
            "top": _top(whole),
            "growth_top": _top(growth),
        }
        return self.result


_OWN_FILES = {tracemalloc.__file__, __file__}


def _own_dropped(diff: list[tracemalloc.StatisticDiff]) -> list[tracemalloc.StatisticDiff]:
    """Drop the probe's own allocations (snapshot objects are made in tracemalloc.py / here).

    Done on the per-file statistics rather than with ``Snapshot.filter_traces``: its pattern
    matching compiles regular expressions lazily, which would show up as allocations."""
    return [d for d in diff if d.traceback[0].filename not in _OWN_FILES]


#: frames per request in the allocation job (one batch of ~46 KB, as a busy feed delivers)
ALLOC_BURST = 256


def alloc_plan(warmup: int, count: int) -> tuple[int, int]:
    """(warm-up bursts, measured bursts per half) of ALLOC_BURST frames each."""
    return max(1, warmup // ALLOC_BURST), max(1, count // (2 * ALLOC_BURST))


def run_alloc(burst, warmup: int, count: int) -> dict:
    """Drive a paced feed: ``burst(k)`` asks for k frames and handles all k (blocking clients).

    Each snapshot is taken right after a 1-frame burst, so every snapshot sees the client in the
    same state (its last batch held one frame), whatever the client's batching.
    """
    warm, half = alloc_plan(warmup, count)
    for _ in range(warm):
        burst(ALLOC_BURST)
    burst(1)
    probe = AllocProbe()
    probe.start()
    for _ in range(2):
        for _ in range(half):
            burst(ALLOC_BURST)
        burst(1)
        if probe.middle is None:
            probe.mark()
    per_half = half * ALLOC_BURST + 1
    return probe.stop(2 * per_half, per_half)


async def run_alloc_async(burst, warmup: int, count: int) -> dict:
    """:func:`run_alloc` for clients whose ``burst`` is a coroutine function."""
    warm, half = alloc_plan(warmup, count)
    for _ in range(warm):
        await burst(ALLOC_BURST)
    await burst(1)
    probe = AllocProbe()
    probe.start()
    for _ in range(2):
        for _ in range(half):
            await burst(ALLOC_BURST)
        await burst(1)
        if probe.middle is None:
            probe.mark()
    per_half = half * ALLOC_BURST + 1
    return probe.stop(2 * per_half, per_half)


def _top(diff: list[tracemalloc.StatisticDiff], n: int = 5) -> list[list]:
    """The ``n`` files with the largest retained size change: [file, bytes, blocks]."""
    ranked = sorted(diff, key=lambda d: -abs(d.size_diff))[:n]
    return [[str(d.traceback[0].filename).rsplit("/", 2)[-1], d.size_diff, d.count_diff] for d in ranked if d.size_diff]


def send_recv_jobs_sync(args: Args, send, recv) -> None:
    """The alloc and echo jobs of a blocking client (``send(str)``, ``recv() -> str|bytes``):
    the same loops for every sync peer, so they are measured alike."""
    if args.job == "alloc":

        def burst(k: int) -> None:
            send(str(k))
            for _ in range(k):
                len(recv())

        emit(run_alloc(burst, args.warmup, args.count))
        return
    from perf.frames import echo_payload

    payload = echo_payload(args.size).decode()
    samples = []
    for _ in range(args.warmup + args.count):
        t0 = time.perf_counter_ns()
        send(payload)
        len(recv())
        samples.append(time.perf_counter_ns() - t0)
    emit({"rtt_ns": samples[args.warmup :]})

