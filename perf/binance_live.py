"""The live variants of ``perf.binance_records``: the same frames from a raw WebSocket server
over loopback TCP, into ``BinanceEndpoint`` and into a hand-written picows client.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from typing import Any

import orjson

from perf.binance_records import GUID, NtBook, NtDepth, NtTrade, _frame, clock, counting_endpoint, streams_of

__all__ = ["RawServer", "run_live_boomnet", "run_live_picows"]


class RawServer:
    """Accepts connections; answers each upgrade, then writes every frame at once (one sendall)
    and keeps the connection open until the client closes it. No TLS, no masking checks."""

    def __init__(self, messages: list[bytes]) -> None:
        self.blob = b"".join(_frame(m) for m in messages)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            conn.sendall(self.blob)
            conn.settimeout(30)
            try:
                while conn.recv(65536):  # until the client goes away
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def run_live_boomnet(module: Any, scenario: str, port: int, expected: int) -> float:
    from boomnet.service import EpollSelector, IOService

    ep = counting_endpoint(module)(streams_of(scenario), base_url=f"ws://127.0.0.1:{port}")
    first = 0.0
    with IOService(EpollSelector()) as service:
        service.register(ep)
        poll = service.poll
        deadline = time.monotonic() + 60
        while ep.n < expected and time.monotonic() < deadline:
            poll(None)
            if ep.n and not first:
                first = clock()
        end = clock()
    if ep.n != expected:
        raise SystemExit(f"boomnet live: {ep.n} records of {expected}")
    return expected / (end - first)


def run_live_picows(port: int, expected: int) -> float:
    """picows (uvloop) + orjson + NamedTuple: what a user hand-writes on picows."""
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_connect

    text = WSMsgType.TEXT
    loads = orjson.loads

    class Listener(WSListener):  # type: ignore[misc]
        n = 0
        first = end = 0.0
        last: Any = None

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type is not text:
                return
            d = loads(frame.get_payload_as_memoryview())["data"]
            e = d.get("e")
            if e == "trade":
                rec: Any = NtTrade(d["s"], d["E"], d["t"], d["p"], d["q"], d["T"], d["m"])
            elif e == "aggTrade":
                rec = NtTrade(d["s"], d["E"], d["a"], d["p"], d["q"], d["T"], d["m"])
            elif e == "depthUpdate":
                rec = NtDepth(d["s"], d["E"], d["U"], d["u"], d["b"], d["a"])
            else:
                rec = NtBook(d["s"], d["u"], d["b"], d["B"], d["a"], d["A"])
            self.on_record(rec)
            if self.n == 1:
                self.first = clock()
            if self.n == expected:
                self.end = clock()
                transport.disconnect()

        def on_record(self, rec: Any) -> None:
            self.n += 1
            self.last = rec[3]

    async def main() -> Any:
        transport, listener = await ws_connect(Listener, f"ws://127.0.0.1:{port}/stream")
        await asyncio.wait_for(transport.wait_disconnected(), 60)
        return listener

    listener = uvloop.run(main())
    if listener.n != expected:
        raise SystemExit(f"picows live: {listener.n} records of {expected}")
    return expected / (listener.end - listener.first)
