"""The embedded exchange itself, driven by the independent ``websockets`` client: URL styles,
request handling and errors, the request rate limit. (The endpoint tests rely on it being right.)"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from boomnet.testing.binance.exchange import Exchange
from boomnet.testing.binance.exchange_conn import ExchangeConnection
from boomnet.testing.binance.market import format_units, parse_stream


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    with Exchange(rate=100, burst_every=0, seed=11, ping_interval=30) as ex:
        yield ex


def talk(exchange: Exchange, path: str, requests: list[Any], replies: int, data: int = 0) -> tuple[list, list]:
    """Send ``requests`` (objects or raw strings); collect ``replies`` replies and ``data`` data messages."""

    async def session() -> tuple[list, list]:
        ctx = ssl.create_default_context(cafile=exchange.ca_file)
        got_replies: list = []
        got_data: list = []
        async with connect(exchange.url + path, ssl=ctx, compression=None) as ws:
            for r in requests:
                await ws.send(r if isinstance(r, str) else json.dumps(r))
            while len(got_replies) < replies or len(got_data) < data:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                (got_replies if ("id" in msg and ("result" in msg or "code" in msg)) else got_data).append(msg)
        return got_replies, got_data

    return asyncio.run(session())


def test_raw_and_combined_urls(exchange: Exchange) -> None:
    _, raw = talk(exchange, "/ws/btcusdt@trade/btcusdt@bookTicker", [], 0, data=20)
    assert {"trade"} <= {m.get("e") for m in raw} and any("u" in m and "A" in m for m in raw)
    _, combined = talk(exchange, "/stream?streams=ethusdt@aggTrade/ethusdt@depth5@100ms", [], 0, data=30)
    assert {m["stream"] for m in combined} == {"ethusdt@aggTrade", "ethusdt@depth5@100ms"}
    book = next(m["data"] for m in combined if m["stream"].startswith("ethusdt@depth5"))
    assert len(book["bids"]) == len(book["asks"]) == 5 and Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])


def test_requests_and_error_replies(exchange: Exchange) -> None:
    replies, _ = talk(exchange, "/ws", [
        {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@depth"], "id": 1},
        {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 312},
        {"method": "LIST_SUBSCRIPTIONS", "id": 3},
        {"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 4},
        "not json",
    ], replies=5)
    assert replies[:3] == [{"result": None, "id": 1}, {"result": None, "id": 312}, {"result": ["btcusdt@trade"], "id": 3}]
    assert replies[3]["code"] == 2 and replies[3]["id"] == 4 and replies[3]["msg"].startswith("Invalid request")
    assert replies[4]["code"] == 3 and replies[4]["id"] is None


def test_more_than_five_requests_a_second_closes_the_connection(exchange: Exchange) -> None:
    with pytest.raises(ConnectionClosed) as info:
        talk(exchange, "/ws", [{"method": "LIST_SUBSCRIPTIONS", "id": i} for i in range(7)], replies=7)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


@pytest.mark.parametrize("path, status", [("/nope", 404), ("/ws/btcusdt@nonsense", 400)])
def test_bad_paths_are_refused(exchange: Exchange, path: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as info:
        talk(exchange, path, [], 0)
    assert info.value.response.status_code == status


def test_path_and_stream_parsing() -> None:
    assert ExchangeConnection.parse_path("/stream?streams=a@trade/b@bookTicker") == (True, ["a@trade", "b@bookTicker"])
    assert ExchangeConnection.parse_path("/ws/a@depth20@100ms") == (False, ["a@depth20@100ms"])
    assert ExchangeConnection.parse_path("/ws") == (False, [])
    assert parse_stream("btcusdt@depth@100ms") == ("btcusdt", "depth@100ms")
    assert parse_stream("btcusdt@kline_1m") is None and parse_stream("BTCUSDT@trade") is None


def test_prices_are_exact_eight_decimal_strings() -> None:
    assert format_units(6_000_001_000_000) == "60000.01000000"
    assert format_units(50_000_000) == "0.50000000" and format_units(1) == "0.00000001"
