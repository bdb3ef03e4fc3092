"""Fixtures for the service tests: every selector, loopback peers, a hand-driven clock."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from boomnet.service import DirectSelector, EpollSelector, IOService, IoUringSelector, Selector, SelectorUnavailable

from .peers import TcpPeer, WsPeer

SELECTORS = ["epoll", "direct", "io_uring"]

#: CI sets BOOMNET_STRICT=1: a refused io_uring is then a failure, not a skip (no silent gaps)
STRICT = os.environ.get("BOOMNET_STRICT") == "1"


def io_uring_or_skip(entries: int = 512) -> IoUringSelector:
    try:
        return IoUringSelector(entries=entries)
    except SelectorUnavailable as exc:
        if STRICT:
            pytest.fail(f"BOOMNET_STRICT=1 and io_uring is refused: {exc}")
        pytest.skip(f"kernel refuses io_uring: {exc}")


def make_selector(kind: str) -> Selector:
    if kind == "epoll":
        return EpollSelector()
    if kind == "direct":
        return DirectSelector()
    return io_uring_or_skip()


class FakeClock:
    """A clock the test moves by hand (``clock.now += 5``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def poll_until(
    service: IOService, pred: Callable[[], bool], ctx: Any = None, timeout: float = 5.0, what: str = "condition"
) -> int:
    """Poll until ``pred()`` or the deadline (then fail); returns the number of polls."""
    end = time.monotonic() + timeout
    n = 0
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {n} polls waiting for {what}")
        service.poll(ctx)
        n += 1
        if n % 8 == 0:
            time.sleep(0.0002)  # the machine is shared: do not spin flat out
    return n


def poll_for(service: IOService, seconds: float, ctx: Any = None) -> None:
    """Poll for a while (for checking that something does *not* happen)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        service.poll(ctx)
        time.sleep(0.0002)


@pytest.fixture(params=SELECTORS)
def selector_kind(request) -> str:
    return request.param


@pytest.fixture
def service_factory(selector_kind):
    made: list[IOService] = []

    def make(**options: Any) -> IOService:
        options.setdefault("check_every", 1)
        svc = IOService(make_selector(selector_kind), **options)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def tcp_peer():
    peer = TcpPeer()
    yield peer
    peer.close()


@pytest.fixture
def ws_peer():
    peer = WsPeer()
    yield peer
    peer.close()
