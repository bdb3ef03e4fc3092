"""Local Binance order books on one IOService: ``@depth`` diffs over WebSocket, snapshots over HTTP.

    io = IOService(EpollSelector())
    rest = DepthSnapshots(LIVE_REST_URL)                       # boomnet.http, same service
    books = BinanceBooks(["btcusdt", "ethusdt"], base_url=LIVE_URL, snapshots=rest)
    io.register(rest)
    io.register(books)
    ...
    local = books.books["BTCUSDT"]      # .state (SYNCING / LIVE / RESYNCING), .resyncs, .book
    local.book.best_bid(), local.book.top(10)

Each symbol follows Binance's documented procedure (the rules are listed in
:mod:`endpoints.binance_sync`): diffs are buffered until a REST snapshot arrives, applied after
it with their update ids checked, and on any gap (or crossed book, or lost connection) that
symbol alone is discarded and synchronised again; the other symbols keep flowing.
Override :meth:`BinanceBooks.on_book` (an update was applied) and
:meth:`BinanceBooks.on_book_state` (a symbol changed state).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from boomnet.errors import VenueMessageError
from boomnet.http import HttpEndpoint, Response
from boomnet.service import Disconnect
from boomnet.stream import TlsOptions

from .binance import BinanceEndpoint
from .binance_checks import first_bad
from .binance_decoder import DECODE_ERRORS
from .binance_records import DepthUpdate, PartialDepth
from .binance_sync import DEFAULT_MAX_BUFFER, BookState, LocalBook

__all__ = ["BinanceBooks", "DepthSnapshots", "LIVE_REST_URL", "LIVE_REST_DATA_URL", "BookState", "LocalBook"]

log = logging.getLogger("endpoints.binance.book")

#: Binance spot REST (production)
LIVE_REST_URL = "https://api.binance.com"
#: Binance's market-data-only REST host (production)
LIVE_REST_DATA_URL = "https://data-api.binance.vision"

_SNAPSHOT = msgspec.json.Decoder(PartialDepth, strict=True)


class DepthSnapshots(HttpEndpoint):  # type: ignore[misc,valid-type]  # boomnet.http's lazy export types it as object
    """REST depth snapshots (``GET /api/v3/depth``) as an IOService endpoint (keep-alive HTTP).

    ``base_url`` is required, as for the stream endpoint: :data:`LIVE_REST_URL` for production.
    ``ca_file``: trust this CA (a local exchange); or pass ``tls=TlsOptions(...)``. Other keywords
    go to :class:`~boomnet.http.HttpEndpoint` (``request_timeout``, ``backoff``, ...).
    """

    def __init__(self, base_url: str, *, ca_file: str | None = None, tls: TlsOptions | None = None,
                 **http_options: Any) -> None:
        if ca_file is not None:
            tls = (tls or TlsOptions()).replace(ca_file=ca_file)
        http_options.setdefault("request_timeout", 10.0)
        super().__init__(base_url, tls=tls, **http_options)
        #: snapshots asked for, answered, failed
        self.requested = self.answered = self.failed = 0

    def fetch(self, symbol: str, limit: int, on_snapshot: Callable[[PartialDepth], Any],
              on_error: Callable[[BaseException], Any]) -> None:
        """Ask for ``symbol``'s snapshot; exactly one of the callbacks runs (on the loop thread)."""
        if not 1 <= limit <= 5000:
            raise ValueError(f"Binance depth limit must be 1..5000, not {limit!r}")
        self.requested += 1

        def failed(exc: BaseException) -> None:
            self.failed += 1
            on_error(exc)

        def answered(response: Response) -> None:
            if response.status != 200:
                failed(VenueMessageError(f"depth snapshot for {symbol}: HTTP {response.status} {response.body[:200]!r}"))
                return
            try:
                snapshot = _SNAPSHOT.decode(response.body)
            except DECODE_ERRORS as exc:
                failed(VenueMessageError(f"depth snapshot for {symbol} is malformed: {exc}"))
                return
            if first_bad((snapshot,)) >= 0:
                failed(VenueMessageError(f"depth snapshot for {symbol} has a level that is not a pair of decimal strings"))
                return
            self.answered += 1
            on_snapshot(snapshot)

        self.get(f"/api/v3/depth?symbol={symbol}&limit={limit}", on_response=answered, on_error=failed)


class BinanceBooks(BinanceEndpoint):
    """Local books for ``symbols`` from ``<symbol>@depth@100ms`` plus ``snapshots`` (module docstring).

    ``speed``: ``"@100ms"`` or ``""`` (1000 ms diffs). ``limit``: snapshot depth (Binance weight
    grows with it). ``price_scale`` / ``qty_scale``: the books' scaled-integer precision
    (``None``: ``Decimal``). Other keywords as for :class:`~endpoints.binance.BinanceEndpoint`.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        base_url: str,
        snapshots: DepthSnapshots,
        speed: str = "@100ms",
        limit: int = 1000,
        price_scale: int | None = 8,
        qty_scale: int | None = 8,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        retry_interval: float = 0.25,
        **options: Any,
    ) -> None:
        if speed not in ("@100ms", ""):
            raise ValueError(f"speed must be '@100ms' or '', not {speed!r}")
        if not 1 <= limit <= 5000:
            raise ValueError(f"Binance depth limit must be 1..5000, not {limit!r}")
        names = [s.lower() for s in symbols]
        super().__init__([f"{s}@depth{speed}" for s in names], base_url=base_url, **options)
        self.snapshots = snapshots
        self.limit = limit
        #: the local book per (upper-case) symbol
        self.books = {s.upper(): LocalBook(s, price_scale=price_scale, qty_scale=qty_scale, max_buffer=max_buffer)
                      for s in names}
        # failed or stale snapshots are asked for again on this timer, not in a tight loop
        self.every(retry_interval, self._retry_snapshots)

    # --- hooks (override) -----------------------------------------------------------------------

    def on_book(self, local: LocalBook, ctx: Any) -> None:
        """``local.book`` changed (a diff applied, or a snapshot made it live)."""

    def on_book_state(self, local: LocalBook, previous: BookState, ctx: Any) -> None:
        """``local.state`` changed from ``previous`` (e.g. LIVE -> RESYNCING on a gap)."""
        log.info("%s book %s -> %s (resyncs %d)", local.symbol, previous.value, local.state.value, local.resyncs)

    # --- wiring ---------------------------------------------------------------------------------

    def on_depth(self, update: DepthUpdate, ctx: Any) -> None:
        local = self.books.get(update.symbol)
        if local is None:
            return
        state = local.state
        changed = local.on_diff(update)
        if local.wants_snapshot:
            self._fetch(local, ctx)
        if local.state is not state:
            self.on_book_state(local, state, ctx)
        if changed:
            self.on_book(local, ctx)

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        """Diffs are lost with the connection: every live book synchronises again."""
        for local in self.books.values():
            state = local.state
            if state is BookState.LIVE or local.buffered:
                local.restart(f"connection lost ({reason.kind.value})")
                if local.state is not state:
                    self.on_book_state(local, state, ctx)
        return super().on_disconnect(reason, ctx)

    def _fetch(self, local: LocalBook, ctx: Any) -> None:
        local.snapshot_requested()

        def on_snapshot(snapshot: PartialDepth) -> None:
            state = local.state
            live = local.on_snapshot(snapshot)
            if local.state is not state:
                self.on_book_state(local, state, ctx)
            if live:
                self.on_book(local, ctx)

        def on_error(exc: BaseException) -> None:
            log.warning("%s depth snapshot failed: %s", local.symbol, exc)
            local.snapshot_failed()

        self.snapshots.fetch(local.symbol, self.limit, on_snapshot, on_error)

    def _retry_snapshots(self, ws: Any, ctx: Any) -> None:
        for local in self.books.values():
            if local.wants_snapshot:
                self._fetch(local, ctx)
