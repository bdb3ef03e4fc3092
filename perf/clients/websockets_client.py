"""websockets (the asyncio client on uvloop, and the threaded sync client); compression off."""

from __future__ import annotations

import time

import orjson

from perf.clients.common import Args, blast_result, stamp, client_ssl_context, emit, run_alloc_async, send_recv_jobs_sync
from perf.frames import echo_payload

OPTIONS = {"compression": None, "max_size": None}


async def async_main(args: Args) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ctx = client_ssl_context(args)
    async with connect(args.url, ssl=ctx, **OPTIONS) as ws:
        recv = ws.recv
        if args.job == "blast":
            n = nbytes = ids = first = 0
            count = args.count
            orj = args.handler == "orjson"
            loads = orjson.loads
            try:
                while n < count:
                    data = await recv()
                    if not n:
                        first = stamp()
                    if orj:
                        ids += loads(data)["t"]
                    nbytes += len(data)
                    n += 1
            except ConnectionClosed:
                pass
            last = stamp()
            emit(blast_result(n, nbytes, ids, first, last))
        elif args.job == "alloc":

            async def burst(k: int) -> None:
                await ws.send(str(k))
                for _ in range(k):
                    len(await recv())

            emit(await run_alloc_async(burst, args.warmup, args.count))
        else:
            payload = echo_payload(args.size).decode()
            send = ws.send
            samples = []
            for _ in range(args.warmup + args.count):
                t0 = time.perf_counter_ns()
                await send(payload)
                len(await recv())
                samples.append(time.perf_counter_ns() - t0)
            emit({"rtt_ns": samples[args.warmup :]})


def run_async(args: Args) -> None:
    import uvloop

    uvloop.run(async_main(args))


def run_sync(args: Args) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ctx = client_ssl_context(args)
    with connect(args.url, ssl=ctx, **OPTIONS) as ws:
        recv = ws.recv
        if args.job == "blast":
            n = nbytes = ids = first = 0
            count = args.count
            orj = args.handler == "orjson"
            loads = orjson.loads
            try:
                while n < count:
                    data = recv()
                    if not n:
                        first = stamp()
                    if orj:
                        ids += loads(data)["t"]
                    nbytes += len(data)
                    n += 1
            except ConnectionClosed:
                pass
            last = stamp()
            emit(blast_result(n, nbytes, ids, first, last))
        else:
            send_recv_jobs_sync(args, ws.send, recv)
