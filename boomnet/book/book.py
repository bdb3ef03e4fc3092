"""A generic price-level order book: exact prices, batch updates, best/top-N/depth, crossed check.

    book = OrderBook(price_scale=8, qty_scale=8)          # prices as integer units of 1e-8
    book.reset([("25.35", "31.2")], [("25.36", "40.6")], update_id=160)
    book.apply(bids=[("25.35", "0")], asks=[("25.37", "5")])  # qty "0" removes the level
    book.best_bid(), book.best_ask(), book.top(5), book.depth_at(BID, "25.35"), book.crossed

Venue code only maps its messages onto :meth:`OrderBook.apply` / :meth:`OrderBook.reset`
(levels as ``(price, qty)`` decimal strings, as venues send them); the book knows no venue.

Representation (measured in ``perf/book_bench.py``): each side is a dict ``price -> qty`` plus a
sorted Python list of its prices, kept with ``bisect``. A quantity change on an existing level —
most updates — is one dict store; a new or emptied level is one ``bisect`` and a ``memmove`` of
the list, which beats tree structures for books of a few thousand levels. Prices and quantities
are *scaled integers* by default (``"25.35190000"`` -> ``2535190000`` at scale 8): exact like
``Decimal`` and faster to hash and compare; a string with more fractional digits than the scale
is refused (:class:`~boomnet.errors.InvalidMessage`) rather than rounded. ``price_scale=None``
keeps ``Decimal`` prices instead (any precision, slower; same API).

Input strings must be plain decimals (the venue decoders check that); anything else raises
``InvalidMessage``. The book is not thread-safe; one owner applies and reads it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Union

from ..errors import InvalidMessage

__all__ = ["OrderBook", "Level", "BID", "ASK", "Price", "scaled_parser"]

BID = "bid"
ASK = "ask"

Price = Union[int, Decimal]


class Level(NamedTuple):
    """One price level: price and quantity in the book's representation (units or Decimal)."""

    price: Price
    qty: Price


def scaled_parser(scale: int, *, checked: bool = True) -> Callable[[str], int]:
    """A parser of decimal strings into integer units of ``10**-scale`` (exact, or InvalidMessage).

    ``checked=False`` skips the character check (``int()`` alone would also take ``" 1"``, ``"+1"``,
    ``"1_0"``): only for strings already validated as plain decimals, e.g. by a venue decoder."""
    if not 0 <= scale <= 18:
        raise ValueError(f"scale must be 0..18, not {scale!r}")
    pad = "0" * scale

    def units(text: str) -> int:
        whole, _, frac = text.partition(".")
        n = len(frac)
        if n == scale:  # the common case for a venue with fixed precision
            digits = whole + frac
        elif n < scale:
            digits = whole + frac + pad[n:] if whole or frac else ""
        elif frac[scale:].strip("0"):
            raise InvalidMessage(f"{text!r} has more than {scale} decimal places")
        else:
            digits = whole + frac[:scale]
        # int() alone would also take " 1", "+1", "1_0" and non-ASCII digits
        if checked and not (digits.isascii() and digits.isdigit()):
            raise InvalidMessage(f"{text!r} is not a decimal string")
        try:
            return int(digits)
        except ValueError:  # unchecked input that was not a decimal after all
            raise InvalidMessage(f"{text!r} is not a decimal string") from None

    return units


_DIGITS = "0123456789"


def _decimal(text: str) -> Decimal:
    # Decimal() alone would also take " 1", "+1", "1_0", "1e5", "NaN" and non-ASCII digits
    if text.strip(_DIGITS) not in ("", ".") or text in ("", "."):
        raise InvalidMessage(f"{text!r} is not a plain decimal string")
    try:
        return Decimal(text)
    except InvalidOperation:  # unreachable after the check above; the last guard
        raise InvalidMessage(f"{text!r} is not a decimal string") from None


class _Side:
    __slots__ = ("qty", "prices")

    def __init__(self) -> None:
        self.qty: dict[Price, Price] = {}
        self.prices: list[Price] = []  # ascending

    def clear(self) -> None:
        self.qty.clear()
        self.prices.clear()


class OrderBook:
    """Bids and asks as exact price levels (see module docstring)."""

    __slots__ = ("_bids", "_asks", "_price", "_qty", "price_scale", "qty_scale", "update_id", "updates")

    def __init__(self, *, price_scale: int | None = 8, qty_scale: int | None = 8, checked: bool = True) -> None:
        self.price_scale = price_scale
        self.qty_scale = qty_scale
        # checked=False: the strings come already validated (e.g. Binance records): skip that work
        self._price: Callable[[str], Price] = _decimal if price_scale is None else scaled_parser(price_scale, checked=checked)
        self._qty: Callable[[str], Price] = _decimal if qty_scale is None else scaled_parser(qty_scale, checked=checked)
        self._bids = _Side()
        self._asks = _Side()
        #: the venue's sequence number of the last update applied (``None``: never set)
        self.update_id: int | None = None
        #: level changes applied since construction (a cheap activity counter)
        self.updates = 0

    # --- writing --------------------------------------------------------------------------------

    def reset(self, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]], update_id: int | None = None) -> None:
        """Replace the whole book with a snapshot."""
        self.clear()
        self.apply(bids, asks)
        self.update_id = update_id

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.update_id = None

    def apply(self, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = (),
              update_id: int | None = None) -> None:
        """Set each level's quantity (``"0"`` removes it), a whole batch per call. Parsing happens
        before any change to a side, so a malformed level leaves that side as it was."""
        price, qty = self._price, self._qty
        # parse first: a bad string raises before the side is touched
        parsed_bids = [(price(p), qty(q)) for p, q in bids]
        parsed_asks = [(price(p), qty(q)) for p, q in asks]
        self.updates += _apply(self._bids, parsed_bids) + _apply(self._asks, parsed_asks)
        if update_id is not None:
            self.update_id = update_id

    # --- reading --------------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        prices = self._bids.prices
        return Level(prices[-1], self._bids.qty[prices[-1]]) if prices else None

    def best_ask(self) -> Level | None:
        prices = self._asks.prices
        return Level(prices[0], self._asks.qty[prices[0]]) if prices else None

    def spread(self) -> Price | None:
        bids, asks = self._bids.prices, self._asks.prices
        return asks[0] - bids[-1] if bids and asks else None

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: the book cannot be right (a missed update, a bad snapshot)."""
        bids, asks = self._bids.prices, self._asks.prices
        return bool(bids and asks and bids[-1] >= asks[0])

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side: bids high to low, asks low to high."""
        bq, aq = self._bids.qty, self._asks.qty
        bids = [Level(p, bq[p]) for p in reversed(self._bids.prices[-n:])] if n > 0 else []
        asks = [Level(p, aq[p]) for p in self._asks.prices[:n]] if n > 0 else []
        return bids, asks

    def depth_at(self, side: str, price: str | Price) -> Price:
        """Quantity resting at ``price`` on ``side`` (0 when there is no level)."""
        key = self._price(price) if isinstance(price, str) else price
        return self._side(side).qty.get(key, 0)

    def levels(self) -> tuple[int, int]:
        """How many price levels per side: ``(bids, asks)``."""
        return len(self._bids.prices), len(self._asks.prices)

    def side(self, side: str) -> dict[Price, Price]:
        """A copy of one side as ``{price: qty}`` (for comparisons and tests)."""
        return dict(self._side(side).qty)

    def to_decimal(self, value: Price, *, qty: bool = False) -> Decimal:
        """A price (or, with ``qty=True``, a quantity) of this book as an exact Decimal."""
        scale = self.qty_scale if qty else self.price_scale
        if isinstance(value, Decimal) or scale is None:
            return Decimal(value)
        return Decimal(value).scaleb(-scale)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderBook):
            return NotImplemented
        return (self.update_id == other.update_id and self._bids.qty == other._bids.qty
                and self._asks.qty == other._asks.qty)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        nb, na = self.levels()
        return f"<OrderBook id={self.update_id} {nb} bids / {na} asks best {self.best_bid()} / {self.best_ask()}>"

    def _side(self, side: str) -> _Side:
        if side == BID:
            return self._bids
        if side == ASK:
            return self._asks
        raise ValueError(f"side must be {BID!r} or {ASK!r}, not {side!r}")


def _apply(side: _Side, levels: list[tuple[Price, Price]]) -> int:
    qty, prices = side.qty, side.prices
    for price, q in levels:
        if q:
            if price not in qty:
                insort(prices, price)
            qty[price] = q
        elif qty.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]
    return len(levels)
