"""Selectors: which registered targets should the IOService poll now?

* :class:`EpollSelector` — kernel readiness (epoll), cost grows with *ready* targets only.
* :class:`DirectSelector` — no readiness check; polls everything (lowest latency for a few).
* :class:`IoUringSelector` — readiness via io_uring completions; an idle poll makes no system call.

All three honour the contract in :mod:`boomnet.service.select.base`.
"""

from .base import Selector, SelectorUnavailable
from .direct import DirectSelector
from .epoll import EpollSelector
from .io_uring import IoUringSelector

__all__ = ["Selector", "SelectorUnavailable", "EpollSelector", "DirectSelector", "IoUringSelector"]
