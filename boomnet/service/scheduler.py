"""The timer heap: retries, auto-disconnect expiries and endpoint timers, in due order.

Entries carry the record's generation at scheduling time; an entry whose record has since been
disconnected (its generation moved on) is stale and skipped when popped, so nothing needs
cancelling on a disconnect. ``kick`` is called when a new entry becomes the earliest, so the
service looks at the clock on its next poll instead of after its ``check_every`` countdown.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from .endpoint import Timer
from .registry import Record

__all__ = ["Scheduler", "Due", "RETRY", "EXPIRE", "TIMER"]

RETRY, EXPIRE, TIMER = 0, 1, 2


class Due(NamedTuple):
    """A popped entry: what is due, for which record, and when it was due."""

    due: float
    record: Record
    action: int
    timer: Timer[Any, Any] | None


class Scheduler:
    def __init__(self, kick: Callable[[], None]) -> None:
        self._kick = kick
        self._heap: list[tuple[float, int, Record, int, int, Timer[Any, Any] | None]] = []
        self._seq = itertools.count()
        #: when the earliest entry is due (``inf`` when none): the hot loop compares the clock to it
        self.next_due = math.inf

    def schedule(self, due: float, record: Record, action: int, timer: Timer[Any, Any] | None = None) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), record, record.gen, action, timer))
        if due < self.next_due:
            self.next_due = due
            self._kick()

    def pop_due(self, now: float) -> Iterator[Due]:
        """Entries due at ``now``, earliest first, skipping stale ones. Entries scheduled while
        iterating wait for the next pass, even when already due (a zero back-off must not loop
        here forever)."""
        heap = self._heap
        limit = next(self._seq)  # entries numbered after this were scheduled while iterating
        later = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if entry[1] > limit:  # equivalent-mutant: Gt -> GtE: limit is drawn from the same counter and given to no entry, so no entry's number equals it
                later.append(entry)
            elif entry[2].gen == entry[3]:
                yield Due(entry[0], entry[2], entry[4], entry[5])
        for entry in later:
            heapq.heappush(heap, entry)
        self.next_due = heap[0][0] if heap else math.inf

    def clear(self) -> None:
        self._heap.clear()
        self.next_due = math.inf

    def __len__(self) -> int:
        return len(self._heap)
