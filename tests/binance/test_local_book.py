"""The Binance local-book procedure, rule by rule (sans-I/O: LocalBook fed diffs and snapshots),
then a property: under random gaps, duplicates and stale snapshots a LIVE book always equals the
true book at its update id (the true book is computed here from the events, independently)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from endpoints.binance import DepthUpdate, PartialDepth
from endpoints.binance_sync import BookState, LocalBook


def diff(first: int, last: int, bids: list | None = None, asks: list | None = None) -> DepthUpdate:
    return DepthUpdate("BNBBTC", 1, first, last, bids if bids is not None else [("1.0", str(last))], asks or [])


def snap(last: int, bids: list | None = None, asks: list | None = None) -> PartialDepth:
    return PartialDepth(last, bids if bids is not None else [("1.0", "5"), ("0.9", "1")], asks or [("2.0", "1")])


def qty(local: LocalBook, price: str) -> int:
    return int(local.book.depth_at("bid", price))


def test_buffer_until_the_snapshot_drop_covered_diffs_then_apply_in_order() -> None:
    local = LocalBook("bnbbtc")
    assert local.state is BookState.SYNCING and not local.wants_snapshot  # no diff yet: first U unknown
    for d in (diff(100, 105), diff(106, 110), diff(111, 115)):
        local.on_diff(d)
    assert local.wants_snapshot
    local.snapshot_requested()
    assert not local.wants_snapshot  # one request at a time
    assert local.on_snapshot(snap(107))  # 100-105 dropped (u <= 107), 106-110 straddles 108
    assert local.state is BookState.LIVE and local.book.update_id == 115 and local.applied == 2
    assert qty(local, "1.0") == 115 * 10**8 and qty(local, "0.9") == 10**8
    assert local.on_diff(diff(116, 120)) and local.book.update_id == 120
    assert local.resyncs == 0


def test_a_stale_snapshot_is_fetched_again() -> None:
    local = LocalBook("bnbbtc")
    local.on_diff(diff(100, 105))
    local.snapshot_requested()
    assert not local.on_snapshot(snap(99))  # lastUpdateId < first buffered U
    assert local.stale_snapshots == 1 and local.wants_snapshot and local.state is BookState.SYNCING
    local.snapshot_requested()
    assert local.on_snapshot(snap(102)) and local.book.update_id == 105


def test_the_first_diff_after_the_snapshot_must_straddle_it() -> None:
    local = LocalBook("bnbbtc")
    local.on_diff(diff(100, 105))
    local.snapshot_requested()
    assert local.on_snapshot(snap(110))  # everything buffered is covered: live at 110, waiting
    assert local.book.update_id == 110
    assert not local.on_diff(diff(113, 115))  # 111 missing: does not straddle 111
    assert local.state is BookState.RESYNCING and local.resyncs == 1 and local.wants_snapshot
    local.snapshot_requested()
    assert local.on_snapshot(snap(114)) and local.book.update_id == 115


def test_a_hole_between_snapshot_and_buffer_is_a_resync() -> None:
    local = LocalBook("bnbbtc")
    local.on_diff(diff(100, 105))
    local.on_diff(diff(109, 112))  # 106-108 never arrived
    local.snapshot_requested()
    assert not local.on_snapshot(snap(106))
    assert local.state is BookState.RESYNCING and local.resyncs == 1 and local.buffered == 1
    local.snapshot_requested()
    assert local.on_snapshot(snap(110)) and local.book.update_id == 112


def test_gaps_resync_duplicates_are_dropped() -> None:
    local = LocalBook("bnbbtc")
    local.on_diff(diff(100, 105))
    local.snapshot_requested()
    local.on_snapshot(snap(101))
    assert not local.on_diff(diff(102, 105)) and local.dropped == 1  # a duplicate: u <= id
    assert not local.on_diff(diff(104, 106))  # overlaps but does not follow: U != id + 1
    assert local.state is BookState.RESYNCING and local.resyncs == 1
    assert local.book.update_id is None and local.book.levels() == (0, 0)  # discarded, not patched


def test_a_crossed_book_is_a_resync() -> None:
    local = LocalBook("bnbbtc")
    local.on_diff(diff(100, 101))
    local.snapshot_requested()
    local.on_snapshot(snap(100))
    assert not local.on_diff(diff(102, 102, bids=[("2.5", "1")]))  # a bid above the 2.0 ask
    assert local.state is BookState.RESYNCING and "crossed" in local.last_resync_reason


def test_a_failed_snapshot_is_asked_for_again_and_the_buffer_is_bounded() -> None:
    local = LocalBook("bnbbtc", max_buffer=3)
    local.on_diff(diff(1, 1))
    local.snapshot_requested()
    local.snapshot_failed()
    assert local.wants_snapshot
    for i in range(2, 6):
        local.on_diff(diff(i, i))
    assert local.resyncs == 1 and local.buffered <= 3  # overflow: start over, keep buffering


# --- property: whatever the faults, a LIVE book is the true book at its id ------------------------

PRICES = [f"{p}.0" for p in range(10, 30)]  # bids 10..19, asks 20..29: never crossed


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[tuple[str, str, str]]], list[int], list[str]]:
    """Events (each a few level changes), how they group into diffs, and a fault per diff."""
    n = draw(st.integers(5, 40))
    events = [draw(st.lists(st.tuples(st.sampled_from(["b", "a"]), st.integers(0, 9).map(str),
                                      st.sampled_from(["0", "1", "2.5", "7"])), min_size=1, max_size=4))
              for _ in range(n)]
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=n // 2))))
    faults = draw(st.lists(st.sampled_from(["ok", "ok", "ok", "drop", "dup", "stale"]), min_size=len(cuts) + 1,
                           max_size=len(cuts) + 1))
    return events, cuts, faults


def true_books(events: list[list[tuple[str, str, str]]], first_id: int) -> dict[int, dict[str, dict[Decimal, Decimal]]]:
    book: dict[str, dict[Decimal, Decimal]] = {"b": {Decimal("15"): Decimal(1)}, "a": {Decimal("25"): Decimal(1)}}
    out = {first_id - 1: {s: dict(v) for s, v in book.items()}}
    for i, changes in enumerate(events):
        for side, k, q in changes:
            price = Decimal(PRICES[int(k) + (10 if side == "a" else 0)])
            if Decimal(q) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = Decimal(q)
        out[first_id + i] = {s: dict(v) for s, v in book.items()}
    return out


def level_strings(levels: dict[Decimal, Decimal]) -> list[tuple[str, str]]:
    return [(str(p), str(q)) for p, q in levels.items()]


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_live_book_is_always_the_true_book_whatever_the_faults(case: tuple) -> None:
    events, cuts, faults = case
    first = 1000
    truth = true_books(events, first)
    bounds = [0, *cuts, len(events)]
    local = LocalBook("bnbbtc", max_buffer=8)
    for (lo, hi), fault in zip(zip(bounds, bounds[1:], strict=False), faults, strict=True):
        changed: dict[tuple[str, Decimal], Decimal] = {}
        for changes in events[lo:hi]:
            for side, k, q in changes:
                changed[(side, Decimal(PRICES[int(k) + (10 if side == "a" else 0)]))] = Decimal(q)
        d = DepthUpdate("BNBBTC", 1, first + lo, first + hi - 1,
                        [(str(p), str(q)) for (s, p), q in changed.items() if s == "b"],
                        [(str(p), str(q)) for (s, p), q in changed.items() if s == "a"])
        for _ in range({"ok": 1, "stale": 1, "drop": 0, "dup": 2}[fault]):
            local.on_diff(d)
        if local.wants_snapshot:  # the exchange answers with its book now, or a stale one
            local.snapshot_requested()
            at = first + hi - 1 if fault != "stale" else first - 1 + lo // 2
            local.on_snapshot(PartialDepth(at, level_strings(truth[at]["b"]), level_strings(truth[at]["a"])))
        if local.state is BookState.LIVE:
            want = truth[local.book.update_id]  # type: ignore[index]
            for side, name in (("b", "bid"), ("a", "ask")):
                got = {local.book.to_decimal(p): local.book.to_decimal(q, qty=True)
                       for p, q in local.book.side(name).items()}
                assert got == want[side], (side, local.book.update_id)
    if faults[-1] == "ok":  # a clean last diff, and a fresh snapshot whenever one was asked for
        assert local.state is BookState.LIVE
