"""boomnet: a busy-poll ``ws.read_batch()`` loop, the way the IOService drives an endpoint."""

from __future__ import annotations

import time

import orjson

from perf.clients.common import Args, blast_result, stamp, emit, run_alloc
from perf.frames import echo_payload


def connect(args: Args):
    from boomnet.ws import connect as ws_connect

    return ws_connect(args.url, ca_file=args.ca_file)


def blast_len(ws, count: int) -> dict:
    from boomnet.ws import Opcode

    TEXT = Opcode.TEXT
    read_batch = ws.read_batch
    n = nbytes = 0
    while not (frames := read_batch()):
        pass
    first = stamp()
    # The first batch was read and decoded before the clock started: leave it out of the rate.
    uncounted = len(frames)
    while True:
        for frame in frames:
            if frame.opcode == TEXT:
                nbytes += len(frame.payload)
                n += 1
        if n >= count:
            break
        frames = read_batch()
    return blast_result(n, nbytes, 0, first, stamp(), uncounted)


def blast_orjson(ws, count: int) -> dict:
    from boomnet.ws import Opcode

    TEXT = Opcode.TEXT
    read_batch = ws.read_batch
    loads = orjson.loads
    n = nbytes = ids = 0
    while not (frames := read_batch()):
        pass
    first = stamp()
    # The first batch was read and decoded before the clock started: leave it out of the rate.
    uncounted = len(frames)
    while True:
        for frame in frames:
            if frame.opcode == TEXT:
                payload = frame.payload
                ids += loads(payload)["t"]
                nbytes += len(payload)
                n += 1
        if n >= count:
            break
        frames = read_batch()
    return blast_result(n, nbytes, ids, first, stamp(), uncounted)


def alloc(ws, warmup: int, count: int) -> dict:
    from boomnet.ws import Opcode

    TEXT = Opcode.TEXT
    read_batch = ws.read_batch
    send_text = ws.send_text

    def burst(k: int) -> None:
        send_text(b"%d" % k)
        got = 0
        while got < k:
            for frame in read_batch():
                if frame.opcode == TEXT:
                    len(frame.payload)
                    got += 1

    return run_alloc(burst, warmup, count)


def echo(ws, warmup: int, count: int, size: int) -> dict:
    from boomnet.ws import Opcode

    TEXT = Opcode.TEXT
    payload = echo_payload(size)
    read_batch = ws.read_batch
    send_text = ws.send_text
    perf_counter_ns = time.perf_counter_ns
    samples = []
    append = samples.append
    for _ in range(warmup + count):
        t0 = perf_counter_ns()
        send_text(payload)
        if ws.pending:
            ws.flush()
        seen = False
        while not seen:
            for frame in read_batch():
                if frame.opcode == TEXT:
                    len(frame.payload)
                    seen = True
        append(perf_counter_ns() - t0)
    return {"rtt_ns": samples[warmup:]}


def run(args: Args) -> None:
    ws = connect(args)
    try:
        if args.job == "blast":
            fn = blast_orjson if args.handler == "orjson" else blast_len
            emit(fn(ws, args.count))
        elif args.job == "alloc":
            emit(alloc(ws, args.warmup, args.count))
        else:
            emit(echo(ws, args.warmup, args.count, args.size))
    finally:
        ws.close()
