"""IOService.wait(): the opt-in idle strategy. Bounds here are generous and only tell "woke up on
the event" from "slept the whole timeout" (no speed is asserted)."""

from __future__ import annotations

import threading
import time

from boomnet.service import Backoff, Endpoint

from .conftest import poll_until
from .peers import TcpPeer

FAST = Backoff(0.01, 2.0, 0.05)
LONG = 8.0  # a wait that must be cut short never comes near this


class Reader(Endpoint):
    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port, backoff=FAST)
        self.buf = bytearray(4096)
        self.data = bytearray()

    def poll(self, stream, ctx) -> None:
        n = stream.recv_into(self.buf)
        self.data += self.buf[:n]


def connected(svc, port: int) -> Reader:
    ep = Reader(port)
    handle = svc.register(ep)
    poll_until(svc, lambda: svc.is_connected(handle), what="connected")
    for _ in range(5):  # drain any readiness left over from connecting
        svc.poll()
    return ep


def test_wait_wakes_when_data_arrives(service_factory, selector_kind) -> None:
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        ep = connected(svc, peer.port)
        threading.Timer(0.2, peer.send_all, args=(b"tick",)).start()
        started = time.monotonic()
        svc.wait(LONG)
        waited = time.monotonic() - started
        assert waited < LONG / 2  # woken by the data (or, for direct, never slept)
        poll_until(svc, lambda: ep.data == b"tick", what="data after wait")
    finally:
        peer.close()


def test_wait_sleeps_when_idle_and_readiness_is_not_consumed(service_factory, selector_kind) -> None:
    if selector_kind == "direct":
        return  # direct has no readiness to sleep on: wait returns at once (covered above)
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        ep = connected(svc, peer.port)
        started = time.monotonic()
        svc.wait(0.3)
        assert time.monotonic() - started >= 0.2  # nothing to do: it really slept
        peer.send_all(b"x")
        svc.wait(LONG)  # returns on the data ...
        svc.wait(LONG)  # ... and again: waiting consumed nothing
        poll_until(svc, lambda: ep.data == b"x", what="data")
    finally:
        peer.close()


def test_wait_returns_at_once_while_connecting_or_hot(service_factory, selector_kind) -> None:
    peer = TcpPeer(greeting=b"hi", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        svc.register(Reader(peer.port))
        started = time.monotonic()
        svc.wait(LONG)  # an endpoint is pending: the service is busy
        assert time.monotonic() - started < LONG / 2
    finally:
        peer.close()


def test_wait_is_cut_short_by_a_due_timer(service_factory, selector_kind) -> None:
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        ep = connected(svc, peer.port)
        fired: list[float] = []
        ep.every(0.2, lambda e, ctx: fired.append(time.monotonic()))
        svc.poll()
        started = time.monotonic()
        svc.wait(LONG)
        assert time.monotonic() - started < LONG / 2
        poll_until(svc, lambda: bool(fired), what="timer")
    finally:
        peer.close()


class _Target:
    def __init__(self, sock) -> None:
        self.sock = sock
        self.target = self  # its own token: selectors take hashable tokens with a .target

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_hint(self) -> int:
        return 0


def test_selector_wait_right_after_register_sees_the_new_target(selector_kind) -> None:
    import socket

    from .conftest import make_selector

    if selector_kind == "direct":
        return  # nothing to sleep on
    sel = make_selector(selector_kind)
    a, b = socket.socketpair()
    try:
        token = _Target(a)
        sel.register(token)  # io_uring: the poll is prepared, not yet submitted
        threading.Timer(0.2, b.send, args=(b"x",)).start()
        started = time.monotonic()
        sel.wait(LONG)
        assert time.monotonic() - started < LONG / 2
        assert token in sel.select()
    finally:
        sel.close()
        a.close()
        b.close()
