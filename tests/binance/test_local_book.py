"""The Binance local-book procedure, rule by rule (sans-I/O: LocalBook fed diffs and snapshots)."""

from __future__ import annotations

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
