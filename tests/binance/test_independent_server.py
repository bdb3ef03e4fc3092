"""BinanceEndpoint against a scripted plain ``websockets`` server — not the embedded exchange — so a
bug shared by the exchange and the endpoint cannot hide. The server speaks the exact documented
Binance payloads over a raw ``/ws`` connection, checks what the client sends byte for byte, and
verifies the pong payload itself (``websockets`` resolves a ping only on an exact-copy pong).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import serve

from boomnet.service import DisconnectKind, EpollSelector, IOService
from endpoints.binance import AggTrade, BookTicker, CommandError, DepthUpdate, PartialDepth, Trade

from .helpers import Collector, run_until
from .test_codec import AGG_TRADE, BOOK_TICKER, DEPTH, PARTIAL, TRADE

STREAMS = ["bnbbtc@trade", "bnbbtc@aggTrade", "bnbusdt@bookTicker", "bnbbtc@depth"]
PING_PAYLOAD = b"binance-ping-\x00\xff"


class ScriptedServer:
    """Runs the script below per connection; records what each connection received."""

    def __init__(self, ssl_context: Any, port: int):
        self.port = port
        self.ssl_context = ssl_context
        self.received: list[list[str]] = []
        self.paths: list[str] = []
        self.pong_ok: list[bool] = []
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._script, "127.0.0.1", self.port, ssl=self.ssl_context, ping_interval=None, compression=None):
            self._ready.set()
            await self._stop

    async def _script(self, ws: Any) -> None:
        got: list[str] = []
        self.received.append(got)
        self.paths.append(ws.request.path)
        got.append(await ws.recv())  # SUBSCRIBE
        await ws.send(json.dumps({"result": None, "id": json.loads(got[-1])["id"]}))
        if len(self.received) > 1:
            await asyncio.wait([asyncio.ensure_future(ws.wait_closed()), self._stop], timeout=5)
            return  # second connection: stay up until the client or the test ends it
        for payload in (TRADE, AGG_TRADE, BOOK_TICKER, DEPTH, PARTIAL):
            await ws.send(payload.decode())
        pong = await ws.ping(PING_PAYLOAD)
        await asyncio.wait_for(pong, 5)
        self.pong_ok.append(True)
        got.append(await ws.recv())  # LIST_SUBSCRIPTIONS
        await ws.send(json.dumps({"result": STREAMS, "id": json.loads(got[-1])["id"]}))
        got.append(await ws.recv())  # UNSUBSCRIBE
        await ws.send(json.dumps({"code": 2, "msg": "Invalid request: nope", "id": json.loads(got[-1])["id"]}))
        await ws.close(1001, "going away")

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


class Scripted(Collector):
    def on_partial_depth(self, book: PartialDepth, ctx: Any) -> None:
        super().on_partial_depth(book, ctx)
        self.list_subscriptions()

    def on_reply(self, request: Any, reply: Any, ctx: Any) -> None:
        super().on_reply(request, reply, ctx)
        if request.method == "LIST_SUBSCRIPTIONS":
            self.unsubscribe(["bnbbtc@depth"])


@pytest.fixture
def server(server_ssl_context: Any, unused_port: int) -> Iterator[ScriptedServer]:
    with ScriptedServer(server_ssl_context, unused_port) as s:
        yield s


def test_endpoint_against_plain_websockets_server(server: ScriptedServer, ca_file: str) -> None:
    ep = Scripted(STREAMS, base_url=f"wss://localhost:{server.port}", ca_file=ca_file, combined=False)
    with IOService(EpollSelector()) as service:
        service.register(ep)
        run_until(service, lambda: len(server.received) == 2 and len(ep.replies) >= 3)

    # what the client sent, exactly
    first = server.received[0]
    assert first == [
        json.dumps({"method": "SUBSCRIBE", "params": STREAMS, "id": 1}, separators=(",", ":")),
        '{"method":"LIST_SUBSCRIPTIONS","id":2}',
        '{"method":"UNSUBSCRIBE","params":["bnbbtc@depth"],"id":3}',
    ]
    # after the server went away: reconnected, resubscribed what is still wanted, next id
    assert server.paths == ["/ws", "/ws"]
    assert json.loads(server.received[1][0]) == {"method": "SUBSCRIBE", "params": STREAMS[:3], "id": 4}
    assert server.pong_ok == [True] and ep.pings == 1

    # what the endpoint decoded, exactly
    records = ep.connections[0]
    assert records[0] == Trade("BNBBTC", 1672515782136, 12345, "0.001", "100", 1672515782136, True)
    assert records[1] == AggTrade("BNBBTC", 1672515782136, 12345, "0.001", "100", 100, 105, 1672515782136, True)
    assert records[2] == BookTicker("BNBUSDT", 400900217, "25.35190000", "31.21000000", "25.36520000", "40.66000000")
    assert records[3] == DepthUpdate("BNBBTC", 1672515782136, 157, 160, [("0.0024", "10")], [("0.0026", "100")])
    # a raw connection with several streams cannot tell whose partial book this is
    assert records[4] == PartialDepth(160, [("0.0024", "10")], [("0.0026", "100")])
    assert len(records) == 5
    assert ep.subscriptions.listed == STREAMS
    [(request, error)] = ep.error_replies
    assert request.method == "UNSUBSCRIBE" and error == CommandError(3, 2, "Invalid request: nope")
    assert [d.kind for d in ep.disconnects] == [DisconnectKind.CLOSED]
    assert ep.disconnects[0].error.code == 1001
