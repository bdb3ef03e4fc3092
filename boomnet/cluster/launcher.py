"""Scale out: N worker processes, each with its own pinned IOService and a shard of the keys,
supervised; nothing but the bus connects them.

    def build(worker: WorkerInfo) -> list[Endpoint]:          # module level: runs in the worker
        return [Feed(symbol) for symbol in worker.keys]

    with Cluster(build, keys=SYMBOLS, workers=2, cpus=[0, 1], metrics_url="nats://127.0.0.1:4222"):
        ...                                                    # supervised until stop()

* **Sharding** is by a stable key (``crc32(key) % total``, the same in every process and on every
  run; Python's ``hash`` is salted per process and would not be). On several machines run the same
  launcher on each with ``machine=i, machines=m``: machine ``i`` runs the global shards
  ``i*workers .. i*workers+workers-1`` of ``m*workers``, so every key has exactly one owner.
* **Pinning**: worker ``k`` is pinned to ``cpus[k % len(cpus)]`` with ``sched_setaffinity``; a
  busy-poll loop wants a core of its own (see the README's note on ``wait()`` when it cannot).
* **Supervision**: the parent watches the workers' process sentinels; a worker that dies is
  restarted after ``restart_delay`` (doubling on repeated deaths within a minute, at most 30 s)
  and rebuilds its endpoints; its :class:`~boomnet.bus.records.RecordPublisher` epoch changes, so
  bus consumers see a *marked* gap, never silence.
* **Idle**: ``idle=None`` (default) busy-polls: the lowest latency, one core at 100 % per
  worker. ``idle=0.001`` makes each worker ``wait()`` up to 1 ms when a poll found nothing to do
  (woken at once by data), for machines where workers share cores with the bus or consumers.
* **Metrics**: each worker publishes a JSON snapshot every ``metrics_interval`` s on
  ``boomnet.metrics.<worker>`` (when ``metrics_url`` is set): polls, busy fraction of the loop,
  endpoints connected, and each endpoint's ``metrics()`` dict if it has one.

The ``build`` function must be importable (module level): workers are started with the
``spawn`` method, so no state of the parent leaks into them (forking a process with threads is
unsafe).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalError

__all__ = ["Cluster", "WorkerInfo", "shard_of", "keys_for"]

log = logging.getLogger("boomnet.cluster")


def shard_of(key: str, total: int) -> int:
    """The shard that owns ``key`` among ``total``: stable across processes, runs and machines."""
    return zlib.crc32(key.encode()) % total


def keys_for(keys: Sequence[str], shard: int, total: int) -> list[str]:
    return [k for k in keys if shard_of(k, total) == shard]


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker's ``build`` function receives."""

    index: int  # local index on this machine
    shard: int  # global shard number
    total: int  # global number of shards
    keys: tuple[str, ...]  # the keys this worker owns
    cpu: int | None
    restarts: int  # how many times this worker was restarted
    metrics_url: str | None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"worker-{self.shard}"


def _worker_main(build: Callable[[WorkerInfo], list[Any]], info: WorkerInfo, interval: float,
                 stop: Any, idle: float | None = None) -> None:  # pragma: no cover - runs in the child process
    from ..service import IOService

    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {info.name} %(levelname)s %(name)s: %(message)s")
    if info.cpu is not None:
        try:
            os.sched_setaffinity(0, {info.cpu})
        except OSError as exc:
            log.warning("%s: cannot pin to cpu %s: %s", info.name, info.cpu, exc)
    io: IOService[Any] = IOService()
    for endpoint in build(info):
        io.register(endpoint)
    metrics = None
    if info.metrics_url:
        from ..bus.nats.endpoint import NatsEndpoint

        metrics = NatsEndpoint([info.metrics_url], name=f"{info.name}-metrics")
        io.register(metrics)
    polls = busy_polls = 0
    next_report = time.monotonic() + interval
    busy_time = 0.0
    window_start = time.monotonic()
    poll, wait = io.poll, io.wait
    clock = time.perf_counter
    try:
        while not stop.is_set():
            t0 = clock()
            poll()
            dt = clock() - t0
            if idle is not None:
                wait(idle)  # returns at once when the poll left work; sleeps in epoll otherwise
            polls += 1
            if dt > 2e-6:  # a poll that did work (an idle epoll poll costs well under 1 µs)
                busy_polls += 1
                busy_time += dt
            if polls & 63 == 0 and time.monotonic() >= next_report:
                now = time.monotonic()
                if metrics is not None:
                    import json

                    report = {
                        "worker": info.name, "shard": info.shard, "restarts": info.restarts, "pid": os.getpid(),
                        "polls": polls, "busy_polls": busy_polls,
                        "utilisation": round(busy_time / max(now - window_start, 1e-9), 4),
                        "connected": sum(1 for h, _ in io if io.is_connected(h)),
                        "endpoints": {ep.describe(): ep.metrics() for _, ep in io if hasattr(ep, "metrics")},
                    }
                    metrics.publish(f"boomnet.metrics.{info.name}", json.dumps(report).encode())
                busy_time, window_start, next_report = 0.0, now, now + interval
    finally:
        io.close()


class _Slot:
    def __init__(self, info: WorkerInfo) -> None:
        self.info = info
        self.process: Any = None
        self.deaths: list[float] = []
        self.restart_at: float | None = None


class Cluster:
    """Runs and supervises the workers of this machine (call :meth:`supervise` in your loop, or
    let :meth:`run` do it)."""

    def __init__(self, build: Callable[[WorkerInfo], list[Any]], *, keys: Sequence[str], workers: int,
                 cpus: Sequence[int] | None = None, machine: int = 0, machines: int = 1,
                 metrics_url: str | None = None, metrics_interval: float = 1.0,
                 restart_delay: float = 0.5, options: dict[str, Any] | None = None,
                 idle: float | None = None) -> None:
        if workers < 1 or machines < 1 or not 0 <= machine < machines:
            raise LocalError("need workers >= 1 and 0 <= machine < machines")
        if idle is not None and idle <= 0:
            raise LocalError("idle must be positive (seconds a worker may sleep when idle) or None")
        self.idle = idle
        if not getattr(build, "__module__", None) or "<locals>" in getattr(build, "__qualname__", ""):
            raise LocalError("build must be a module-level function (workers are spawned)")
        self.build = build
        self.total = workers * machines
        self.cpus = list(cpus) if cpus is not None else sorted(os.sched_getaffinity(0))
        self.restart_delay = restart_delay
        self.metrics_interval = metrics_interval
        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self.slots: list[_Slot] = []
        for i in range(workers):
            shard = machine * workers + i
            self.slots.append(_Slot(WorkerInfo(
                i, shard, self.total, tuple(keys_for(keys, shard, self.total)),
                self.cpus[i % len(self.cpus)] if self.cpus else None, 0, metrics_url, dict(options or {}),
            )))
        self.restarts = 0

    def start(self) -> Cluster:
        for slot in self.slots:
            self._spawn(slot)
        return self

    def _spawn(self, slot: _Slot) -> None:
        slot.process = self._ctx.Process(target=_worker_main, name=slot.info.name, daemon=True,
                                         args=(self.build, slot.info, self.metrics_interval, self._stop, self.idle))
        slot.process.start()
        slot.restart_at = None
        log.info("%s started (pid %s, cpu %s, %d keys)", slot.info.name, slot.process.pid, slot.info.cpu,
                 len(slot.info.keys))

    def supervise(self) -> None:
        """Restart dead workers when their delay has passed (cheap: call it often)."""
        now = time.monotonic()
        for slot in self.slots:
            proc = slot.process
            if proc is None or self._stop.is_set():
                continue
            if slot.restart_at is None and not proc.is_alive():
                slot.deaths = [t for t in slot.deaths if now - t < 60] + [now]
                delay = min(30.0, self.restart_delay * 2 ** (len(slot.deaths) - 1))
                log.error("%s died (exit code %s); restarting in %.2gs", slot.info.name, proc.exitcode, delay)
                slot.restart_at = now + delay
            elif slot.restart_at is not None and now >= slot.restart_at:
                slot.info = WorkerInfo(**{**slot.info.__dict__, "restarts": slot.info.restarts + 1})
                self.restarts += 1
                self._spawn(slot)

    def run(self, duration: float | None = None) -> None:
        """Supervise until ``duration`` s passed (``None``: until :meth:`stop` from another thread)."""
        end = None if duration is None else time.monotonic() + duration
        while not self._stop.is_set() and (end is None or time.monotonic() < end):
            self.supervise()
            time.sleep(0.05)

    def pids(self) -> list[int | None]:
        return [s.process.pid if s.process is not None else None for s in self.slots]

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every worker to stop, wait, then kill what is left."""
        self._stop.set()
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(timeout)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(timeout)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
