"""IOService.wait(): the opt-in idle strategy. Bounds here are generous and only tell "woke up on
the event" from "slept the whole timeout" (no speed is asserted)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

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
        assert waited < LONG / 2  # woken by the data
        poll_until(svc, lambda: ep.data == b"tick", what="data after wait")
    finally:
        peer.close()


def test_wait_sleeps_when_idle_and_readiness_is_not_consumed(service_factory, selector_kind) -> None:
    # direct too: its select() ignores readiness, but its wait() sleeps in poll(2) on every
    # registered descriptor when no target has a read hint
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

    sel = make_selector(selector_kind)  # direct: wait() polls the registered descriptors
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


def test_direct_wait_returns_at_once_while_a_target_has_a_read_hint() -> None:
    from boomnet.service import DirectSelector

    sel = DirectSelector()
    a, b = socket.socketpair()
    try:
        quiet = _Target(a)
        sel.register(quiet)
        started = time.monotonic()
        sel.wait(0.2)
        assert time.monotonic() - started >= 0.1  # nothing readable, no hint: it slept
        hinted = _Target(a)
        hinted.read_hint = lambda: 1  # type: ignore[method-assign]
        sel.register(hinted)
        started = time.monotonic()
        sel.wait(LONG)
        assert time.monotonic() - started < LONG / 2  # buffered work: no sleeping
    finally:
        sel.close()
        a.close()
        b.close()


def test_call_soon_threadsafe_wakes_wait_and_runs_on_the_loop_thread(service_factory, selector_kind) -> None:
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        connected(svc, peer.port)  # an idle connected endpoint: wait() really sleeps
        ran: list[tuple[int, int]] = []
        threading.Timer(0.2, svc.call_soon_threadsafe, args=(lambda n: ran.append((n, threading.get_ident())), 7)).start()
        started = time.monotonic()
        svc.wait(LONG)
        assert time.monotonic() - started < LONG / 2  # the waker cut the sleep short
        poll_until(svc, lambda: bool(ran), what="the callback")
        assert ran == [(7, threading.get_ident())]
        # many calls from several threads: all run, in order per thread
        seen: list[tuple[int, int]] = []

        def sender(k: int) -> None:
            for i in range(200):
                svc.call_soon_threadsafe(seen.append, (k, i))

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5.0)
        poll_until(svc, lambda: len(seen) == 600, what="600 callbacks")
        for k in range(3):
            assert [i for kk, i in seen if kk == k] == list(range(200))
        svc.poll()
        started = time.monotonic()
        svc.wait(0.2)  # the waker was drained: waiting sleeps again
        assert time.monotonic() - started >= 0.1
    finally:
        peer.close()


def test_call_soon_threadsafe_errors_follow_the_error_policy(service_factory, caplog) -> None:
    svc = service_factory(on_error="raise")

    def boom() -> None:
        raise RuntimeError("callback bug")

    svc.call_soon_threadsafe(boom)
    with pytest.raises(RuntimeError, match="callback bug"):
        poll_until(svc, lambda: False, timeout=2.0)
    quiet = service_factory()
    quiet.call_soon_threadsafe(boom)
    ran: list[int] = []
    quiet.call_soon_threadsafe(ran.append, 1)
    poll_until(quiet, lambda: ran == [1], what="the next callback")
    assert "callback bug" in caplog.text


class Blackhole:
    """A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
    stays in progress until its deadline."""

    def __init__(self) -> None:
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(4):  # fill the backlog (never accepted)
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(c)
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.3)
        try:  # proves the hole: a connect that does not complete
            probe.connect(("127.0.0.1", self.port))
            self.works = False
        except (TimeoutError, OSError):
            self.works = True
        finally:
            probe.close()

    def close(self) -> None:
        for c in self.fillers:
            c.close()
        self.srv.close()


def test_wait_does_not_spin_while_an_endpoint_is_connecting(service_factory, selector_kind) -> None:
    """Guard: ``wait()`` sleeps (in ``busy_step`` slices) while a connect is in progress
    (issue 10). Counts loop turns, which load can only lower."""
    hole = Blackhole()
    try:
        if not hole.works:
            pytest.skip("the kernel completed a connect to a full backlog: no blackhole here")
        svc = service_factory(connect_timeout=30.0, busy_step=0.002)
        handle = svc.register(Reader(hole.port))
        for _ in range(20):
            svc.poll()
        loops = 0
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            svc.poll()
            svc.wait(0.05)
            loops += 1
        assert not svc.is_connected(handle), "the blackhole accepted: the test proves nothing"
        assert loops <= 0.3 / 0.002 + 20, f"{loops} loops in 0.3 s: wait() spun"
    finally:
        hole.close()


class Handshaking:
    """A target whose handshake completes when the peer's reply (one byte) arrives."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def establish(self) -> bool:
        try:
            return self.sock.recv(1) == b"!"
        except BlockingIOError:
            return False

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_hint(self) -> int:
        return 0

    def close(self) -> None:
        self.sock.close()


def _a_handshake_reply_wakes_wait(service_factory, sock: socket.socket, peer: socket.socket) -> None:
    class Handshake(Endpoint):
        def create_target(self, addr, ctx):
            return Handshaking(sock)

    # a long step: only the handshaking socket's readiness can end the sleep early
    svc = service_factory(busy_step=1.0)
    handle = svc.register(Handshake())
    for _ in range(3):
        svc.poll()
    assert not svc.is_connected(handle)
    threading.Timer(0.2, peer.send, args=(b"!",)).start()
    started = time.monotonic()
    svc.wait(LONG)
    assert time.monotonic() - started < 0.9  # woken by the reply, not by the 1 s step
    poll_until(svc, lambda: svc.is_connected(handle), what="the handshake")
    svc.close()  # closes the target's descriptor now (the fd-0 case puts stdin back after)


def test_wait_wakes_when_a_handshake_reply_arrives(service_factory, selector_kind) -> None:
    """A target in its handshake is not in the selector, yet its descriptor wakes ``wait()``."""
    a, b = socket.socketpair()
    try:
        _a_handshake_reply_wakes_wait(service_factory, a, b)
    finally:
        b.close()


def test_a_handshake_on_descriptor_0_wakes_wait_too(service_factory, selector_kind) -> None:
    """Descriptor 0 is a descriptor like any other (a daemon without stdin gets its first socket
    there): a handshake on it wakes ``wait()`` as on any other."""
    a, b = socket.socketpair()
    saved = os.dup(0)
    zero = None
    try:
        os.dup2(a.fileno(), 0)
        a.close()
        zero = socket.socket(fileno=0)
        _a_handshake_reply_wakes_wait(service_factory, zero, b)
    finally:
        b.close()
        if zero is not None and zero.fileno() != -1:
            zero.detach()  # fd 0 is about to be stdin again: this object must not close it
        os.dup2(saved, 0)
        os.close(saved)


def test_control_call_soon_threadsafe_from_a_thread(service_factory, selector_kind) -> None:
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory(backoff=FAST)
        ep = connected(svc, peer.port)
        control = ep.control
        assert control is not None
        ran: list[int] = []
        senders: list[int] = []

        def send() -> None:
            senders.append(threading.get_ident())
            control.call_soon_threadsafe(lambda: ran.append(threading.get_ident()))

        t = threading.Thread(target=send)
        t.start()
        t.join(5.0)
        started = time.monotonic()
        svc.wait(LONG)  # returns at once: the call is queued and signalled
        assert time.monotonic() - started < LONG / 2
        poll_until(svc, lambda: bool(ran), what="the callback")
        assert ran == [threading.get_ident()] and senders[0] != ran[0]  # sent there, ran here
        assert not hasattr(ep, "_conn")  # no back-pointer into the service: the control is the way
    finally:
        peer.close()
