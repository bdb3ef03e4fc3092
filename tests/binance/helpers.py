"""Test helpers: an endpoint that keeps everything it decodes, and a bounded poll loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boomnet.service import Backoff, Disconnect, IOService
from endpoints.binance import REPLAY_URL, BinanceEndpoint

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
FAST_BACKOFF = Backoff(initial=0.05, factor=2.0, cap=0.5)


class Collector(BinanceEndpoint):
    """Keeps every decoded record, grouped by connection, plus replies and disconnect reasons."""

    def __init__(self, streams: Any = (), **options: Any):
        options.setdefault("backoff", FAST_BACKOFF)
        options.setdefault("base_url", REPLAY_URL)  # replays; live tests pass the exchange's URL
        super().__init__(streams, **options)
        self.connections: list[list[Any]] = []
        self.replies: list[tuple[Any, Any]] = []
        self.error_replies: list[tuple[Any, Any]] = []
        self.disconnects: list[Disconnect] = []

    def on_connected(self, ws: Any, ctx: Any) -> None:
        super().on_connected(ws, ctx)
        self.connections.append([])

    def _keep(self, record: Any, ctx: Any) -> None:
        self.connections[-1].append(record)

    on_trade = on_agg_trade = on_book_ticker = on_depth = on_partial_depth = on_event = _keep

    def on_reply(self, request: Any, reply: Any, ctx: Any) -> None:
        self.replies.append((request, reply))

    def on_error_reply(self, request: Any, error: Any, ctx: Any) -> None:
        self.error_replies.append((request, error))

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        self.disconnects.append(reason)
        return super().on_disconnect(reason, ctx)

    def records(self, kind: type) -> list[Any]:
        return [r for conn in self.connections for r in conn if type(r) is kind]


def run_until(service: IOService, done: Callable[[], bool], ctx: Any = None, timeout: float = 10.0) -> None:
    """Poll ``service`` until ``done()``; fail after ``timeout`` s. Sleeps a little between batches
    so an exchange thread in this process gets the GIL."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        for _ in range(20):
            service.poll(ctx)
        time.sleep(0.0005)


def replay(name: str, endpoint: BinanceEndpoint, ctx: Any = None) -> BinanceEndpoint:
    """Run ``endpoint`` over ``recordings/<name>.bnrec`` to the end (direct selector: no sockets)."""
    from boomnet.service import DirectSelector

    with IOService(DirectSelector()) as service:
        service.register(endpoint.replay(name, str(RECORDINGS)))
        run_until(service, lambda: len(service) == 0, ctx)
    return endpoint


def trade_ids_by_symbol(records: list[Any]) -> dict[str, list[int]]:
    from endpoints.binance import Trade

    out: dict[str, list[int]] = {}
    for r in records:
        if type(r) is Trade:
            out.setdefault(r.symbol, []).append(r.trade_id)
    return out
