"""Two supervised workers fed by the embedded exchange publish onto NATS; one is killed and
restarted; the consumer sees a marked restart, never silence; shards never overlap."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from boomnet.bus import Envelope, RecordConsumer
from boomnet.cluster import Cluster, keys_for, shard_of
from boomnet.errors import LocalError
from boomnet.service import IOService
from endpoints.binance import Trade
from boomnet.testing.binance import Exchange

from .cluster_workers import build_binance_worker
from .conftest import NatsServer

SYMBOLS = ["btcusdt", "ethusdt", "xrpusdt", "solusdt", "bnbusdt", "adausdt"]


def test_sharding_is_stable_and_complete() -> None:
    assert shard_of("btcusdt", 4) == shard_of("btcusdt", 4)  # no per-process salt: crc32
    owners = [keys_for(SYMBOLS, s, 3) for s in range(3)]
    assert sorted(k for keys in owners for k in keys) == sorted(SYMBOLS)
    with pytest.raises(LocalError):
        Cluster(lambda w: [], keys=SYMBOLS, workers=1)  # a lambda cannot be spawned
    with pytest.raises(LocalError):
        Cluster(build_binance_worker, keys=SYMBOLS, workers=1, idle=0)


class Count(RecordConsumer):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.by_publisher: dict[str, set[str]] = {}
        self.epochs: dict[str, set[int]] = {}

    def on_record(self, kind: str, record: Any, env: Envelope, ctx: Any) -> None:
        assert isinstance(record, Trade)
        self.by_publisher.setdefault(env.publisher, set()).add(env.symbol)
        self.epochs.setdefault(env.publisher, set()).add(env.epoch)


def test_a_killed_worker_is_restarted_and_its_gap_is_marked(nats_server: NatsServer) -> None:
    io = IOService()
    consumer = Count([nats_server.url], {"trade": Trade}, "md.sim.>")
    io.register(consumer)
    with Exchange(rate=50, burst_every=0, seed=5) as ex:
        # idle: the workers sleep in epoll between trades (two busy loops would take both cores)
        cluster = Cluster(build_binance_worker, keys=SYMBOLS, workers=2, cpus=[0, 1], restart_delay=0.2, idle=0.001,
                          options={"nats": nats_server.url, "url": ex.url, "ca_file": ex.ca_file})
        try:
            cluster.start()

            def run_until(cond: Any, timeout: float, what: str) -> None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    io.poll()
                    cluster.supervise()
                    if cond():
                        return
                    time.sleep(0.0005)
                raise AssertionError(f"{what} not reached within {timeout}s")

            run_until(lambda: len(consumer.by_publisher) == 2, 30, "records from both workers")
            # each symbol is owned by exactly one worker
            owned = consumer.by_publisher
            assert not owned["worker-0"] & owned.get("worker-1", set())
            victim = cluster.slots[0].process.pid
            os.kill(victim, signal.SIGKILL)
            run_until(lambda: consumer.gaps.restarts >= 1, 30, "restart marked at the consumer")
            assert cluster.restarts == 1 and cluster.pids()[0] != victim
            assert len(consumer.epochs["worker-0"]) == 2
            before = consumer.records
            run_until(lambda: consumer.records > before + 20, 10, "records after the restart")
        finally:
            cluster.stop()
            io.close()
    assert all(not s.process.is_alive() for s in cluster.slots)
