"""One symbol's local order book kept the way Binance documents it (sans-I/O state machine).

The rules followed (Binance spot, "How to manage a local order book correctly"):

1. Open ``<symbol>@depth`` (or ``@depth@100ms``) and buffer its events; note the first ``U``.
2. Fetch the REST snapshot ``GET /api/v3/depth?symbol=<SYMBOL>&limit=<N>`` (weight grows with
   N: 1-100 -> 5, 101-500 -> 25, 501-1000 -> 50, 1001-5000 -> 250).
3. If the snapshot's ``lastUpdateId`` is below the first buffered ``U``, it is stale: fetch again.
4. Drop buffered events with ``u <= lastUpdateId``.
5. The first event applied must straddle the snapshot: ``U <= lastUpdateId + 1 <= u``
   (if the buffer emptied at 4, the next event that arrives must).
6. Then every event must follow the previous one: ``U == previous u + 1``. An event with
   ``u <=`` the book's id is a duplicate or stale and is dropped; any other break is a gap.
7. Each level's quantity is set; quantity ``"0"`` removes the level. The book's id becomes ``u``.

On a gap, a crossed book after an update, an overflowing buffer or a lost connection, the book
is discarded and the symbol restarts at 1 (:attr:`BookState.RESYNCING`, ``resyncs`` + 1); the
other symbols are untouched. States: SYNCING (first sync) -> LIVE -> RESYNCING -> LIVE ...

:class:`LocalBook` does no I/O: the endpoint feeds it diffs and snapshots and asks
:attr:`LocalBook.wants_snapshot` when to fetch one.
"""

from __future__ import annotations

import enum
import logging

from boomnet.book import OrderBook

from .binance_records import DepthUpdate, PartialDepth

__all__ = ["BookState", "LocalBook", "DEFAULT_MAX_BUFFER"]

log = logging.getLogger("endpoints.binance.book")

#: buffered diffs per symbol while a snapshot is awaited (10 s of @depth@100ms is 100)
DEFAULT_MAX_BUFFER = 1000


class BookState(enum.Enum):
    SYNCING = "syncing"  # first synchronisation: buffering, waiting for a snapshot
    LIVE = "live"  # the book follows the stream
    RESYNCING = "resyncing"  # the book broke (gap, crossed, reconnect): synchronising again


class LocalBook:
    """One symbol's book and its synchronisation state (see module docstring)."""

    def __init__(self, symbol: str, *, price_scale: int | None = 8, qty_scale: int | None = 8,
                 max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.symbol = symbol.upper()
        # checked=False: every level string was validated as a plain decimal by the record decoder
        self.book = OrderBook(price_scale=price_scale, qty_scale=qty_scale, checked=False)
        self.state = BookState.SYNCING
        #: times the book was discarded and synchronised again
        self.resyncs = 0
        #: why the last resync happened
        self.last_resync_reason = ""
        #: snapshots refused as stale (``lastUpdateId`` below the first buffered ``U``)
        self.stale_snapshots = 0
        #: diffs dropped as duplicates or already covered (``u`` <= the book's id)
        self.dropped = 0
        #: diffs applied
        self.applied = 0
        self.max_buffer = max_buffer
        self._buffer: list[DepthUpdate] = []
        self._straddle = False  # the next applied diff must straddle the snapshot id
        self._in_flight = False  # a snapshot request is out

    # --- what the endpoint asks -----------------------------------------------------------------

    @property
    def wants_snapshot(self) -> bool:
        """Fetch a snapshot now: not live, diffs buffered (so the first ``U`` is known), none out."""
        return self.state is not BookState.LIVE and bool(self._buffer) and not self._in_flight

    @property
    def buffered(self) -> int:
        """Diffs waiting for a snapshot."""
        return len(self._buffer)

    def snapshot_requested(self) -> None:
        self._in_flight = True

    def snapshot_failed(self) -> None:
        """The request failed (network, status, malformed body): ask again later."""
        self._in_flight = False

    # --- inputs ---------------------------------------------------------------------------------

    def on_diff(self, diff: DepthUpdate) -> bool:
        """Feed one ``@depth`` event; ``True`` when it changed the live book."""
        if self.state is not BookState.LIVE:
            if len(self._buffer) >= self.max_buffer:
                self.restart(f"more than {self.max_buffer} diffs buffered before a snapshot arrived")
            self._buffer.append(diff)
            return False
        book_id = self.book.update_id
        assert book_id is not None  # LIVE implies a snapshot was applied
        if diff.final_update_id <= book_id:
            self.dropped += 1  # a duplicate, or covered by the snapshot
            return False
        return self._apply(diff)

    def on_snapshot(self, snapshot: PartialDepth) -> bool:
        """Feed the REST snapshot; ``True`` when the book went live."""
        self._in_flight = False
        if self.state is BookState.LIVE or not self._buffer:
            return False  # an answer to a request overtaken by events; a later one is coming
        last = snapshot.last_update_id
        if last < self._buffer[0].first_update_id:
            self.stale_snapshots += 1  # older than the stream we buffered: fetch again
            return False
        pending = [d for d in self._buffer if d.final_update_id > last]
        if pending and not pending[0].first_update_id <= last + 1:
            # The snapshot is newer than what we buffered, but the stream has a hole after it.
            self.restart(f"gap after snapshot {last}: first diff U={pending[0].first_update_id}")
            self._buffer = pending  # keep what came after the hole; the next snapshot covers it
            return False
        self._buffer = []
        self.book.reset(snapshot.bids, snapshot.asks, last)
        self.state = BookState.LIVE
        self._straddle = True
        for i, diff in enumerate(pending):
            if not self._apply(diff) and self.state is not BookState.LIVE:
                self._buffer.extend(pending[i + 1:])  # restart() kept the failing diff; keep the rest
                return False
        if self.book.crossed:
            self.restart("crossed book from the snapshot")
            return False
        log.info("%s book live at id %s (%d levels)", self.symbol, self.book.update_id, sum(self.book.levels()))
        return True

    def restart(self, reason: str) -> None:
        """Discard the book and synchronise again (a gap, a crossed book, a lost connection)."""
        self.resyncs += 1
        self.state = BookState.RESYNCING
        self.last_resync_reason = reason
        log.warning("%s book resync: %s", self.symbol, reason)
        self.book.clear()
        self._buffer = []
        self._straddle = False

    # --- internals ------------------------------------------------------------------------------

    def _apply(self, diff: DepthUpdate) -> bool:
        book_id = self.book.update_id
        assert book_id is not None
        if self._straddle:
            if not diff.first_update_id <= book_id + 1 <= diff.final_update_id:
                self.restart(f"gap: first diff U={diff.first_update_id} u={diff.final_update_id} does not straddle {book_id + 1}")
                self._buffer.append(diff)
                return False
            self._straddle = False
        elif diff.first_update_id != book_id + 1:
            self.restart(f"gap: diff U={diff.first_update_id} after book id {book_id}")
            self._buffer.append(diff)
            return False
        self.book.apply(diff.bids, diff.asks, diff.final_update_id)
        self.applied += 1
        if self.book.crossed:
            self.restart(f"crossed book after diff u={diff.final_update_id}")
            return False
        return True

    def __repr__(self) -> str:
        return f"<LocalBook {self.symbol} {self.state.value} id={self.book.update_id} resyncs={self.resyncs}>"
