"""Loop-thread stalls of a recorded feed on a slow or failing disk, and the cost of redaction.

    python -m perf.record_stall [--reads 20000] [--delay 0.02] [--old REV]

A scripted in-memory inner stream (200-byte reads, a write every 10th read) is recorded with
``flush_bytes=64 KiB`` onto a file whose every ``write`` sleeps ``--delay`` seconds (the sleep
releases the GIL, as a real blocking write does). Reported, per variant: the worst and p99.9
duration of ``recv_into``/``write`` on the loop thread, how long ``close()`` blocked, whether any
error reached the caller, and the same with a file that raises ENOSPC after its first block.
``--old REV`` also runs ``boomnet/stream/recorded.py`` as of git revision REV (the writer
before the bounded queue) with the same file, for the before/after comparison. Then the
redaction cost per write for typical messages (``min`` of 3 repeats of 20,000 calls).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from types import ModuleType
from typing import Any

from boomnet.errors import BoomnetError, ConnectionClosed
from boomnet.stream import Stream

ROOT = Path(__file__).resolve().parents[1]


class Script(Stream):
    def __init__(self, count: int) -> None:
        self.left = count
        self.chunk = b'{"e":"trade","s":"BTCUSDT","p":"23416.1","q":"0.008"}'.ljust(200, b" ")

    def recv_into(self, buf: Any) -> int:
        if not self.left:
            raise ConnectionClosed("script over")
        self.left -= 1
        buf[:200] = self.chunk
        return 200

    def write(self, data: Any) -> None:
        pass

    def flush(self) -> bool:
        return True


class SlowFile:
    def __init__(self, path: Path, delay: float, fail_after: int | None = None) -> None:
        self.file = open(path, "wb", buffering=0)
        self.delay, self.fail_after, self.writes = delay, fail_after, 0

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.fail_after is not None and self.writes > self.fail_after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        time.sleep(self.delay)
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()


def load_old(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:boomnet/stream/recorded.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader("boomnet.stream._recorded_old", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "boomnet.stream"
    exec(compile(source, f"{rev}:recorded.py", "exec"), module.__dict__)
    return module


def run(make: Any, reads: int) -> dict[str, Any]:
    stream = make(Script(reads))
    buf = bytearray(4096)
    stalls: list[int] = []
    raised = None
    try:
        for i in range(reads):
            t = time.perf_counter_ns()
            stream.recv_into(buf)
            if i % 10 == 0:
                stream.write(b'{"method":"order.test","id":1}')
            stalls.append(time.perf_counter_ns() - t)
    except BoomnetError as e:  # the feed was killed by the recording
        raised = f"{type(e).__name__}: {e}"[:120]
    t = time.perf_counter_ns()
    try:
        stream.close()
    except BoomnetError as e:
        raised = raised or f"close: {type(e).__name__}: {e}"[:120]
    close_ms = (time.perf_counter_ns() - t) / 1e6
    stalls.sort()
    return {
        "reads_done": len(stalls),
        "worst_ms": round(stalls[-1] / 1e6, 3) if stalls else None,
        "p999_us": round(stalls[int(len(stalls) * 0.999)] / 1e3, 1) if stalls else None,
        "close_ms": round(close_ms, 1),
        "error_into_caller": raised,
    }


def redaction_costs() -> dict[str, float]:
    from boomnet.stream.redact import DEFAULT_REDACTOR as R
    from boomnet.ws.encoder import encode_frame

    sub = b'{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}'
    order = (
        b'{"id":"56374a46","method":"order.place","params":{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT",'
        b'"timeInForce":"GTC","price":"23416.10000000","quantity":"0.00847000","timestamp":1660801715431}}'
    )
    signed = order[:-2] + b',"apiKey":"' + b"k" * 64 + b'","signature":"' + b"s" * 64 + b'"}}'
    http = b"GET /api/v3/account?timestamp=1&signature=" + b"s" * 64 + b" HTTP/1.1\r\nX-MBX-APIKEY: k\r\n\r\n"
    key = os.urandom(4)
    cases = {
        "json sub 77B": sub, "json order 194B": order, "json signed order 349B": signed, "http signed": http,
        "ws frame order": encode_frame(1, order, True, key), "ws frame signed order": encode_frame(1, signed, True, key),
        "binary 16KiB": os.urandom(16384),
    }
    return {
        name: round(min(timeit.repeat(lambda d=data: R.redact_out(d), number=20000, repeat=3)) / 20000 * 1e6, 2)
        for name, data in cases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=20000)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--old", default=None, help="git revision of the writer to compare with")
    args = parser.parse_args()
    from boomnet.stream.recorded import RecordedStream

    out: dict[str, Any] = {"load": os.getloadavg(), "reads": args.reads, "delay_s": args.delay}
    with tempfile.TemporaryDirectory() as d:
        for label, fail in (("slow", None), ("enospc", 1)):
            delay = args.delay if fail is None else 0.0  # a failing disk fails at once
            def opener(path: Path, fail: int | None = fail, delay: float = delay) -> SlowFile:
                return SlowFile(path, delay, fail)

            out[f"new {label}"] = run(
                lambda s, o=opener, lab=label: RecordedStream(s, f"new-{lab}", d, flush_bytes=1 << 16, opener=o),
                args.reads,
            )
            if args.old:
                old = load_old(args.old)
                old.open = lambda path, *a, f=fail, t=delay, **k: SlowFile(path, t, f)  # type: ignore[attr-defined]
                out[f"old {label}"] = run(lambda s, m=old, lab=label: m.RecordedStream(s, f"old-{lab}", d, flush_bytes=1 << 16), args.reads)
        out["redact_out_us"] = redaction_costs()
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
