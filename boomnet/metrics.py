"""Prometheus exporter for an :class:`~boomnet.service.IOService`'s per-endpoint counters.

    from boomnet.metrics import start_http_server
    loop = io.run_in_thread(ctx)
    server = start_http_server(io, port=9464)      # http://127.0.0.1:9464/metrics
    ...
    server.close(); loop.stop(); loop.join()

Needs ``prometheus_client`` (``pip install 'boomnet[metrics]'``; without it importing this
module raises :class:`~boomnet.errors.MissingExtra`).

Off the hot path, and never a hang: :class:`BoomnetCollector` runs on the scrape thread and asks
the loop thread for a snapshot (``IOService.stats()``, see :mod:`boomnet.service.stats`) through
``IOService.call_soon_threadsafe``, then waits at most ``timeout`` seconds. The loop does the
copy between two polls, so the loop thread is never locked and the counters need no atomics. A
loop that does not answer in time — stuck in a handler, or not being polled at all — is reported
as ``boomnet_loop_stalled 1`` together with the last snapshot it did answer (its age in
``boomnet_snapshot_age_seconds``); at most one request is outstanding, so a stuck loop does not
pile them up.

Exported families (labels ``endpoint`` = ``endpoint.describe()``, ``handle``, ``class``):
``boomnet_endpoint_connected``, ``boomnet_endpoint_connects_total``,
``boomnet_endpoint_disconnects_total{kind=...}`` (one per ``DisconnectKind``),
``boomnet_endpoint_connected_seconds``, ``boomnet_endpoint_since_disconnect_seconds``; with
``ServiceOptions(instrument=True)``: ``boomnet_endpoint_polls_total``,
``boomnet_endpoint_handler_seconds_total``, ``boomnet_endpoint_handler_max_seconds``,
``boomnet_endpoint_idle_seconds``, ``boomnet_endpoint_slow_polls_total``; and every number of
``endpoint.metrics()`` as a gauge ``boomnet_protocol_<name>``. Service-wide:
``boomnet_loop_stalled``, ``boomnet_snapshot_age_seconds``, ``boomnet_endpoints``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import LocalError, MissingExtra
from .service import EndpointSnapshot, IOService
from .url import host_port

try:
    from prometheus_client import CollectorRegistry
    from prometheus_client import start_http_server as _start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the package
    raise MissingExtra(f"boomnet.metrics needs prometheus_client: pip install 'boomnet[metrics]' ({exc})") from exc

__all__ = ["BoomnetCollector", "MetricsServer", "start_http_server"]

log = logging.getLogger("boomnet.metrics")

_LABELS = ("endpoint", "handle", "class")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")


class _Request:
    """One snapshot asked of the loop thread."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: list[EndpointSnapshot] | None = None


class BoomnetCollector(Collector):
    """A ``prometheus_client`` collector reading ``io``'s counters through its loop thread.

    ``timeout``: seconds a scrape waits for the loop to answer before reporting it stalled.
    Register it with any ``CollectorRegistry`` (``registry.register(BoomnetCollector(io))``) or
    use :func:`start_http_server`.
    """

    def __init__(self, io: IOService[Any], *, timeout: float = 0.5) -> None:
        if not timeout > 0:
            raise LocalError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._io = io
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: _Request | None = None
        self._last: list[EndpointSnapshot] = []
        self._last_at: float | None = None
        #: scrapes that found the loop stalled
        self.stalls = 0

    def _answer(self, req: _Request) -> None:  # on the loop thread, between two polls
        try:
            req.result = self._io.stats()
        finally:
            req.done.set()

    def snapshot(self) -> tuple[list[EndpointSnapshot], bool]:
        """``(snapshots, stalled)``: fresh ones from the loop, or the last ones and ``True``."""
        with self._lock:
            req = self._pending
            if req is None or req.done.is_set():
                req = self._pending = _Request()
                try:
                    self._io.call_soon_threadsafe(self._answer, req)
                except Exception as exc:  # a closed service: nothing will answer
                    log.debug("cannot ask the loop for a snapshot: %r", exc)
                    self._pending = None
                    self.stalls += 1
                    return self._last, True
            if req.done.wait(self._timeout) and req.result is not None:
                self._pending = None
                self._last, self._last_at = req.result, time.monotonic()
                return self._last, False
            self.stalls += 1
            return self._last, True

    def collect(self) -> Iterator[Metric]:
        snaps, stalled = self.snapshot()
        yield GaugeMetricFamily("boomnet_loop_stalled", "1 if the loop thread did not answer the last scrape in time",
                                value=1.0 if stalled else 0.0)
        age = float("nan") if self._last_at is None else time.monotonic() - self._last_at
        yield GaugeMetricFamily("boomnet_snapshot_age_seconds", "age of the values below", value=age)
        yield GaugeMetricFamily("boomnet_endpoints", "registered endpoints", value=float(len(snaps)))
        yield from _families(snaps)


def _families(snaps: Iterable[EndpointSnapshot]) -> Iterator[Metric]:
    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"boomnet_endpoint_{name}", doc, labels=_LABELS)

    def counter(name: str, doc: str) -> CounterMetricFamily:
        return CounterMetricFamily(f"boomnet_endpoint_{name}", doc, labels=_LABELS)

    connected = gauge("connected", "1 while connected")
    connects = counter("connects", "connections established")
    disconnects = CounterMetricFamily("boomnet_endpoint_disconnects", "disconnects and failed attempts by kind",
                                      labels=(*_LABELS, "kind"))
    up_for = gauge("connected_seconds", "seconds in the current connection")
    since = gauge("since_disconnect_seconds", "seconds since the last disconnect")
    polls = counter("polls", "polls of the endpoint (instrumented)")
    handler = counter("handler_seconds", "time spent in the endpoint's poll (instrumented)")
    handler_max = gauge("handler_max_seconds", "longest single poll (instrumented)")
    idle = gauge("idle_seconds", "seconds since the last poll (instrumented)")
    slow = counter("slow_polls", "polls longer than slow_handler (instrumented)")
    protocol: dict[str, GaugeMetricFamily] = {}
    for s in snaps:
        labels = [s.endpoint, str(s.handle), s.kind]
        connected.add_metric(labels, 1.0 if s.connected else 0.0)
        connects.add_metric(labels, float(s.connects))
        for kind, n in s.disconnects.items():
            disconnects.add_metric([*labels, kind], float(n))
        if s.connected_for is not None:
            up_for.add_metric(labels, s.connected_for)
        if s.since_disconnect is not None:
            since.add_metric(labels, s.since_disconnect)
        if s.instrumented:
            polls.add_metric(labels, float(s.polls))
            handler.add_metric(labels, s.handler_time)
            handler_max.add_metric(labels, s.max_handler_time)
            if s.idle_for is not None:
                idle.add_metric(labels, s.idle_for)
            slow.add_metric(labels, float(s.slow_polls))
        for key, value in s.metrics.items():
            name = "boomnet_protocol_" + _NOT_NAME.sub("_", key)
            fam = protocol.get(name)
            if fam is None:
                fam = protocol[name] = GaugeMetricFamily(name, f"endpoint.metrics()[{key!r}]", labels=_LABELS)
            fam.add_metric(labels, value)
    yield from (connected, connects, disconnects, up_for, since, polls, handler, handler_max, idle, slow)
    yield from protocol.values()


class MetricsServer:
    """What :func:`start_http_server` started: ``url``, ``port``, ``collector``, ``close()``."""

    def __init__(self, server: Any, thread: threading.Thread, collector: BoomnetCollector) -> None:
        self._server = server
        self._thread = thread
        self.collector = collector
        host, port = server.server_address[:2]
        self.port: int = port
        self.url = f"http://{host_port(host, port)}/metrics"

    def close(self) -> None:
        """Stop serving and join the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_http_server(io: IOService[Any], port: int = 0, addr: str = "127.0.0.1", *, timeout: float = 0.5,
                      registry: CollectorRegistry | None = None) -> MetricsServer:
    """Serve ``io``'s counters at ``http://addr:port/metrics`` from a daemon thread.

    ``port=0`` picks a free port (``server.port``). Binds loopback by default: pass
    ``addr="0.0.0.0"`` to expose it. A fresh registry holds only boomnet's collector unless you
    pass your own (then your other metrics are served too)."""
    reg = registry if registry is not None else CollectorRegistry(auto_describe=False)
    collector = BoomnetCollector(io, timeout=timeout)
    reg.register(collector)
    server, thread = _start_http_server(port, addr, registry=reg)
    return MetricsServer(server, thread, collector)
