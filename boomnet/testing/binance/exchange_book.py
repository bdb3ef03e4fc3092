"""The embedded exchange's order-book side: the REST depth snapshot and the book faults.

A mixin of :class:`boomnet.testing.binance.exchange.Exchange` (which owns the markets, the event loop and
``_call``). ``GET /api/v3/depth?symbol=BTCUSDT&limit=N`` answers from the symbol's full book, on
the exchange's loop thread, so a snapshot is always consistent with the ``@depth`` diffs sent
before it; bad parameters get Binance's error shape (``{"code":..,"msg":..}``).
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import orjson

from .market import SymbolMarket

__all__ = ["BookSide"]


class BookSide:
    """REST snapshots and depth faults (mixed into Exchange)."""

    _drop: dict[str, int]
    _dup: dict[str, int]
    _stale: dict[str, tuple[int, dict[str, Any]] | None]
    faults_applied: list[tuple[str, str]]
    snapshots_served: dict[str, int]

    def _init_book_side(self) -> None:
        self._drop = {}  # stream -> diffs still to drop
        self._dup = {}  # stream -> diffs still to send twice
        self._stale = {}  # symbol -> (count, frozen snapshot)
        #: (stream, "gap" | "duplicate") for every injected depth fault that took effect
        self.faults_applied = []
        #: REST depth snapshots answered, per lowercase symbol
        self.snapshots_served = {}

    def _market(self, name: str) -> SymbolMarket:  # provided by Exchange
        raise NotImplementedError

    def _call(self, fn: Callable[[], Any]) -> Any:  # provided by Exchange
        raise NotImplementedError

    def _rest(self, connection: Any, path: str) -> Any:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path != "/api/v3/depth":
            return _json_response(connection, 404, {"code": -1, "msg": f"no such endpoint {parts.path}"})
        symbol = query.get("symbol", "")
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not symbol.isalnum() or not symbol.isupper() or not 1 <= limit <= 5000:
            return _json_response(connection, 400, {"code": -1100, "msg": f"Illegal parameters in {parts.query!r}"})
        name = symbol.lower()
        market = self._market(name)
        self.snapshots_served[name] = self.snapshots_served.get(name, 0) + 1
        stale = self._stale.get(name)
        if stale:
            self._stale[name] = (stale[0] - 1, stale[1]) if stale[0] > 1 else None
            return _json_response(connection, 200, stale[1])
        return _json_response(connection, 200, market.snapshot(limit))

    def _diff_copies(self, stream: str) -> int:
        """How many times this diff goes out: 1, 0 (a gap fault) or 2 (a duplicate fault)."""
        for faults, copies in ((self._drop, 0), (self._dup, 2)):
            left = faults.get(stream, 0)
            if left:
                faults[stream] = left - 1
                self.faults_applied.append((stream, "gap" if copies == 0 else "duplicate"))
                return copies
        return 1

    # --- book faults and observation (any thread) ----------------------------------------------

    def drop_diffs(self, stream: str, count: int = 1) -> None:
        """The next ``count`` diffs of ``stream`` (``"btcusdt@depth@100ms"``) are generated — the
        book moves on — but not sent: a gap in the update ids."""
        self._call(lambda: self._drop.__setitem__(stream, self._drop.get(stream, 0) + count))

    def duplicate_diffs(self, stream: str, count: int = 1) -> None:
        """The next ``count`` diffs of ``stream`` are sent twice."""
        self._call(lambda: self._dup.__setitem__(stream, self._dup.get(stream, 0) + count))

    def stale_snapshots(self, symbol: str, count: int = 1) -> int:
        """The next ``count`` REST snapshots of ``symbol`` are the book as it is *now* (older than
        the stream by the time they are asked for). Returns that snapshot's ``lastUpdateId``."""
        def freeze() -> int:
            snap = self._market(symbol.lower()).snapshot(5000)
            self._stale[symbol.lower()] = (count, snap)
            return int(snap["lastUpdateId"])

        return int(self._call(freeze))

    def book(self, symbol: str) -> dict[str, Any]:
        """The symbol's whole book now, as the REST snapshot shape (consistent: taken on the loop)."""
        return dict(self._call(lambda: self._market(symbol.lower()).snapshot(5000)))


def _json_response(connection: Any, status: int, body: Any) -> Any:
    response = connection.respond(status, orjson.dumps(body).decode())
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
