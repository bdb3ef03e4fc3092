"""websocket-client (blocking). Its pure-Python UTF-8 validator is skipped: ``recv()`` still
decodes text with ``bytes.decode`` (which validates), so this is its fastest correct setup."""

from __future__ import annotations

import time

import orjson
import websocket

from perf.clients.common import Args, blast_result, stamp, emit, run_alloc
from perf.frames import echo_payload


def run(args: Args) -> None:
    sslopt = {"ca_certs": args.ca_file} if args.secure else None
    ws = websocket.create_connection(args.url, sslopt=sslopt, skip_utf8_validation=True, timeout=30)
    recv = ws.recv
    try:
        if args.job == "blast":
            n = nbytes = ids = first = 0
            count = args.count
            orj = args.handler == "orjson"
            loads = orjson.loads
            while n < count:
                data = recv()
                if not data and not ws.connected:
                    break
                if not n:
                    first = stamp()
                if orj:
                    ids += loads(data)["t"]
                nbytes += len(data)
                n += 1
            last = stamp()
            emit(blast_result(n, nbytes, ids, first, last))
        elif args.job == "alloc":

            def burst(k: int) -> None:
                ws.send(str(k))
                for _ in range(k):
                    len(recv())

            emit(run_alloc(burst, args.warmup, args.count))
        else:
            payload = echo_payload(args.size).decode()
            send = ws.send
            samples = []
            for _ in range(args.warmup + args.count):
                t0 = time.perf_counter_ns()
                send(payload)
                len(recv())
                samples.append(time.perf_counter_ns() - t0)
            emit({"rtt_ns": samples[args.warmup :]})
    finally:
        ws.close()
