"""Per-endpoint counters over real loopback TCP: cold-path always, hot-path timing opt-in."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from boomnet.errors import LocalError
from boomnet.service import Backoff, DirectSelector, EpollSelector, IOService, ServiceOptions

from .conftest import Peer, Reader, poll_until


def _record(io: IOService[Any]) -> Any:
    (record,) = list(io._registry)
    return record


def test_cold_counters_count_connects_and_disconnects_by_kind(peer: Peer) -> None:
    with IOService(EpollSelector(), check_every=1, healthy_after=0.0) as io:
        ep = Reader(peer.port)
        h = io.register(ep)
        poll_until(io, lambda: io.is_connected(h), peer, what="connect")
        (s,) = io.stats()
        assert (s.handle, s.connected, s.state, s.connects) == (h.id, True, "connected", 1)
        assert s.endpoint == ep.describe() and s.kind == "Reader"
        assert s.disconnects["closed"] == 0 and s.last_reason is None and s.since_disconnect is None
        assert s.connected_for is not None and s.connected_for >= 0
        peer.close_all()  # the peer goes away: CLOSED, then a reconnect
        poll_until(io, lambda: _record(io).stats.connects == 2, peer, what="reconnect")
        (s,) = io.stats()
        assert s.connects == 2 and s.disconnects["closed"] == 1
        assert sum(s.disconnects.values()) == 1
        assert s.last_reason is not None and s.last_reason.startswith("closed")
        assert s.since_disconnect is not None and s.since_disconnect >= 0
        io.disconnect(h, "rotate")
        poll_until(io, lambda: _record(io).stats.connects == 3, peer, what="requested reconnect")
        (s,) = io.stats()
        assert s.disconnects["requested"] == 1 and s.last_reason == "requested (rotate)"
        assert _record(io).stats.reconnects == 2
        # not instrumented: no hot-path numbers, and the loop calls the endpoint's own bound poll
        assert (s.instrumented, s.polls, s.handler_time, s.idle_for) == (False, 0, 0.0, None)
        assert _record(io).poll == ep.poll


def test_failed_connect_attempts_are_counted() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with IOService(EpollSelector(), check_every=1, backoff=Backoff(0.001, 1.0, 0.001)) as io:
        io.register(Reader(port))
        poll_until(io, lambda: _record(io).stats.disconnects["connect_failed"] >= 2, what="two refused attempts")
        (s,) = io.stats()
        assert s.connects == 0 and not s.connected and s.last_reason is not None
        assert "connect_failed" in s.last_reason


@pytest.mark.parametrize("selector", [EpollSelector, DirectSelector])
def test_instrumented_polls_are_timed(peer: Peer, selector: type) -> None:
    with IOService(selector(), check_every=1, instrument=True) as io:
        ep = Reader(peer.port)
        h = io.register(ep)
        poll_until(io, lambda: io.is_connected(h), peer, what="connect")
        assert _record(io).poll != ep.poll and _record(io).poll.__wrapped__ == ep.poll
        ep.delay = 0.002
        peer.send(b"x" * 100)
        poll_until(io, lambda: len(ep.data) == 100, peer, what="data")
        (s,) = io.stats()
        assert s.instrumented and s.polls >= 1
        assert s.max_handler_time >= 0.002 and s.handler_time >= s.max_handler_time
        assert s.idle_for is not None and 0 <= s.idle_for < 5
        assert s.slow_polls == 0  # no slow_handler set: nothing is judged slow


def test_an_exception_out_of_an_instrumented_poll_is_timed_and_still_handled(peer: Peer) -> None:
    with IOService(EpollSelector(), check_every=1, instrument=True, healthy_after=0.0) as io:
        ep = Reader(peer.port)
        h = io.register(ep)
        poll_until(io, lambda: io.is_connected(h), peer, what="connect")
        ep.fail = RuntimeError("bug in the handler")
        peer.send(b"y")
        poll_until(io, lambda: _record(io).stats.disconnects["user_error"] == 1, peer, what="user error")
        assert _record(io).stats.polls >= 1


def test_slow_handler_warns_with_the_endpoint_and_is_rate_limited(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    with IOService(EpollSelector(), check_every=1, slow_handler=0.005) as io:
        ep = Reader(peer.port)
        h = io.register(ep)
        poll_until(io, lambda: io.is_connected(h), peer, what="connect")
        caplog.set_level(logging.WARNING, logger="boomnet.service.slow")
        ep.delay = 0.02
        for i in range(3):  # three slow polls well within SLOW_LOG_INTERVAL
            peer.send(b"z")
            poll_until(io, lambda i=i: len(ep.data) == i + 1, peer, what="slow poll")
        (s,) = io.stats()
        assert s.instrumented and s.slow_polls == 3 and s.max_handler_time >= 0.02
        warnings = [r for r in caplog.records if r.name == "boomnet.service.slow"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        msg = warnings[0].getMessage()
        assert warnings[0].levelno == logging.WARNING
        assert ep.describe() in msg and "blocked the loop for 0.0" in msg and "slow_handler=0.005" in msg


def test_fast_polls_do_not_warn(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    with IOService(EpollSelector(), check_every=1, slow_handler=0.5) as io:
        ep = Reader(peer.port)
        h = io.register(ep)
        poll_until(io, lambda: io.is_connected(h), peer, what="connect")
        caplog.set_level(logging.WARNING, logger="boomnet.service.slow")
        peer.send(b"fast")
        poll_until(io, lambda: len(ep.data) == 4, peer, what="data")
        assert io.stats()[0].slow_polls == 0
        assert not [r for r in caplog.records if r.name == "boomnet.service.slow"]


class WithMetrics(Reader):
    def metrics(self) -> dict[str, Any]:
        return {"messages": len(self.data), "bytes": 7.5, "up": True, "name": "ignored"}


class BrokenMetrics(Reader):
    def metrics(self) -> dict[str, float]:
        raise RuntimeError("metrics bug")


def test_endpoint_metrics_are_merged_and_a_broken_one_is_contained(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    with IOService(EpollSelector(), check_every=1) as io:
        io.register(WithMetrics(peer.port))
        io.register(BrokenMetrics(peer.port))
        a, b = io.stats()
        assert a.metrics == {"messages": 0.0, "bytes": 7.5, "up": 1.0}
        assert b.metrics == {}
        assert "metrics bug" in caplog.text
        assert a.as_dict()["metrics"] == a.metrics and a.as_dict()["handle"] == a.handle


def test_options_are_validated() -> None:
    assert ServiceOptions(slow_handler=0.1).instrumented and ServiceOptions(instrument=True).instrumented
    assert not ServiceOptions().instrumented
    for bad in (0, -1.0, float("inf"), True, "0.1"):
        with pytest.raises(LocalError, match="slow_handler"):
            ServiceOptions(slow_handler=bad)  # type: ignore[arg-type]
    with pytest.raises(LocalError, match="instrument"):
        ServiceOptions(instrument=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        IOService(EpollSelector(), instrumnet=True)
