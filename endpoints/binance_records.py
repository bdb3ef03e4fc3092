"""Binance spot market-stream records: typed, immutable ``msgspec.Struct`` classes.

Each record class is also the schema ``msgspec`` decodes straight into (JSON key -> field via
``msgspec.field(name=...)``), so one C pass turns a frame's bytes into a record with its field
types checked (``strict=True``: an int is never a float or a bool, a flag is a JSON bool).
Prices and quantities stay the exact decimal strings Binance sent ("25.35190000"); ``Decimal``
is built only on demand (``trade.price_decimal``). Every decimal string a decoder produces is a
plain decimal (ASCII digits with at most one point, see :func:`is_decimal`), and every book
level a pair of them: the decoders check that after msgspec, a batch at a time
(:mod:`endpoints.binance_checks`; msgspec's ``Meta(pattern=...)`` costs ~300 ns a field, a
``__post_init__`` ~130-250 ns a trade). Like any msgspec Struct, a record *you* construct is
not checked (``Trade(...)`` validates nothing; decoding does).

Records were ``NamedTuple``\\ s before 0.3; they are Structs now: attribute access, ``==``,
``hash`` and ``repr`` behave as before; tuple unpacking, indexing, ``_asdict()`` and
``_replace()`` do not (use ``msgspec.structs.astuple / asdict / replace``). Book levels are
``(price, qty)`` tuples of exact strings (they were 2-element lists).
"""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import chain
from typing import Any, Union

import msgspec

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
    "Level",
    "is_decimal",
    "levels_ok",
]

Level = tuple[str, str]  # (price, quantity) exactly as Binance sent them

_DIGITS = "0123456789"
_NOT_DECIMAL = frozenset(("", "."))  # what survives a strip of a malformed string is neither


def is_decimal(text: str) -> bool:
    """``True`` for a plain decimal string: ASCII digits with at most one point, at least one
    digit — non-negative positional notation that ``Decimal`` reads exactly (``"0.001"``,
    ``"100"``, ``"5."``, ``".5"``; not ``""``, ``"."``, ``"1e5"``, ``"-1"``, ``"1.2.3"``, ``" 1"``)."""
    # strip() removes the leading and trailing digit runs: a valid string leaves "" or ".".
    return text.strip(_DIGITS) in _NOT_DECIMAL and text != "." and text != ""


# Book levels: one regex over all of a message's strings joined by "," (~140 ns a level, C loops
# only) instead of ~250 ns a level for a Python loop of strip checks. "," cannot occur in a
# decimal, so a match means every string is one. Possessive quantifiers: no backtracking.
_D = r"(?:[0-9]++\.?+[0-9]*+|\.[0-9]++)"  # exactly what is_decimal accepts
_LEVEL_STRINGS = re.compile(rf"(?:{_D},)*+{_D}").fullmatch
_flatten = chain.from_iterable


def levels_ok(*sides: list[Level]) -> bool:
    """Whether every level of every side is a ``(price, qty)`` pair of decimal strings (one join
    and one regex call for a whole message)."""
    if not all(type(side) is list for side in sides):
        return False
    levels = [level for side in sides for level in side]
    if not levels:
        return True
    if not all(type(level) is tuple and len(level) == 2 for level in levels):
        return False
    try:
        joined = ",".join(_flatten(levels))
    except TypeError:  # not strings
        return False
    # the count rules out a "," inside a string (it would split one string into two "decimals")
    return _LEVEL_STRINGS(joined) is not None and joined.count(",") == 2 * len(levels) - 1


class Trade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="trade"):
    """``<symbol>@trade``: one trade."""

    symbol: str = msgspec.field(name="s")
    event_time: int = msgspec.field(name="E")  # ms
    trade_id: int = msgspec.field(name="t")
    price: str = msgspec.field(name="p")  # exact decimal string
    quantity: str = msgspec.field(name="q")
    trade_time: int = msgspec.field(name="T")  # ms
    buyer_is_maker: bool = msgspec.field(name="m")

    @property
    def price_decimal(self) -> Decimal:
        return Decimal(self.price)

    @property
    def quantity_decimal(self) -> Decimal:
        return Decimal(self.quantity)


class AggTrade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="aggTrade"):
    """``<symbol>@aggTrade``: trades of one taker order at one price, aggregated."""

    symbol: str = msgspec.field(name="s")
    event_time: int = msgspec.field(name="E")
    agg_trade_id: int = msgspec.field(name="a")
    price: str = msgspec.field(name="p")
    quantity: str = msgspec.field(name="q")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="l")
    trade_time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")

    @property
    def price_decimal(self) -> Decimal:
        return Decimal(self.price)

    @property
    def quantity_decimal(self) -> Decimal:
        return Decimal(self.quantity)


class BookTicker(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@bookTicker``: best bid and ask. Spot book tickers carry no event time."""

    symbol: str = msgspec.field(name="s")
    update_id: int = msgspec.field(name="u")
    bid_price: str = msgspec.field(name="b")
    bid_qty: str = msgspec.field(name="B")
    ask_price: str = msgspec.field(name="a")
    ask_qty: str = msgspec.field(name="A")

    @property
    def bid_price_decimal(self) -> Decimal:
        return Decimal(self.bid_price)

    @property
    def bid_qty_decimal(self) -> Decimal:
        return Decimal(self.bid_qty)

    @property
    def ask_price_decimal(self) -> Decimal:
        return Decimal(self.ask_price)

    @property
    def ask_qty_decimal(self) -> Decimal:
        return Decimal(self.ask_qty)

    @property
    def mid_decimal(self) -> Decimal:
        return (Decimal(self.bid_price) + Decimal(self.ask_price)) / 2


class DepthUpdate(msgspec.Struct, frozen=True, tag_field="e", tag="depthUpdate"):
    """``<symbol>@depth[@100ms]``: order-book changes with update ids ``U..u``."""

    symbol: str = msgspec.field(name="s")
    event_time: int = msgspec.field(name="E")
    first_update_id: int = msgspec.field(name="U")
    final_update_id: int = msgspec.field(name="u")
    bids: list[Level] = msgspec.field(name="b")  # [(price, qty), ...]; qty "0" removes the level
    asks: list[Level] = msgspec.field(name="a")


class PartialDepth(msgspec.Struct, frozen=True):
    """``<symbol>@depth<N>[@100ms]``: top-N book snapshot (also the REST depth snapshot's shape).

    The payload names no symbol; ``symbol`` comes from the stream name when it is known (combined
    streams, or a raw connection's single stream), else it is ``""``.
    """

    last_update_id: int = msgspec.field(name="lastUpdateId")
    bids: list[Level]
    asks: list[Level]
    symbol: str = ""


class CommandResult(msgspec.Struct, frozen=True):
    """Reply ``{"result":..,"id":N}`` to SUBSCRIBE / UNSUBSCRIBE / SET_PROPERTY (null),
    LIST_SUBSCRIPTIONS (list of stream names) or GET_PROPERTY (a bool)."""

    id: int | None
    result: list[str] | bool | None


class CommandError(msgspec.Struct, frozen=True):
    """Error reply ``{"code":..,"msg":..,"id":..}``."""

    id: int | None
    code: int
    msg: str = ""


class UnknownEvent(msgspec.Struct, frozen=True):
    """Any other event (``kline``, ``serverShutdown``, ...): its type, stream name and decoded dict."""

    event_type: str
    stream: str | None
    data: dict[str, Any]


Record = Union[
    Trade, AggTrade, BookTicker, DepthUpdate, PartialDepth, CommandResult, CommandError, UnknownEvent]
