"""Subscription bookkeeping: ids, acks, errors, resubscription, pacing (sans-I/O)."""

from __future__ import annotations

import orjson
import pytest

from boomnet.errors import LimitExceeded
from endpoints.binance import CommandError, CommandResult, Subscriptions


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sent(subs: Subscriptions) -> list[dict]:
    return [orjson.loads(m) for m in subs.take_outgoing()]


def test_connect_subscribes_everything_wanted_with_increasing_ids() -> None:
    subs = Subscriptions(["btcusdt@trade", "btcusdt@bookTicker"], clock=FakeClock())
    assert subs.take_outgoing() == []  # not connected: nothing goes out
    subs.on_connected()
    assert sent(subs) == [{"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@bookTicker"], "id": 1}]
    subs.subscribe(["ethusdt@trade", "btcusdt@trade"])  # already wanted one is not repeated
    subs.unsubscribe(["btcusdt@bookTicker"])
    subs.list_subscriptions()
    out = sent(subs)
    assert [(m["method"], m["id"]) for m in out] == [("SUBSCRIBE", 2), ("UNSUBSCRIBE", 3), ("LIST_SUBSCRIPTIONS", 4)]
    assert out[0]["params"] == ["ethusdt@trade"] and "params" not in out[2]
    assert sorted(subs.pending) == [1, 2, 3, 4]


def test_replies_update_active_set_and_errors_surface() -> None:
    subs = Subscriptions(["btcusdt@trade"], clock=FakeClock())
    subs.on_connected()
    subs.take_outgoing()
    assert subs.on_reply(CommandResult(1, None)).method == "SUBSCRIBE"
    assert subs.active == {"btcusdt@trade"}
    subs.subscribe(["ethusdt@trade"])
    subs.take_outgoing()
    request = subs.on_reply(CommandError(2, 2, "Invalid request"))
    assert request.params == ("ethusdt@trade",) and subs.active == {"btcusdt@trade"}
    assert subs.streams == ("btcusdt@trade",)  # refused: no longer wanted, not resubscribed
    assert subs.pending == {}
    assert subs.on_reply(CommandResult(2, None)) is None  # answered already
    assert subs.on_reply(CommandError(None, 3, "Invalid JSON")) is None
    subs.list_subscriptions()
    subs.take_outgoing()
    subs.on_reply(CommandResult(3, ["btcusdt@trade"]))
    assert subs.listed == ["btcusdt@trade"]


def test_reconnect_resubscribes_wanted_set_and_forgets_outstanding() -> None:
    subs = Subscriptions(["a@trade"], clock=FakeClock())
    subs.on_connected()
    subs.take_outgoing()
    subs.on_reply(CommandResult(1, None))
    subs.subscribe(["b@trade"])
    subs.unsubscribe(["a@trade"])
    subs.on_disconnected()
    assert subs.active == set() and subs.pending == {}
    subs.list_subscriptions()
    subs.on_connected()
    out = sent(subs)
    # queued SUB/UNSUB are superseded by one SUBSCRIBE of the wanted set; ids keep increasing
    assert [(m["method"], m.get("params"), m["id"]) for m in out] == [
        ("SUBSCRIBE", ["b@trade"], 2),
        ("LIST_SUBSCRIPTIONS", None, 3),
    ]


def test_streams_in_url_are_not_subscribed_again() -> None:
    subs = Subscriptions(["a@trade", "b@trade"], clock=FakeClock())
    subs.on_connected(subscribed_by_url=["a@trade"])
    assert sent(subs) == [{"method": "SUBSCRIBE", "params": ["b@trade"], "id": 1}]
    assert subs.active == {"a@trade"}


def test_requests_are_paced_under_the_rate_limit() -> None:
    clock = FakeClock()
    subs = Subscriptions(clock=clock, requests_per_second=4)
    subs.on_connected()
    for i in range(12):
        subs.subscribe([f"s{i}@trade"])
    assert len(subs.take_outgoing()) == 4
    clock.now += 0.5
    assert subs.take_outgoing() == []  # never more than 4 in any one-second window
    clock.now += 0.5
    assert len(subs.take_outgoing()) == 4
    clock.now += 10.0  # idle time does not bank a bigger burst
    assert len(subs.take_outgoing()) == 4
    assert subs.has_outgoing is False


def test_stream_names_and_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        Subscriptions(["BTCUSDT@trade"])
    with pytest.raises(ValueError):
        Subscriptions(["btcusdt"])
    subs = Subscriptions([f"s{i}@trade" for i in range(3)], max_streams=3)
    with pytest.raises(LimitExceeded):
        subs.subscribe(["s9@trade"])
    assert subs.streams == ("s0@trade", "s1@trade", "s2@trade")


def test_recycle_after_stays_under_24_hours_with_jitter() -> None:
    from endpoints.binance import recycle_after

    ages = [recycle_after()() for _ in range(200)]
    assert all(24 * 3600 - 900 <= a <= 24 * 3600 - 600 for a in ages)
    assert len(set(ages)) > 1


def test_replies_are_correlated_by_boomnet_rpc_with_deadlines() -> None:
    """Ids, reply matching, deadlines and fail-on-disconnect come from boomnet.rpc's
    JsonCorrelator; an unanswered request is reported after reply_timeout, never pending forever."""
    import orjson

    from boomnet.errors import CallLost
    from endpoints.binance import CommandError, CommandResult

    now = [0.0]
    subs = Subscriptions(["btcusdt@trade"], reply_timeout=5.0, clock=lambda: now[0])
    subs.on_connected()
    got: list[object] = []
    subs.command("GET_PROPERTY", ["combined"], got.append)
    sent = [orjson.loads(m) for m in subs.take_outgoing()]
    assert [(m["method"], m["id"]) for m in sent] == [("SUBSCRIBE", 1), ("GET_PROPERTY", 2)]
    assert sent[1]["params"] == ["combined"]
    subs.on_reply(CommandResult(2, True))
    assert got and got[0].result == CommandResult(2, True)  # type: ignore[attr-defined]
    assert sorted(subs.pending) == [1]
    now[0] = 6.0  # the SUBSCRIBE is never answered
    timed_out = subs.expire()
    assert [r.method for r in timed_out] == ["SUBSCRIBE"] and subs.pending == {}
    subs.on_reply(CommandResult(1, None))  # too late: dropped and counted, not applied
    assert subs.rpc.late == 1 and "btcusdt@trade" not in subs.active
    subs.command("GET_PROPERTY", ["nope"], got.append)
    subs.take_outgoing()
    subs.on_reply(CommandError(3, 2, "Invalid request"))
    assert "Invalid request" in str(got[-1].error)  # type: ignore[attr-defined]
    subs.command("GET_PROPERTY", ["combined"], got.append)
    subs.take_outgoing()
    subs.on_disconnected()  # outstanding requests fail at once
    assert isinstance(got[-1].error, CallLost)  # type: ignore[attr-defined]
