"""The timer heap on its own: order, stale entries, the earliest due time, and entries added
while popping (a zero delay must not make one housekeeping pass loop forever)."""

from __future__ import annotations

import math

from boomnet.service.endpoint import Endpoint
from boomnet.service.registry import Registry
from boomnet.service.scheduler import EXPIRE, RETRY, TIMER, Scheduler


def test_pop_due_order_due_times_stale_and_next_due() -> None:
    kicks: list[int] = []
    sched = Scheduler(lambda: kicks.append(1))
    reg = Registry()
    a, b = reg.add(Endpoint()), reg.add(Endpoint())
    assert sched.next_due == math.inf
    sched.schedule(10.0, a, RETRY)
    assert sched.next_due == 10.0 and len(kicks) == 1
    sched.schedule(12.0, b, EXPIRE)
    assert sched.next_due == 10.0 and len(kicks) == 1  # not earlier: no kick
    sched.schedule(5.0, b, TIMER)
    assert sched.next_due == 5.0 and len(kicks) == 2
    b.gen += 1  # b disconnected: its entries are stale
    assert list(sched.pop_due(4.9)) == [] and sched.next_due == 5.0
    got = list(sched.pop_due(11.0))
    assert [(d.due, d.record, d.action) for d in got] == [(10.0, a, RETRY)]  # 5.0 was stale
    assert sched.next_due == 12.0  # the stale EXPIRE at 12 is still queued (skipped when popped)
    assert list(sched.pop_due(100.0)) == [] and sched.next_due == math.inf and len(sched) == 0


def test_entries_scheduled_while_popping_wait_for_the_next_pass() -> None:
    sched = Scheduler(lambda: None)
    rec = Registry().add(Endpoint())
    sched.schedule(1.0, rec, RETRY)
    seen = []
    for item in sched.pop_due(1.0):
        seen.append(item.due)
        sched.schedule(1.0, rec, RETRY)  # a zero back-off: due at once
    assert seen == [1.0]
    assert sched.next_due == 1.0  # still queued, for the next housekeeping
    assert [d.due for d in sched.pop_due(1.0)] == [1.0]
    sched.clear()
    assert sched.next_due == math.inf and len(sched) == 0


def test_an_entry_due_at_the_earliest_time_already_known_does_not_kick_again() -> None:
    """``kick`` is for a *new* earliest entry only; one due at the same time changes nothing."""
    kicks: list[int] = []
    sched = Scheduler(lambda: kicks.append(1))
    reg = Registry()
    a, b = reg.add(Endpoint()), reg.add(Endpoint())
    sched.schedule(7.0, a, RETRY)
    sched.schedule(7.0, b, TIMER)
    assert len(kicks) == 1 and sched.next_due == 7.0
    sched.schedule(6.999, b, EXPIRE)  # just earlier: a kick
    assert len(kicks) == 2 and sched.next_due == 6.999
    assert [d.action for d in sched.pop_due(6.999)] == [EXPIRE]  # due exactly now: popped
    assert sched.next_due == 7.0
    assert [d.record for d in sched.pop_due(7.0)] == [a, b]  # same time: in scheduling order
