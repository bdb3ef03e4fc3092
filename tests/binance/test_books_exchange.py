"""Local books against the embedded exchange: after every injected fault the book equals the exchange's.

Real TLS on loopback: diffs over the WebSocket endpoint, snapshots over boomnet.http on the same
IOService. The comparison is in ``Decimal`` from the exchange's own strings (its book, read on its
loop thread), against the local book's scaled integers converted back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from boomnet.service import EpollSelector, IOService
from endpoints.binance_book import BinanceBooks, BookState, DepthSnapshots, LocalBook
from boomnet.testing.binance.exchange import Exchange

from .helpers import FAST_BACKOFF, run_until

SYMBOLS = ["btcusdt", "ethusdt"]


class Feed(BinanceBooks):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.transitions: list[tuple[str, BookState, BookState]] = []

    def on_book_state(self, local: LocalBook, previous: BookState, ctx: object) -> None:
        self.transitions.append((local.symbol, previous, local.state))


@pytest.fixture
def setup() -> Iterator[tuple[Exchange, IOService, Feed]]:
    with Exchange(rate=150, seed=11, burst_every=0) as ex, IOService(EpollSelector()) as io:
        rest = DepthSnapshots(ex.url.replace("wss://", "https://"), ca_file=ex.ca_file, backoff=FAST_BACKOFF)
        feed = Feed(SYMBOLS, base_url=ex.url, ca_file=ex.ca_file, snapshots=rest, backoff=FAST_BACKOFF,
                    retry_interval=0.05)
        io.register(rest)
        io.register(feed)
        run_until(io, lambda: all(b.state is BookState.LIVE for b in feed.books.values()))
        yield ex, io, feed


def exchange_side(levels: list[list[str]]) -> dict[Decimal, Decimal]:
    return {Decimal(p): Decimal(q) for p, q in levels}


def local_side(local: LocalBook, side: str) -> dict[Decimal, Decimal]:
    book = local.book
    return {book.to_decimal(p): book.to_decimal(q, qty=True) for p, q in book.side(side).items()}


def assert_books_equal(ex: Exchange, io: IOService, feed: Feed) -> None:
    """Pause the market; once every local book reached the exchange's last update id, the two
    books must be the same, level by level. Then the market resumes."""
    ex.paused = True
    try:
        for symbol in SYMBOLS:
            local = feed.books[symbol.upper()]
            want: dict = {}

            def caught_up(local: LocalBook = local, symbol: str = symbol, want: dict = want) -> bool:
                want.update(ex.book(symbol))
                return local.state is BookState.LIVE and local.book.update_id == want["lastUpdateId"]

            run_until(io, caught_up)
            assert local_side(local, "bid") == exchange_side(want["bids"])
            assert local_side(local, "ask") == exchange_side(want["asks"])
            assert not local.book.crossed and sum(local.book.levels()) > 20
    finally:
        ex.paused = False


def advance(io: IOService, feed: Feed, n: int = 5) -> None:
    """Let each book apply ``n`` more diffs."""
    target = {s: b.applied + n for s, b in feed.books.items()}
    run_until(io, lambda: all(b.applied >= target[s] for s, b in feed.books.items()))


def test_initial_sync_equals_the_exchange(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    advance(io, feed)
    assert_books_equal(ex, io, feed)
    assert all(b.resyncs == 0 for b in feed.books.values())
    assert feed.snapshots.answered >= 2 and feed.snapshots.failed == 0
    assert {(s, a, b) for s, a, b in feed.transitions} == {(s.upper(), BookState.SYNCING, BookState.LIVE) for s in SYMBOLS}


def test_a_gap_resyncs_that_symbol_only(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    btc, eth = feed.books["BTCUSDT"], feed.books["ETHUSDT"]
    advance(io, feed, 3)  # past the diff that straddles the snapshot: the U == previous u + 1 rule
    served = ex.snapshots_served.get("btcusdt", 0)
    ex.drop_diffs("btcusdt@depth@100ms")
    run_until(io, lambda: btc.resyncs == 1 and btc.state is BookState.LIVE)
    assert ("btcusdt@depth@100ms", "gap") in ex.faults_applied
    assert "gap" in btc.last_resync_reason and ex.snapshots_served["btcusdt"] == served + 1
    assert ("BTCUSDT", BookState.LIVE, BookState.RESYNCING) in feed.transitions
    advance(io, feed)
    assert_books_equal(ex, io, feed)
    assert eth.resyncs == 0  # the other symbol kept flowing


def test_a_duplicate_is_dropped_without_a_resync(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    btc = feed.books["BTCUSDT"]
    ex.duplicate_diffs("btcusdt@depth@100ms", count=2)
    run_until(io, lambda: btc.dropped >= 2)
    advance(io, feed)
    assert_books_equal(ex, io, feed)
    assert btc.resyncs == 0


def test_stale_snapshots_are_refused_and_fetched_again(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    btc = feed.books["BTCUSDT"]
    ex.stale_snapshots("btcusdt", count=2)  # the book as of now, served later
    advance(io, feed, 3)  # the stream moves past it
    ex.drop_diffs("btcusdt@depth@100ms")  # force a resync: it will get the stale snapshots first
    run_until(io, lambda: btc.resyncs == 1 and btc.state is BookState.LIVE)
    assert btc.stale_snapshots == 2
    advance(io, feed)
    assert_books_equal(ex, io, feed)


def test_a_dropped_connection_resyncs_every_book(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    assert ex.drop() == 1
    run_until(io, lambda: all(b.resyncs == 1 and b.state is BookState.LIVE for b in feed.books.values()))
    advance(io, feed)
    assert_books_equal(ex, io, feed)


def test_faults_in_a_row_leave_the_book_right(setup: tuple[Exchange, IOService, Feed]) -> None:
    ex, io, feed = setup
    btc = feed.books["BTCUSDT"]
    deadline = time.monotonic() + 20
    for i in range(3):
        ex.duplicate_diffs("btcusdt@depth@100ms")
        ex.drop_diffs("btcusdt@depth@100ms")
        run_until(io, lambda i=i: btc.resyncs == i + 1 and btc.state is BookState.LIVE)
        advance(io, feed, 2)
        assert_books_equal(ex, io, feed)
        assert time.monotonic() < deadline


def test_snapshot_errors_reach_on_error_as_venue_errors(setup: tuple[Exchange, IOService, Feed]) -> None:
    from boomnet.errors import VenueMessageError

    ex, io, feed = setup
    rest = feed.snapshots
    outcomes: list[object] = []
    rest.fetch("btcusdt", 100, outcomes.append, outcomes.append)  # Binance wants BTCUSDT: HTTP 400
    run_until(io, lambda: len(outcomes) == 1)
    [error] = outcomes
    assert isinstance(error, VenueMessageError) and "HTTP 400" in str(error)
    with pytest.raises(ValueError):
        rest.fetch("BTCUSDT", 5001, outcomes.append, outcomes.append)  # beyond Binance's maximum
    rest.fetch("BTCUSDT", 5, outcomes.append, outcomes.append)
    run_until(io, lambda: len(outcomes) == 2)
    snapshot = outcomes[1]
    assert len(snapshot.bids) == len(snapshot.asks) == 5 and snapshot.last_update_id > 0  # type: ignore[attr-defined]
