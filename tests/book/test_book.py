"""boomnet.book.OrderBook against a naive model (a dict of Decimals, sorted on every read)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.book import ASK, BID, OrderBook, scaled_parser
from boomnet.errors import InvalidMessage


class Naive:
    """The obviously-correct book: {Decimal price: Decimal qty} per side."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[Decimal, Decimal]] = {BID: {}, ASK: {}}

    def apply(self, side: str, levels: list[tuple[str, str]]) -> None:
        for p, q in levels:
            if Decimal(q) == 0:
                self.sides[side].pop(Decimal(p), None)
            else:
                self.sides[side][Decimal(p)] = Decimal(q)

    def top(self, n: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = sorted(self.sides[BID].items(), reverse=True)[:n]
        asks = sorted(self.sides[ASK].items())[:n]
        return bids, asks


prices = st.integers(1, 60).map(lambda i: f"{100 + i / 4:.2f}")  # a few dozen ticks: many collisions
qtys = st.sampled_from(["0", "0.00000000", "1", "2.5", "0.00000001", "10.12345678", "3."])
levels = st.lists(st.tuples(prices, qtys), max_size=12)


def as_decimal(book: OrderBook, side: list) -> list[tuple[Decimal, Decimal]]:
    return [(book.to_decimal(p), book.to_decimal(q, qty=True)) for p, q in side]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(levels, levels), min_size=1, max_size=15), st.sampled_from([8, None]), st.booleans())
def test_batches_match_the_naive_model(batches: list, scale: int | None, checked: bool) -> None:
    book, model = OrderBook(price_scale=scale, qty_scale=scale, checked=checked), Naive()
    for i, (bids, asks) in enumerate(batches):
        book.apply(bids, asks, update_id=i)
        model.apply(BID, bids)
        model.apply(ASK, asks)
        want_bids, want_asks = model.top(5)
        got_bids, got_asks = book.top(5)
        assert as_decimal(book, got_bids) == want_bids and as_decimal(book, got_asks) == want_asks
        assert book.levels() == (len(model.sides[BID]), len(model.sides[ASK]))
        best_bid, best_ask = book.best_bid(), book.best_ask()
        assert (best_bid and as_decimal(book, [best_bid])[0]) == (want_bids[0] if want_bids else None)
        assert (best_ask and as_decimal(book, [best_ask])[0]) == (want_asks[0] if want_asks else None)
        assert book.crossed == bool(want_bids and want_asks and want_bids[0][0] >= want_asks[0][0])
        for p, _ in bids[:3]:
            assert book.to_decimal(book.depth_at(BID, p), qty=True) == model.sides[BID].get(Decimal(p), 0)
        assert book.update_id == i


def test_snapshot_best_spread_depth_and_crossed() -> None:
    book = OrderBook(price_scale=8, qty_scale=8)
    book.reset([("25.35190000", "31.21"), ("25.34", "1")], [("25.36520000", "40.66")], update_id=160)
    assert book.best_bid() == (2535190000, 3121000000) and book.best_ask() == (2536520000, 4066000000)
    assert book.to_decimal(book.spread() or 0) == Decimal("0.01330000")
    assert book.depth_at(BID, "25.34") == 100000000 and book.depth_at(ASK, "25.34") == 0
    assert not book.crossed and book.update_id == 160
    book.apply(bids=[("25.3652", "1")])  # a bid at the ask
    assert book.crossed
    book.apply(bids=[("25.3652", "0")])
    assert not book.crossed and book.levels() == (2, 1)
    book.apply(asks=[("99", "0")])  # removing an absent level is a no-op
    assert book.levels() == (2, 1)


@pytest.mark.parametrize("bad", ["1e5", "-1", " 1", "+1", "1_0", ".", "", "\u0661", "1.000000001", "NaN", "inf"])
def test_anything_but_a_plain_decimal_is_refused_before_the_book_changes(bad: str) -> None:
    for scale in (8, None):
        if scale is None and bad == "1.000000001":
            continue  # Decimal keeps any precision: that one is valid there
        book = OrderBook(price_scale=scale, qty_scale=scale)
        book.reset([("1", "1")], [("2", "1")], 1)
        before = book.side(BID)
        with pytest.raises(InvalidMessage):
            book.apply(bids=[("1.5", "1"), (bad, "1")])
        with pytest.raises(InvalidMessage):
            book.apply(bids=[("1.5", bad)])
        assert book.side(BID) == before  # nothing of the refused batch was applied


def test_scaled_parser_is_exact_and_refuses_lost_precision() -> None:
    units = scaled_parser(8)
    assert units("25.35190000") == 2535190000 and units("25.3519") == 2535190000 and units("7") == 700000000
    assert units(".5") == 50000000 and units("5.") == 500000000 and units("0.000000010") == 1
    with pytest.raises(InvalidMessage):
        units("0.000000011")
    with pytest.raises(ValueError):
        scaled_parser(19)
