"""Record a blast session with RecordedStream, then replay it through ``WebSocket.read_batch``.

Run as its own process (``python -m perf.replay_bench --url ws://.../blast?n=N --count N --dir D``);
prints one JSON line: the recording's size and, per round, frames/s of

* ``direct``: ``WebSocket`` over ``ReplayStream`` polled in a plain ``read_batch()`` loop;
* ``service``: a ``WebsocketEndpoint.replay(...)`` driven by ``IOService(DirectSelector())``.

Loading (parsing and checksumming) the file is timed separately and excluded from the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from urllib.parse import urlsplit

NAME = "blast"


def record(url: str, count: int, directory: str) -> dict:
    from boomnet.stream import TcpStream
    from boomnet.ws import Opcode, WebSocket

    parts = urlsplit(url)
    # a blast of 300k frames arrives in tens of milliseconds, far faster than a writer thread
    # sharing the GIL with a busy loop can drain 8 blocks: give the queue room for all of it
    # (the default drops the recording, keeping the feed, when the disk falls that far behind)
    stream = TcpStream.connect(parts.hostname, parts.port).into_recorded(NAME, directory=directory,
                                                                         max_pending_blocks=4096)
    ws = WebSocket(stream, url)
    deadline = time.monotonic() + 10
    while not ws.establish():
        if time.monotonic() > deadline:
            raise SystemExit("recording: handshake timed out")
        select.select([ws.fileno()], [], [], 0.01)
    n = 0
    text = Opcode.TEXT
    while n < count:
        if time.monotonic() > deadline + 60:
            raise SystemExit(f"recording: only {n} of {count} frames")
        for frame in ws.read_batch():
            if frame.opcode == text:
                n += 1
    stream.close()  # finishes the recording file (on the writer thread)
    if not stream.wait_closed(60):
        raise SystemExit("recording: the file was not complete within 60 s")
    return {"frames": n, "bytes": stream.path.stat().st_size}


def replay_direct(url: str, directory: str) -> dict:
    from boomnet.errors import ConnectionClosed
    from boomnet.ws import WebsocketEndpoint
    from boomnet.stream import ReplayStream
    from boomnet.ws import Opcode

    t0 = time.perf_counter_ns()
    stream = ReplayStream.from_file(NAME, directory)
    load_ns = time.perf_counter_ns() - t0
    # WebsocketEndpoint knows how to aim a WebSocket at a recording (the recorded upgrade key).
    ws = WebsocketEndpoint(url).create_replay_target(stream, None)
    while not ws.establish():
        pass
    text = Opcode.TEXT
    read_batch = ws.read_batch
    n = nbytes = 0
    start = time.perf_counter_ns()
    try:
        while True:
            for frame in read_batch():
                if frame.opcode == text:
                    nbytes += len(frame.payload)
                    n += 1
    except ConnectionClosed:
        pass
    end = time.perf_counter_ns()
    return {"frames": n, "bytes": nbytes, "seconds": (end - start) / 1e9, "load_seconds": load_ns / 1e9}


def replay_service(url: str, directory: str) -> dict:
    from boomnet.service import DirectSelector, IOService
    from boomnet.ws import WebsocketEndpoint
    from boomnet.ws import Opcode

    text = Opcode.TEXT

    class Counter(WebsocketEndpoint):
        n = nbytes = first = 0
        gone = None

        def poll(self, ws, ctx) -> None:
            frames = ws.read_batch()
            if frames and not self.first:
                self.first = time.perf_counter_ns()
            n, nbytes = self.n, self.nbytes
            for frame in frames:
                if frame.opcode == text:
                    nbytes += len(frame.payload)
                    n += 1
            self.n, self.nbytes = n, nbytes

        def on_disconnect(self, reason, ctx) -> bool:
            self.gone = reason
            self.end = time.perf_counter_ns()
            return False

    ep = Counter(url).replay(NAME, directory)
    io = IOService(DirectSelector())
    io.register(ep)
    poll = io.poll
    deadline = time.monotonic() + 120
    while ep.gone is None:
        for _ in range(1024):
            poll()
            if ep.gone is not None:
                break
        if time.monotonic() > deadline:
            raise SystemExit("service replay did not finish")
    io.close()
    return {"frames": ep.n, "bytes": ep.nbytes, "seconds": (ep.end - ep.first) / 1e9, "reason": str(ep.gone)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = {"recording": record(args.url, args.count, args.dir), "direct": [], "service": []}
    for _ in range(args.rounds):  # alternate the two ways of replaying
        result["direct"].append(replay_direct(args.url, args.dir))
        result["service"].append(replay_service(args.url, args.dir))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
