"""A small ASGI app for hypercorn, written for the HTTP/2 tests (no boomnet code).

/echo            POST: the body back, with x-length
/bytes/<n>       n bytes (in 64 KiB chunks)
/slow/<ms>       answers after ms milliseconds
/trailers        a body followed by trailers (when the client sent te: trailers)
/count           how many requests this process has served (to prove nothing is sent twice)
"""

from __future__ import annotations

import asyncio
from typing import Any

served: dict[str, int] = {"n": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    served["n"] += 1
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    if path == "/echo":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif path.startswith("/bytes/"):
        n = int(path.rsplit("/", 1)[1])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(n).encode())]})
        chunk = b"b" * 65536
        while n > 0:
            part = chunk[: min(n, 65536)]
            n -= len(part)
            await send({"type": "http.response.body", "body": part, "more_body": n > 0})
    elif path.startswith("/slow/"):
        await asyncio.sleep(int(path.rsplit("/", 1)[1]) / 1000)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"slow"})
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"with trailers"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})
    elif path == "/count":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(served["n"]).encode()})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no such path"})
