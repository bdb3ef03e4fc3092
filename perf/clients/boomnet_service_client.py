"""boomnet through its IOService: a WebsocketEndpoint polled by ``io.poll()`` in a busy loop,
once per selector (epoll readiness, direct = poll everything, io_uring readiness)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from perf.clients.common import Args, blast_result, stamp, emit, run_alloc
from perf.frames import echo_payload

DEADLINE_S = 120.0


def _selector(kind: str):
    from boomnet.service import DirectSelector, EpollSelector, IoUringSelector

    return {"epoll": EpollSelector, "direct": DirectSelector, "uring": IoUringSelector}[kind]()


def _endpoint_classes():
    from boomnet.ws import WebsocketEndpoint
    from boomnet.ws import Opcode

    TEXT = Opcode.TEXT

    class Base(WebsocketEndpoint):
        gone: Any = None

        def on_disconnect(self, reason, ctx) -> bool:
            self.gone = reason
            return False

    class Blast(Base):
        def __init__(self, url: str, ca_file: str | None, count: int) -> None:
            super().__init__(url, ca_file=ca_file)
            self.count = count
            self.n = self.nbytes = self.ids = self.first = self.last = self.uncounted = 0

        def poll(self, ws, ctx) -> None:
            frames = ws.read_batch()
            if not frames:
                return
            if not self.first:
                self.first = stamp()
                self.uncounted = len(frames)  # read and decoded before the clock started
            n, nbytes = self.n, self.nbytes
            for frame in frames:
                if frame.opcode == TEXT:
                    nbytes += len(frame.payload)
                    n += 1
            self.n, self.nbytes = n, nbytes
            if n >= self.count and not self.last:
                self.last = stamp()

    class BlastOrjson(Blast):
        def poll(self, ws, ctx) -> None:
            frames = ws.read_batch()
            if not frames:
                return
            if not self.first:
                self.first = stamp()
                self.uncounted = len(frames)  # read and decoded before the clock started
            loads = orjson.loads
            n, nbytes, ids = self.n, self.nbytes, self.ids
            for frame in frames:
                if frame.opcode == TEXT:
                    payload = frame.payload
                    ids += loads(payload)["t"]
                    nbytes += len(payload)
                    n += 1
            self.n, self.nbytes, self.ids = n, nbytes, ids
            if n >= self.count and not self.last:
                self.last = stamp()

    class Echo(Base):
        def __init__(self, url: str, ca_file: str | None, total: int, size: int) -> None:
            super().__init__(url, ca_file=ca_file)
            self.total = total
            self.payload = echo_payload(size)
            self.samples: list[int] = []
            self.t0 = 0
            self.done = False

        def on_connected(self, ws, ctx) -> None:
            self.t0 = time.perf_counter_ns()
            ws.send_text(self.payload)

        def poll(self, ws, ctx) -> None:
            for frame in ws.read_batch():
                if frame.opcode == TEXT:
                    len(frame.payload)
                    self.samples.append(time.perf_counter_ns() - self.t0)
                    if len(self.samples) == self.total:
                        self.done = True
                        return
                    self.t0 = time.perf_counter_ns()
                    ws.send_text(self.payload)

    class Paced(Base):
        left = 0

        def poll(self, ws, ctx) -> None:
            for frame in ws.read_batch():
                if frame.opcode == TEXT:
                    len(frame.payload)
                    self.left -= 1

    return Blast, BlastOrjson, Echo, Paced


def _spin(io, until, what: str, idle_wait: float = 0.0) -> None:
    """Busy-poll ``io`` until ``until()``; the deadline is checked once per 4,096 polls. With
    ``idle_wait`` each poll is followed by ``io.wait(idle_wait)`` (the opt-in idle strategy)."""
    poll = io.poll
    wait = io.wait
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if idle_wait:
            for _ in range(4096):
                poll()
                if until():
                    return
                wait(idle_wait)
        else:
            for _ in range(4096):
                poll()
                if until():
                    return
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: no result within {DEADLINE_S}s")


def run_with(kind: str, args: Args, idle_wait: float = 0.0) -> None:
    from boomnet.service import IOService

    Blast, BlastOrjson, Echo, Paced = _endpoint_classes()
    io = IOService(_selector(kind))
    spin = _spin if not idle_wait else (lambda io, until, what: _spin(io, until, what, idle_wait))
    try:
        if args.job == "blast":
            cls = BlastOrjson if args.handler == "orjson" else Blast
            ep = cls(args.url, args.ca_file, args.count)
            io.register(ep)
            spin(io, lambda: ep.last or ep.gone, "blast")
            if not ep.last:
                raise SystemExit(f"disconnected after {ep.n} messages: {ep.gone}")
            emit(blast_result(ep.n, ep.nbytes, ep.ids, ep.first, ep.last, ep.uncounted))
        elif args.job == "echo":
            ep = Echo(args.url, args.ca_file, args.warmup + args.count, args.size)
            io.register(ep)
            spin(io, lambda: ep.done or ep.gone, "echo")
            if not ep.done:
                raise SystemExit(f"disconnected: {ep.gone}")
            emit({"rtt_ns": ep.samples[args.warmup :]})
        else:
            ep = Paced(args.url, ca_file=args.ca_file)
            handle = io.register(ep)
            spin(io, lambda: io.is_connected(handle) or ep.gone, "connect")
            ws = io.target(handle)

            def burst(k: int) -> None:
                ep.left = k
                ws.send_text(b"%d" % k)
                spin(io, lambda: ep.left <= 0, "burst")

            emit(run_alloc(burst, args.warmup, args.count))
    finally:
        io.close()


def run_epoll(args: Args) -> None:
    run_with("epoll", args)


def run_direct(args: Args) -> None:
    run_with("direct", args)


def run_uring(args: Args) -> None:
    run_with("uring", args)


def run_epoll_wait(args: Args) -> None:
    """epoll with ``io.wait(0.001)`` after each poll: spin while busy, sleep in epoll_wait when idle."""
    run_with("epoll", args, idle_wait=0.001)
