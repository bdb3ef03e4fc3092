"""websocket-client (blocking). Its pure-Python UTF-8 validator is skipped: ``recv()`` still
decodes text with ``bytes.decode`` (which validates), so this is its fastest correct setup."""

from __future__ import annotations

import orjson
import websocket

from perf.clients.common import Args, blast_result, emit, send_recv_jobs_sync, stamp


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
        else:
            send_recv_jobs_sync(args, ws.send, recv)
    finally:
        ws.close()
