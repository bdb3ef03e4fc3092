"""Worker builders for the cluster tests (module level: workers are spawned processes)."""

from __future__ import annotations

from typing import Any

from boomnet.bus import NatsEndpoint, RecordPublisher
from boomnet.cluster import WorkerInfo
from endpoints.binance import BinanceEndpoint


class PublishingFeed(BinanceEndpoint):
    """A Binance feed whose trades go onto the bus (the worker's whole job)."""

    def __init__(self, symbols: tuple[str, ...], publisher: RecordPublisher, **options: Any) -> None:
        super().__init__([f"{s}@trade" for s in symbols], **options)
        self.publisher = publisher
        self.count = 0

    def on_trade(self, trade: Any, ctx: Any) -> None:
        self.count += 1
        self.publisher.publish(trade.symbol.lower(), "trade", trade, exch_ns=trade.event_time * 1_000_000)

    def metrics(self) -> dict[str, int]:
        return {"trades": self.count}


def build_binance_worker(worker: WorkerInfo) -> list[Any]:
    opts = worker.options
    bus = NatsEndpoint([opts["nats"]], name=worker.name)
    publisher = RecordPublisher(bus, venue="sim", publisher=worker.name, batch=opts.get("batch", 1))
    feed = PublishingFeed(worker.keys, publisher, base_url=opts["url"], ca_file=opts["ca_file"])
    return [bus, feed]
