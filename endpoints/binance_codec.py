"""Binance spot market-stream messages: typed records, one-pass decoding, request encoding.

Sans-I/O: :func:`decode` takes one text message (bytes, memoryview or str — e.g. a WebSocket
frame's payload, zero-copy) and returns a small record. Prices and quantities stay the exact
decimal strings Binance sent; ``Decimal`` is built only on demand (``trade.price_decimal``,
:func:`levels_decimal`). A number where a decimal string belongs is a protocol error, never a
silent float.

Dispatch is on the event type ``"e"``, then on shape (``bookTicker`` and partial books carry no
``"e"``; command replies carry ``"id"``); combined-stream wrappers ``{"stream":..,"data":..}``
are unwrapped first.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any, Callable, NamedTuple, Sequence, Union

import orjson

from boomnet.errors import ProtocolError

__all__ = [
    "Trade",
    "AggTrade",
    "BookTicker",
    "DepthUpdate",
    "PartialDepth",
    "CommandResult",
    "CommandError",
    "UnknownEvent",
    "Record",
    "decode",
    "levels_decimal",
    "encode_request",
    "symbol_of",
]

Level = Sequence[str]  # [price, quantity] as Binance sends it


def _decimal(field: str) -> property:
    """A property giving the exact ``Decimal`` of the decimal-string ``field``."""
    get = attrgetter(field)
    return property(lambda self: Decimal(get(self)), doc=f"``{field}`` as an exact Decimal.")


class Trade(NamedTuple):
    """``<symbol>@trade``: one trade."""

    symbol: str
    event_time: int  # E, ms
    trade_id: int  # t
    price: str  # p, exact decimal string
    quantity: str  # q
    trade_time: int  # T, ms
    buyer_is_maker: bool  # m

    price_decimal = _decimal("price")
    quantity_decimal = _decimal("quantity")


class AggTrade(NamedTuple):
    """``<symbol>@aggTrade``: trades of one taker order at one price, aggregated."""

    symbol: str
    event_time: int  # E
    agg_trade_id: int  # a
    price: str  # p
    quantity: str  # q
    first_trade_id: int  # f
    last_trade_id: int  # l
    trade_time: int  # T
    buyer_is_maker: bool  # m

    price_decimal = _decimal("price")
    quantity_decimal = _decimal("quantity")


class BookTicker(NamedTuple):
    """``<symbol>@bookTicker``: best bid and ask. Spot book tickers carry no event time."""

    symbol: str
    update_id: int  # u
    bid_price: str  # b
    bid_qty: str  # B
    ask_price: str  # a
    ask_qty: str  # A

    bid_price_decimal = _decimal("bid_price")
    bid_qty_decimal = _decimal("bid_qty")
    ask_price_decimal = _decimal("ask_price")
    ask_qty_decimal = _decimal("ask_qty")

    @property
    def mid_decimal(self) -> Decimal:
        return (Decimal(self.bid_price) + Decimal(self.ask_price)) / 2


class DepthUpdate(NamedTuple):
    """``<symbol>@depth[@100ms]``: order-book changes with update ids ``U..u``."""

    symbol: str
    event_time: int  # E
    first_update_id: int  # U
    final_update_id: int  # u
    bids: list[Level]  # b: [[price, qty], ...] exact strings; qty "0" removes the level
    asks: list[Level]  # a


class PartialDepth(NamedTuple):
    """``<symbol>@depth<N>[@100ms]``: top-N book snapshot.

    The payload names no symbol; ``symbol`` comes from the stream name when it is known (combined
    streams, or a raw connection's single stream), else it is ``""``.
    """

    symbol: str
    last_update_id: int  # lastUpdateId
    bids: list[Level]
    asks: list[Level]


class CommandResult(NamedTuple):
    """Reply ``{"result":..,"id":N}`` to SUBSCRIBE / UNSUBSCRIBE (null) or LIST_SUBSCRIPTIONS (list)."""

    id: int | None
    result: Any


class CommandError(NamedTuple):
    """Error reply ``{"code":..,"msg":..,"id":..}``."""

    id: int | None
    code: int
    msg: str


class UnknownEvent(NamedTuple):
    """Any other event (``kline``, ``serverShutdown``, ...): its type, stream name and decoded dict."""

    event_type: str
    stream: str | None
    data: dict


Record = Union[Trade, AggTrade, BookTicker, DepthUpdate, PartialDepth, CommandResult, CommandError, UnknownEvent]


# Records are built with tuple.__new__ directly: the NamedTuple constructor is a Python-level
# __new__ with keyword handling that costs ~30% more per record on the hot path.
_new = tuple.__new__


def _exact(value: Any, field: str) -> str:
    # The one check that keeps floats out: orjson turns a JSON number into float.
    if type(value) is not str:
        raise ProtocolError(f"Binance field {field!r} is {type(value).__name__}, expected a decimal string")
    return value


def _trade(m: dict) -> Trade:
    p, q = m["p"], m["q"]
    if type(p) is not str or type(q) is not str:
        _exact(p, "p"), _exact(q, "q")
    return _new(Trade, (m["s"], m["E"], m["t"], p, q, m["T"], m["m"]))


def _agg_trade(m: dict) -> AggTrade:
    p, q = m["p"], m["q"]
    if type(p) is not str or type(q) is not str:
        _exact(p, "p"), _exact(q, "q")
    return _new(AggTrade, (m["s"], m["E"], m["a"], p, q, m["f"], m["l"], m["T"], m["m"]))


def _depth_update(m: dict) -> DepthUpdate:
    return _new(DepthUpdate, (m["s"], m["E"], m["U"], m["u"], m["b"], m["a"]))


def _book_ticker(m: dict) -> BookTicker:
    b, bq, a, aq = m["b"], m["B"], m["a"], m["A"]
    if type(b) is not str or type(bq) is not str or type(a) is not str or type(aq) is not str:
        _exact(b, "b"), _exact(bq, "B"), _exact(a, "a"), _exact(aq, "A")
    return _new(BookTicker, (m["s"], m["u"], b, bq, a, aq))


_EVENTS: dict[str, Callable[[dict], Record]] = {
    "trade": _trade,
    "aggTrade": _agg_trade,
    "depthUpdate": _depth_update,
    "bookTicker": _book_ticker,  # futures-style book tickers carry "e"; spot ones do not
}

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def symbol_of(stream: str | None) -> str:
    """``"btcusdt@depth5@100ms"`` -> ``"BTCUSDT"``; ``""`` if unknown."""
    return stream.partition("@")[0].upper() if stream else ""


def decode(payload: bytes | bytearray | memoryview | str, stream: str | None = None) -> Record:
    """Decode one Binance market-stream text message into a record.

    ``stream`` names the stream for raw (unwrapped) connections carrying a single stream; it only
    matters for partial books, whose payload names no symbol. Raises :class:`ProtocolError` for
    anything that is not a well-formed Binance message.
    """
    try:
        msg = _loads(payload)
    except _JSONDecodeError as exc:
        raise ProtocolError(f"Binance message is not JSON: {exc}") from None
    if type(msg) is not dict:
        raise ProtocolError(f"Binance message is not a JSON object: {type(msg).__name__}")
    if "stream" in msg:  # combined-stream wrapper
        stream = msg["stream"]
        msg = msg.get("data")
        if type(msg) is not dict:
            raise ProtocolError(f"combined message for {stream!r} has no object 'data'")
    try:
        kind = msg.get("e")
        if kind is not None:
            build = _EVENTS.get(kind)
            return build(msg) if build is not None else UnknownEvent(kind, stream, msg)
        if "u" in msg and "A" in msg:
            return _book_ticker(msg)
        if "lastUpdateId" in msg:
            return PartialDepth(symbol_of(stream), msg["lastUpdateId"], msg["bids"], msg["asks"])
        if "code" in msg:
            return CommandError(msg.get("id"), msg["code"], msg.get("msg", ""))
        if "id" in msg and "result" in msg:
            return CommandResult(msg["id"], msg["result"])
    except KeyError as exc:
        raise ProtocolError(f"Binance message lacks field {exc}: {_preview(msg)}") from None
    raise ProtocolError(f"unrecognised Binance message: {_preview(msg)}")


def _preview(msg: dict) -> str:
    text = orjson.dumps(msg).decode()
    return text if len(text) <= 120 else text[:117] + "..."


def levels_decimal(levels: Sequence[Level]) -> list[tuple[Decimal, Decimal]]:
    """Book levels ``[[price, qty], ...]`` as exact ``(Decimal, Decimal)`` pairs."""
    try:
        return [(Decimal(_exact(p, "price")), Decimal(_exact(q, "qty"))) for p, q in levels]
    except (ValueError, InvalidOperation) as exc:
        raise ProtocolError(f"malformed book level: {exc}") from None


def encode_request(method: str, request_id: int, params: Sequence[str] | None = None) -> bytes:
    """A SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request as the text Binance expects."""
    if params is None:
        return orjson.dumps({"method": method, "id": request_id})
    return orjson.dumps({"method": method, "params": list(params), "id": request_id})
