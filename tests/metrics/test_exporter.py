"""The Prometheus exporter, scraped over real HTTP with a plain client and parsed from the text.

The loop runs on its own thread (``IOService.run_in_thread``); the scrape thread must get fresh
values while it polls, and stale values plus ``boomnet_loop_stalled 1`` — never a hang — while
it is stuck in a handler.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed (boomnet[metrics])")

from prometheus_client.parser import text_string_to_metric_families

from boomnet.errors import LocalError
from boomnet.metrics import BoomnetCollector, start_http_server
from boomnet.service import EpollSelector, IOService

from .conftest import Peer, Reader


def scrape(url: str) -> tuple[str, float]:
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = resp.read().decode()
    return body, time.monotonic() - start


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Our own reading of the text format (name{labels} value), independent of prometheus_client."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = frozenset()
        if rest:
            pairs = rest.rstrip("}").split('",')
            labels = frozenset((k, v.strip('"')) for k, _, v in (p.partition("=") for p in pairs if p))
        out[(name, labels)] = float(value)
    return out


def value(s: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    hits = [v for (n, ls), v in s.items() if n == name and set(labels.items()) <= ls]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


class Counting(Reader):
    def metrics(self) -> dict[str, float]:
        return {"bytes.read": len(self.data)}


@pytest.fixture
def running(peer: Peer) -> Iterator[tuple[IOService[Any], Counting, Any]]:
    io: IOService[Any] = IOService(EpollSelector(), instrument=True)
    ep = Counting(peer.port)
    io.register(ep)
    loop = io.run_in_thread(None, idle=0.001)
    try:
        yield io, ep, loop
    finally:
        loop.stop()
        loop.join()
        io.close()


def test_scrape_over_http_reports_the_endpoint(peer: Peer, running: Any) -> None:
    io, ep, _ = running
    with start_http_server(io, port=0, timeout=2.0) as server:
        deadline = time.monotonic() + 5
        while True:
            text, _ = scrape(server.url)
            s = samples(text)
            # connected as soon as the kernel completed the handshake, maybe before accept():
            # accepted after the scrape, so the bytes below go to this very connection
            accepted = peer.accept_pending()
            if value(s, "boomnet_endpoint_connected", endpoint=ep.describe()) == 1.0 and accepted:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.01)
        peer.send(b"abcdef")
        deadline = time.monotonic() + 5
        while value(samples(scrape(server.url)[0]), "boomnet_protocol_bytes_read") != 6.0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        text, _ = scrape(server.url)
        s = samples(text)
        who = {"endpoint": ep.describe(), "class": "Counting"}
        assert value(s, "boomnet_loop_stalled") == 0.0
        assert value(s, "boomnet_endpoints") == 1.0
        assert value(s, "boomnet_endpoint_connects_total", **who) == 1.0
        assert value(s, "boomnet_endpoint_disconnects_total", kind="closed", **who) == 0.0
        assert value(s, "boomnet_endpoint_polls_total", **who) >= 1.0
        assert value(s, "boomnet_endpoint_handler_seconds_total", **who) > 0.0
        assert value(s, "boomnet_endpoint_connected_seconds", **who) >= 0.0
        # an independent check of the format: prometheus_client's own parser reads it all
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"boomnet_loop_stalled", "boomnet_endpoint_connects", "boomnet_endpoint_disconnects",
                "boomnet_protocol_bytes_read", "boomnet_endpoint_handler_max_seconds"} <= names
        # the peer goes away: the disconnect is counted by kind
        peer.close_all()
        deadline = time.monotonic() + 5
        while value(samples(scrape(server.url)[0]), "boomnet_endpoint_disconnects_total", kind="closed") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_stuck_loop_is_reported_stalled_with_stale_values_never_a_hang(peer: Peer, running: Any) -> None:
    io, ep, _ = running
    with start_http_server(io, port=0, timeout=0.2) as server:
        deadline = time.monotonic() + 5
        while value(samples(scrape(server.url)[0]), "boomnet_endpoint_connected") != 1.0:
            peer.accept_pending()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        answered: list[object] = []
        real = server.collector._answer
        server.collector._answer = lambda req: (answered.append(req), real(req))  # type: ignore[method-assign]
        release = threading.Event()
        io.call_soon_threadsafe(release.wait, 10)  # a handler that blocks the loop thread
        try:
            for _ in range(3):  # repeated scrapes of a stuck loop: each bounded, none piles up
                text, took = scrape(server.url)
                s = samples(text)
                assert value(s, "boomnet_loop_stalled") == 1.0
                assert value(s, "boomnet_endpoint_connected") == 1.0  # the last values it answered
                assert value(s, "boomnet_snapshot_age_seconds") > 0
                assert took < 3.0
            assert server.collector.stalls >= 3
        finally:
            release.set()
        deadline = time.monotonic() + 5
        while value(samples(scrape(server.url)[0]), "boomnet_loop_stalled") != 0.0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # the three stalled scrapes shared one request: the loop answered it (+ maybe one fresh one)
        assert 1 <= len(answered) <= 2, answered


def test_a_service_nobody_polls_is_stalled_and_a_closed_one_too() -> None:
    io: IOService[Any] = IOService(EpollSelector())
    c = BoomnetCollector(io, timeout=0.05)
    snaps, stalled = c.snapshot()
    assert stalled and snaps == []
    got: list[tuple[list[Any], bool]] = []
    c2 = BoomnetCollector(io, timeout=5.0)
    t = threading.Thread(target=lambda: got.append(c2.snapshot()))
    t.start()
    deadline = time.monotonic() + 5
    while not got:  # the request is answered between two polls of this (the loop) thread
        io.poll()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    t.join(5)
    assert got == [([], False)]
    io.close()
    snaps, stalled = c.snapshot()
    assert stalled
    with pytest.raises(LocalError):
        BoomnetCollector(io, timeout=0)


def test_without_prometheus_client_the_error_names_the_extra() -> None:
    code = ("import sys; sys.modules['prometheus_client'] = None\n"
            "from boomnet.errors import MissingExtra\n"
            "try:\n    import boomnet.metrics\nexcept MissingExtra as e:\n    print('ok', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("ok") and "boomnet[metrics]" in out.stdout, out.stderr
