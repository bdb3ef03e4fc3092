"""picows on uvloop (aiofastnet transports when installed, picows' own default)."""

from __future__ import annotations

import asyncio
import time

import orjson
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from perf.clients.common import Args, blast_result, stamp, client_ssl_context, emit, run_alloc_async
from perf.frames import echo_payload

TEXT = WSMsgType.TEXT


class BlastLen(WSListener):
    def __init__(self, count: int) -> None:
        self.count = count
        self.n = 0
        self.nbytes = 0
        self.first = 0
        self.last = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            return
        if not self.n:
            self.first = stamp()
        self.nbytes += len(frame.get_payload_as_memoryview())
        self.n += 1
        if self.n == self.count:
            self.last = stamp()
            transport.disconnect()


class BlastOrjson(BlastLen):
    ids = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            return
        if not self.n:
            self.first = stamp()
        payload = frame.get_payload_as_memoryview()
        self.ids += orjson.loads(payload)["t"]
        self.nbytes += len(payload)
        self.n += 1
        if self.n == self.count:
            self.last = stamp()
            transport.disconnect()


class Alloc(WSListener):
    """Counts text frames; ``burst`` asks the paced server for k and waits for them."""

    def __init__(self) -> None:
        self.left = 0
        self.done: asyncio.Future | None = None
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            return
        len(frame.get_payload_as_memoryview())
        self.left -= 1
        if not self.left and self.done is not None:
            self.done.set_result(None)

    async def burst(self, k: int) -> None:
        self.left = k
        self.done = asyncio.get_running_loop().create_future()
        self.transport.send(TEXT, b"%d" % k)
        await self.done


class Echo(WSListener):
    def __init__(self, warmup: int, count: int, size: int) -> None:
        self.total = warmup + count
        self.warmup = warmup
        self.payload = echo_payload(size)
        self.samples: list[int] = []
        self.t0 = 0
        self.done = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.t0 = time.perf_counter_ns()
        transport.send(TEXT, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            return
        len(frame.get_payload_as_memoryview())
        self.samples.append(time.perf_counter_ns() - self.t0)
        if len(self.samples) == self.total:
            self.done.set_result(None)
            return
        self.t0 = time.perf_counter_ns()
        transport.send(TEXT, self.payload)


async def main(args: Args) -> None:
    ctx = client_ssl_context(args)
    if args.job == "blast":
        cls = BlastOrjson if args.handler == "orjson" else BlastLen
        transport, listener = await ws_connect(lambda: cls(args.count), args.url, ssl_context=ctx)
        await transport.wait_disconnected()
        emit(blast_result(listener.n, listener.nbytes, getattr(listener, "ids", 0), listener.first, listener.last))
    elif args.job == "alloc":
        transport, listener = await ws_connect(Alloc, args.url, ssl_context=ctx)
        emit(await run_alloc_async(listener.burst, args.warmup, args.count))
        transport.disconnect()
    else:
        transport, listener = await ws_connect(
            lambda: Echo(args.warmup, args.count, args.size), args.url, ssl_context=ctx
        )
        await listener.done
        transport.disconnect()
        emit({"rtt_ns": listener.samples[args.warmup :]})


def run(args: Args) -> None:
    uvloop.run(main(args))
