"""aiohttp's WebSocket client on uvloop (text arrives decoded as ``str``, as aiohttp delivers it)."""

from __future__ import annotations

import time

import aiohttp
import orjson
import uvloop

from perf.clients.common import Args, blast_result, stamp, client_ssl_context, emit, run_alloc_async
from perf.frames import echo_payload


async def main(args: Args) -> None:
    ctx = client_ssl_context(args)
    TEXT = aiohttp.WSMsgType.TEXT
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            args.url, ssl=ctx if ctx is not None else False, max_msg_size=0, compress=0
        ) as ws:
            receive = ws.receive
            if args.job == "blast":
                n = nbytes = ids = first = 0
                count = args.count
                orj = args.handler == "orjson"
                loads = orjson.loads
                while n < count:
                    msg = await receive()
                    if msg.type is not TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                        continue
                    if not n:
                        first = stamp()
                    data = msg.data
                    if orj:
                        ids += loads(data)["t"]
                    nbytes += len(data)
                    n += 1
                last = stamp()
                emit(blast_result(n, nbytes, ids, first, last))
            elif args.job == "alloc":

                async def burst(k: int) -> None:
                    await ws.send_str(str(k))
                    for _ in range(k):
                        msg = await receive()
                        len(msg.data)

                emit(await run_alloc_async(burst, args.warmup, args.count))
            else:
                payload = echo_payload(args.size).decode()
                send_str = ws.send_str
                samples = []
                for _ in range(args.warmup + args.count):
                    t0 = time.perf_counter_ns()
                    await send_str(payload)
                    while True:
                        msg = await receive()
                        if msg.type is TEXT:
                            break
                    len(msg.data)
                    samples.append(time.perf_counter_ns() - t0)
                emit({"rtt_ns": samples[args.warmup :]})


def run(args: Args) -> None:
    uvloop.run(main(args))
