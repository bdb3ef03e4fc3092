"""One client connection of the embedded exchange: commands, pings, framed market data, stats."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .market import parse_stream

if TYPE_CHECKING:  # pragma: no cover
    from .exchange import Exchange

__all__ = ["ConnectionStats", "ExchangeConnection", "UnknownPath", "text_frame"]


class UnknownPath(ValueError):
    """The request path is no Binance stream endpoint (HTTP 404; bad stream names are 400)."""


def text_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


@dataclasses.dataclass
class ConnectionStats:
    """What the exchange did on one connection (a snapshot; times are ``time.time()``)."""

    id: int
    path: str
    combined: bool
    opened_at: float
    closed_at: float | None = None
    close_reason: str = ""
    streams: set[str] = dataclasses.field(default_factory=set)
    #: data messages written, per stream
    sent: dict[str, int] = dataclasses.field(default_factory=dict)
    #: per symbol: [first trade id, last trade id, trades written]
    trades: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    #: requests received: (method, id)
    requests: list[tuple[Any, Any]] = dataclasses.field(default_factory=list)
    errors_sent: int = 0
    pings_sent: int = 0
    #: pongs that carried an exact copy of the ping payload
    pongs_matched: int = 0


class ExchangeConnection:
    """Loop-side state of one connection. Only the exchange's event-loop thread touches it."""

    def __init__(self, conn_id: int, ws: Any, combined: bool, exchange: "Exchange"):
        self.ws = ws
        self.combined = combined
        self.exchange = exchange
        self.streams: set[str] = set()
        self.stalled_until = 0.0
        self.stats = ConnectionStats(conn_id, ws.request.path, combined, time.time())
        self._out: list[bytes] = []
        self._trades_out: list[tuple[str, int]] = []

    @staticmethod
    def parse_path(path: str) -> tuple[bool, list[str]]:
        """``/ws``, ``/ws/<s1>/<s2>``, ``/stream``, ``/stream?streams=a/b`` -> (combined, streams).
        Raises :class:`UnknownPath` for other paths, ``ValueError`` for bad stream names."""
        parts = urlsplit(path)
        if parts.path == "/stream":
            combined = True
            streams = [s for q in parse_qs(parts.query).get("streams", ()) for s in q.split("/") if s]
        elif parts.path == "/ws" or parts.path.startswith("/ws/"):
            combined = False
            streams = [s for s in parts.path[len("/ws/"):].split("/") if s]
        else:
            raise UnknownPath(f"no such endpoint {parts.path!r}")
        bad = [s for s in streams if parse_stream(s) is None]
        if bad:
            raise ValueError(f"invalid stream name(s) {bad}")
        return combined, streams

    @property
    def is_open(self) -> bool:
        return self.ws.state is State.OPEN and not self.ws.transport.is_closing()

    # --- market data --------------------------------------------------------------------------

    def push(self, stream: str, payload: bytes, trade_id: int | None = None) -> None:
        """Queue one data message for this tick's write."""
        if self.combined:
            payload = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        self._out.append(text_frame(payload))
        sent = self.stats.sent
        sent[stream] = sent.get(stream, 0) + 1
        if trade_id is not None:
            self._trades_out.append((stream.partition("@")[0], trade_id))

    def flush(self, max_write_buffer: int) -> None:
        """Write this tick's frames in one go (unless stalled). A client that lets the buffer
        grow past ``max_write_buffer`` is cut off, as Binance does with slow consumers."""
        if not self._out or self.stalled_until > time.monotonic():
            return
        if not self.is_open:
            self._out.clear()
            return
        transport = self.ws.transport
        if transport.get_write_buffer_size() > max_write_buffer:
            self.abort("slow consumer: write buffer full")
            return
        transport.write(b"".join(self._out))
        self._out.clear()
        trades = self.stats.trades
        for symbol, trade_id in self._trades_out:
            seen = trades.get(symbol)
            if seen is None:
                trades[symbol] = [trade_id, trade_id, 1]
            else:
                seen[1] = trade_id
                seen[2] += 1
        self._trades_out.clear()

    # --- faults -------------------------------------------------------------------------------

    def write_raw(self, data: bytes) -> None:
        """Bytes that are not a frame of ours, after everything queued (and after a stall)."""
        self._out.append(data)
        self.flush(1 << 62)

    def abort(self, reason: str) -> None:
        if not self.stats.close_reason:
            self.stats.close_reason = reason
        self._out.clear()
        self.ws.transport.abort()

    # --- control ------------------------------------------------------------------------------

    async def ping_loop(self, interval: float, timeout: float) -> None:
        """Ping every ``interval`` s with a random payload; close if no exact-copy pong in ``timeout``."""
        while True:
            await asyncio.sleep(interval)
            if self.stalled_until > time.monotonic():
                continue
            try:
                pong = await self.ws.ping(os.urandom(8))
                self.stats.pings_sent += 1
                await asyncio.wait_for(pong, timeout)
            except ConnectionClosed:
                return
            except TimeoutError:
                self.stats.close_reason = "pong timeout"
                await self.ws.close(1008, "pong timeout")
                return
            self.stats.pongs_matched += 1

    async def serve(self, max_requests_per_second: int, max_age: float) -> None:
        """Answer requests until the connection ends, it floods us, or it reaches ``max_age``."""
        window_start, in_window = time.monotonic(), 0
        deadline = time.monotonic() + max_age
        ws = self.ws
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stats.close_reason = "max connection age"
                    await ws.close(1000, "connection age limit")
                    return
                try:
                    message = await asyncio.wait_for(ws.recv(), remaining)
                except TimeoutError:
                    continue
                now = time.monotonic()
                if now - window_start >= 1.0:
                    window_start, in_window = now, 0
                in_window += 1
                if in_window > max_requests_per_second:
                    self.stats.close_reason = "too many requests"
                    await ws.close(1008, "Too many requests")
                    return
                reply = self.command(message)
                if "code" in reply:
                    self.stats.errors_sent += 1
                while self.stalled_until > time.monotonic():  # a stall holds replies too
                    await asyncio.sleep(0.01)
                self.flush(1 << 62)  # data queued before the reply goes before it
                await ws.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            if not self.stats.close_reason:
                self.stats.close_reason = f"closed by client ({ws.close_code})"

    def command(self, message: str | bytes) -> dict[str, Any]:
        """One SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request -> its reply object."""
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return {"code": 3, "msg": f"Invalid JSON: {exc}", "id": None}
        if type(request) is not dict:
            return {"code": 3, "msg": "Invalid JSON: expected an object", "id": None}
        req_id, method, params = request.get("id"), request.get("method"), request.get("params", [])
        self.stats.requests.append((method, req_id))
        if req_id is not None and type(req_id) is not int and type(req_id) is not str:
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer", "id": None}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(self.streams), "id": req_id}
        if method in ("GET_PROPERTY", "SET_PROPERTY"):
            # Binance's one connection property: "combined" (wrap payloads as {"stream", "data"})
            if type(params) is not list or not params or params[0] != "combined":
                return {"code": 2, "msg": f"Invalid request: unknown property {params!r}", "id": req_id}
            if method == "SET_PROPERTY":
                if len(params) != 2 or type(params[1]) is not bool:
                    return {"code": 2, "msg": "Invalid request: SET_PROPERTY needs a boolean", "id": req_id}
                self.combined = params[1]
                return {"result": None, "id": req_id}
            return {"result": self.combined, "id": req_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": req_id}
        if type(params) is not list or any(type(p) is not str or parse_stream(p) is None for p in params):
            return {"code": 2, "msg": f"Invalid request: invalid stream name in {params!r}", "id": req_id}
        if method == "SUBSCRIBE":
            if len(self.streams | set(params)) > 1024:
                return {"code": 2, "msg": "Invalid request: too many streams (max 1024)", "id": req_id}
            self.exchange.subscribe(self, params)
        else:
            self.exchange.unsubscribe(self, params)
        return {"result": None, "id": req_id}

    def snapshot(self) -> ConnectionStats:
        stats = dataclasses.replace(self.stats)
        stats.streams = set(self.streams)
        stats.sent = dict(self.stats.sent)
        stats.trades = {k: list(v) for k, v in self.stats.trades.items()}
        stats.requests = list(self.stats.requests)
        return stats
