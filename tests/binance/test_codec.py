"""Decoding Binance payloads: the exact samples from the Binance docs, strings kept exact."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from boomnet.errors import ProtocolError
from endpoints.binance import (
    AggTrade,
    BookTicker,
    CommandError,
    CommandResult,
    DepthUpdate,
    PartialDepth,
    Trade,
    UnknownEvent,
    decode,
    encode_request,
    levels_decimal,
)

TRADE = b'{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}'
AGG_TRADE = (
    b'{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100",'
    b'"f":100,"l":105,"T":1672515782136,"m":true,"M":true}'
)
BOOK_TICKER = b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}'
DEPTH = b'{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}'
PARTIAL = b'{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}'


def test_trade_sample() -> None:
    t = decode(TRADE)
    assert t == Trade("BNBBTC", 1672515782136, 12345, "0.001", "100", 1672515782136, True)
    assert type(t.price) is str and t.price == "0.001"
    assert t.price_decimal == Decimal("0.001") and str(t.price_decimal) == "0.001"
    assert t.quantity_decimal == Decimal("100")


def test_agg_trade_sample() -> None:
    a = decode(AGG_TRADE)
    assert a == AggTrade("BNBBTC", 1672515782136, 12345, "0.001", "100", 100, 105, 1672515782136, True)
    assert a.last_trade_id - a.first_trade_id == 5


def test_book_ticker_sample_keeps_trailing_zeros() -> None:
    bt = decode(BOOK_TICKER)
    assert bt == BookTicker("BNBUSDT", 400900217, "25.35190000", "31.21000000", "25.36520000", "40.66000000")
    assert str(bt.bid_price_decimal) == "25.35190000"  # exact, scale preserved
    assert bt.ask_qty_decimal == Decimal("40.66")
    assert bt.mid_decimal == Decimal("25.35855")


def test_depth_update_sample() -> None:
    d = decode(DEPTH)
    assert d == DepthUpdate("BNBBTC", 1672515782136, 157, 160, [("0.0024", "10")], [("0.0026", "100")])
    assert levels_decimal(d.bids) == [(Decimal("0.0024"), Decimal("10"))]


def test_partial_depth_raw_and_combined() -> None:
    assert decode(PARTIAL) == PartialDepth(160, [("0.0024", "10")], [("0.0026", "100")])
    assert decode(PARTIAL, stream="bnbbtc@depth5").symbol == "BNBBTC"
    wrapped = b'{"stream":"bnbbtc@depth5@100ms","data":' + PARTIAL + b"}"
    assert decode(wrapped) == PartialDepth(160, [("0.0024", "10")], [("0.0026", "100")], "BNBBTC")


@pytest.mark.parametrize(
    "raw, stream",
    [(TRADE, b"bnbbtc@trade"), (AGG_TRADE, b"bnbbtc@aggTrade"), (BOOK_TICKER, b"bnbusdt@bookTicker"),
     (DEPTH, b"bnbbtc@depth@100ms"), (DEPTH, b"bnbbtc@depth")],
)
def test_combined_wrapper_decodes_like_raw(raw: bytes, stream: bytes) -> None:
    wrapped = b'{"stream":"' + stream + b'","data":' + raw + b"}"
    assert decode(wrapped) == decode(raw)


def test_accepts_memoryview_bytearray_and_str() -> None:
    buf = bytearray(b"xx" + TRADE + b"yy")
    view = memoryview(buf)[2 : 2 + len(TRADE)]
    assert decode(view) == decode(TRADE) == decode(TRADE.decode())


def test_command_replies() -> None:
    assert decode(b'{"result":null,"id":1}') == CommandResult(1, None)
    assert decode(b'{"result":["btcusdt@trade"],"id":3}') == CommandResult(3, ["btcusdt@trade"])
    err = decode(b'{"code":2,"msg":"Invalid request: bad","id":7}')
    assert err == CommandError(7, 2, "Invalid request: bad")


def test_unknown_event_is_passed_through() -> None:
    ev = decode(b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{}}}')
    assert isinstance(ev, UnknownEvent)
    assert (ev.event_type, ev.stream, ev.data["s"]) == ("kline", "btcusdt@kline_1m", "BTCUSDT")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1,2,3]",
        b'{"foo":1}',
        b'{"e":"trade","E":1,"s":"X"}',  # missing fields
        b'{"e":"trade","E":1,"s":"X","t":1,"p":0.001,"q":"1","T":1,"m":true}',  # float price
        b'{"u":1,"s":"X","b":"1","B":"1","a":2.5,"A":"1"}',  # float ask
        b'{"stream":"x@trade","data":5}',
    ],
)
def test_malformed_messages_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(payload)


def test_levels_decimal_refuses_floats() -> None:
    with pytest.raises(ProtocolError):
        levels_decimal([[0.1, "1"]])


def test_encode_request_matches_binance_format() -> None:
    assert encode_request("SUBSCRIBE", 1, ["btcusdt@trade", "btcusdt@depth"]) == (
        b'{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth"],"id":1}'
    )
    assert encode_request("UNSUBSCRIBE", 312, ["btcusdt@depth"]) == (
        b'{"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}'
    )
    assert encode_request("LIST_SUBSCRIPTIONS", 3) == b'{"method":"LIST_SUBSCRIPTIONS","id":3}'
    assert orjson.loads(encode_request("SUBSCRIBE", 9, ("a@trade",)))["params"] == ["a@trade"]
