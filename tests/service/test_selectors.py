"""One behavioural suite, run against every selector, over real socketpairs and loopback TCP."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from boomnet.service.select import (
    IoUringSelector,
    Selector,
    SelectorUnavailable,
)

from .conftest import io_uring_or_skip, make_selector


class SockTarget:
    """The minimum a selector needs: fileno() and read_hint() — with call counting."""

    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock
        if sock is not None:
            sock.setblocking(False)
        self.extra = 0
        self.pending = 0
        self.closed = False
        self.buffered_calls = 0

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def read_hint(self) -> int:
        self.buffered_calls += 1
        return self.extra or self.pending or (1 if self.closed else 0)

    def drain(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk


class Tok:
    def __init__(self, target: SockTarget, name: str = "") -> None:
        self.target = target
        self.name = name

    def __repr__(self) -> str:
        return f"Tok({self.name})"


def _make(kind: str) -> Selector:
    if kind == "io_uring":
        return io_uring_or_skip(entries=256)
    return make_selector(kind)


@pytest.fixture(params=["epoll", "direct", "io_uring"])
def selector(request):
    sel = _make(request.param)
    yield sel
    sel.close()


@pytest.fixture
def pairs():
    made: list[socket.socket] = []

    def make(n: int = 1):
        out = []
        for _ in range(n):
            a, b = socket.socketpair()
            made.extend((a, b))
            out.append((a, b))
        return out

    yield make
    for s in made:
        s.close()


def select_until(sel: Selector, pred, timeout: float = 2.0) -> list:
    """select() until ``pred(result)`` holds or the deadline passes; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        got = list(sel.select())
        if pred(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.001)


def test_nothing_registered_selects_nothing(selector):
    assert selector.select() == []
    assert len(selector) == 0


def test_readable_target_is_returned(selector, pairs):
    (a, b), (c, d) = pairs(2)
    busy, idle = Tok(SockTarget(a), "busy"), Tok(SockTarget(c), "idle")
    selector.register(busy)
    selector.register(idle)
    assert len(selector) == 2
    if selector.reports_readiness:
        assert select_until(selector, lambda r: False, timeout=0.02) == []
    b.send(b"hello")
    got = select_until(selector, lambda r: busy in r)
    assert busy in got
    if selector.reports_readiness:
        assert idle not in got
    else:
        assert idle in got
    assert busy.target.drain() == b"hello"


def test_level_triggered_until_drained(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    b.send(b"x" * 1000)
    assert tok in select_until(selector, lambda r: tok in r)
    a.recv(10)  # read only part of it: it must be reported again, poll after poll
    for _ in range(3):
        assert tok in select_until(selector, lambda r: tok in r)
    tok.target.drain()
    if selector.reports_readiness:
        assert select_until(selector, lambda r: tok not in r) == []


def test_eof_and_reset_are_reported(selector):
    srv = socket.create_server(("127.0.0.1", 0))
    try:
        port = srv.getsockname()[1]
        clients, peers = [], []
        for _ in range(2):
            c = socket.create_connection(("127.0.0.1", port))
            p, _ = srv.accept()
            clients.append(c)
            peers.append(p)
        eof, reset = Tok(SockTarget(clients[0]), "eof"), Tok(SockTarget(clients[1]), "reset")
        selector.register(eof)
        selector.register(reset)
        peers[0].close()  # FIN
        peers[1].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peers[1].close()  # RST
        got = select_until(selector, lambda r: eof in r and reset in r)
        assert eof in got and reset in got
        assert clients[0].recv(10) == b""
        with pytest.raises(ConnectionResetError):
            clients[1].recv(10)
        selector.unregister(eof)
        selector.unregister(reset)
        for c in clients:
            c.close()
    finally:
        srv.close()


def test_buffered_bytes_keep_a_returned_target_hot(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    b.send(b"tls record")
    assert tok in select_until(selector, lambda r: tok in r)
    tok.target.drain()
    tok.target.extra = 5  # e.g. decrypted TLS bytes left inside the stream
    for _ in range(3):
        assert tok in selector.select()  # no select_until: must be immediate
    tok.target.extra = 0
    if selector.reports_readiness:
        assert selector.select() == []  # emptied and not readable: cold at once


def test_pending_writes_keep_a_returned_target_hot(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    b.send(b"x")
    assert tok in select_until(selector, lambda r: tok in r)
    tok.target.drain()
    tok.target.pending = 100
    assert tok in selector.select()
    assert tok in selector.select()
    tok.target.pending = 0
    if selector.reports_readiness:
        assert selector.select() == []


def test_a_target_that_closed_itself_is_returned_again(selector, pairs):
    """A target that closed its own descriptor while being polled (a WebSocket after a close
    frame) gets no readiness event ever again: the selector must come back to it."""
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    b.send(b"close frame")
    assert tok in select_until(selector, lambda r: tok in r)
    tok.target.drain()
    tok.target.closed = True
    a.close()
    for _ in range(3):
        assert tok in selector.select()
    selector.unregister(tok)
    assert tok not in selector.select()


def test_idle_targets_cost_nothing(selector, pairs):
    """Readiness selectors never touch idle registrations: cost grows with ready ones only."""
    toks = [Tok(SockTarget(a), str(i)) for i, (a, b) in enumerate(pairs(50))]
    for t in toks:
        selector.register(t)
        t.target.buffered_calls = 0  # registration may look once (bytes already inside)
    for _ in range(20):
        selector.select()
    if selector.reports_readiness:
        assert all(t.target.buffered_calls == 0 for t in toks)


def test_descriptorless_targets_are_always_returned(selector, pairs):
    replay = Tok(SockTarget(None), "replay")
    ((a, b),) = pairs(1)
    idle = Tok(SockTarget(a), "idle")
    selector.register(replay)
    selector.register(idle)
    for _ in range(5):
        got = selector.select()
        assert got.count(replay) == 1
    replay.target.extra = 10  # buffered and always: still returned once per select
    for _ in range(3):
        assert selector.select().count(replay) == 1
    selector.unregister(replay)
    assert replay not in selector.select()
    assert len(selector) == 1


def test_unregistered_token_is_never_returned(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    b.send(b"data")
    assert tok in select_until(selector, lambda r: tok in r)
    tok.target.extra = 3  # hot as well
    selector.unregister(tok)
    assert len(selector) == 0
    for _ in range(5):
        assert tok not in selector.select()
    selector.unregister(tok)  # unknown now: ignored
    assert len(selector) == 0


def test_unregister_while_iterating_the_result_skips_nothing(selector, pairs):
    """Guard: ``unregister`` never edits the list ``select()`` handed out (issue 19). The loop
    below iterates the very list ``select()`` returned — no copy — as the IOService does."""
    socks = pairs(6)
    toks = [Tok(SockTarget(a), str(i)) for i, (a, b) in enumerate(socks)]
    for t in toks:
        selector.register(t)
    for _a, b in socks:
        b.send(b"x")
    deadline = time.monotonic() + 2.0
    while True:
        got = selector.select()  # the selector's own list
        if set(toks) <= set(got) or time.monotonic() > deadline:
            break
        time.sleep(0.001)
    assert set(toks) <= set(got)
    before = list(got)
    first = next(t for t in got if t in toks)  # the first of ours in the list
    victims = [t for t in got if t in toks and t is not first][:2]
    visited = []
    for tok in got:  # what the IOService does: dispatch, and an endpoint deregisters another
        visited.append(tok)
        if tok is first:
            for victim in victims:
                selector.unregister(victim)
    assert visited == before  # nothing skipped: the list being iterated was not edited
    assert got == before
    for t in toks:
        t.target.drain()
    remaining = select_until(selector, lambda r: False, timeout=0.02)
    assert victims[0] not in remaining and victims[1] not in remaining
    assert len(selector) == 4


def test_descriptor_number_reused_after_close(selector, pairs):
    """A target that closed its socket before unregistering must not break the fd's next owner."""
    ((a, b),) = pairs(1)
    old = Tok(SockTarget(a), "old")
    selector.register(old)
    fd = a.fileno()
    a.close()
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:  # make the new socket take the old number
            os_dup = socket.socket(fileno=__import__("os").dup2(c.fileno(), fd))
            c.close()
            c = os_dup
        assert c.fileno() == fd
        new = Tok(SockTarget(c), "new")
        selector.register(new)
        selector.unregister(old)
        d.send(b"for the new owner")
        got = select_until(selector, lambda r: new in r)
        assert new in got and old not in got
        assert new.target.drain() == b"for the new owner"
        selector.unregister(new)
    finally:
        c.close()
        d.close()


def test_many_targets_only_ready_ones(selector, pairs):
    socks = pairs(200)
    toks = [Tok(SockTarget(a), str(i)) for i, (a, b) in enumerate(socks)]
    for t in toks:
        selector.register(t)
    chosen = {7, 99, 180}
    for i in chosen:
        socks[i][1].send(b"!")
    want = {toks[i] for i in chosen}
    got = select_until(selector, lambda r: want <= set(r))
    assert want <= set(got)
    assert len(got) == len(set(got))  # each at most once
    if selector.reports_readiness:
        assert set(got) == want
    else:
        assert len(got) == 200
    for t in toks:
        selector.unregister(t)
    assert len(selector) == 0 and selector.select() == []


def test_register_after_close_of_other_targets_and_repr(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    assert type(selector).__name__ in repr(selector)
    selector.unregister(tok)
    selector.register(tok)  # again, same token
    b.send(b"again")
    assert tok in select_until(selector, lambda r: tok in r)


def test_io_uring_without_pyuring_names_the_extra_and_the_fallback(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_pyuring(name, *args):
        if name.startswith("pyuring"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_pyuring)
    with pytest.raises(SelectorUnavailable) as info:
        IoUringSelector(entries=8)
    assert "pip install boomnet[uring]" in str(info.value) and "EpollSelector" in str(info.value)


def test_io_uring_refusal_names_the_fallback():
    """Where io_uring works this checks nothing but construction; where it does not, the message."""
    try:
        sel = IoUringSelector(entries=8)
    except SelectorUnavailable as exc:
        assert "EpollSelector" in str(exc)
    else:
        sel.close()
        sel.close()  # idempotent
        assert sel.select() == []


def test_io_uring_completion_ring_overflow_loses_nothing(pairs):
    """More ready targets than completion-ring slots: the kernel's overflow list is drained too."""
    sel = io_uring_or_skip(entries=4)  # 8 completion slots
    try:
        socks = pairs(40)
        toks = [Tok(SockTarget(a), str(i)) for i, (a, b) in enumerate(socks)]
        for t in toks:
            sel.register(t)
        for _a, b in socks:
            b.send(b"x")
        seen: set = set()
        deadline = time.monotonic() + 2.0
        while len(seen) < 40 and time.monotonic() < deadline:
            for tok in sel.select():
                seen.add(tok)
                tok.target.drain()
        assert seen == set(toks)
    finally:
        sel.close()


def test_poll_soon_returns_a_quiet_target_once(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a), "quiet")
    selector.register(tok)
    for _ in range(3):
        assert (tok in selector.select()) is not selector.reports_readiness
    got = selector.select()
    selector.poll_soon(tok)
    selector.poll_soon(tok)  # idempotent until the next select()
    assert got.count(tok) == (0 if selector.reports_readiness else 1)  # the list handed out is not edited
    nxt = selector.select()
    assert nxt.count(tok) == 1
    if selector.reports_readiness:
        assert tok not in selector.select()  # once: nothing readable, no hint
        selector.poll_soon(tok)
        selector.unregister(tok)
        assert tok not in selector.select()  # unregistered wins


@pytest.fixture
def socket_at_fd0():
    """A socketpair whose first end is descriptor 0 (as in a daemon started with stdin closed,
    whose first socket gets 0), restored afterwards."""
    import os

    a, b = socket.socketpair()
    saved = os.dup(0)
    os.dup2(a.fileno(), 0)
    a.close()
    zero = socket.socket(fileno=0)
    zero.setblocking(False)
    try:
        yield zero, b
    finally:
        zero.detach()  # fd 0 is closed below by dup2, not by the socket object
        os.dup2(saved, 0)
        os.close(saved)
        b.close()


def test_descriptor_0_is_a_descriptor_like_any_other(selector, socket_at_fd0):
    """fd 0 is watched for readiness (not treated as a target without a descriptor, -1), and
    ``wait`` sleeps on it and wakes when it becomes readable; -1 in ``also`` is ignored."""
    zero, peer = socket_at_fd0
    tok = Tok(SockTarget(zero), "fd0")
    assert tok.target.fileno() == 0
    selector.register(tok)
    if selector.reports_readiness:
        for _ in range(3):
            assert tok not in selector.select()  # nothing to read: not returned
    else:
        selector.select()
    started = time.monotonic()
    selector.wait(0)  # no time left (or already past): at once, whatever is registered
    selector.wait(-0.5)
    assert time.monotonic() - started < 2.5
    started = time.monotonic()
    selector.wait(0.3, also=[-1])
    assert time.monotonic() - started >= 0.2  # it slept: fd 0 is not "always ready"
    peer.send(b"x")
    started = time.monotonic()
    selector.wait(5.0, also=[-1])
    assert time.monotonic() - started < 2.5  # woken by fd 0 becoming readable
    assert tok in select_until(selector, lambda r: tok in r)
    assert tok.target.drain() == b"x"
    selector.unregister(tok)
    assert len(selector) == 0


def test_a_selector_that_forgets_a_method_fails_loudly(pairs):
    """The base class's abstract parts raise NotImplementedError: a selector subclass missing one
    fails at once instead of silently selecting nothing or never sleeping."""

    class Forgetful(Selector):
        pass

    sel = Forgetful()
    ((a, _b),) = pairs(1)
    tok = Tok(SockTarget(a))
    with pytest.raises(NotImplementedError):
        sel.register(tok)  # -> _register_fd
    with pytest.raises(NotImplementedError):
        sel._unregister_fd(tok)
    with pytest.raises(NotImplementedError):
        sel.select()
    with pytest.raises(NotImplementedError):
        sel.wait(0.01)  # nothing ready, a real timeout: -> _block


def test_poll_soon_brings_back_only_its_own_token(selector, pairs):
    """A poll_soon() token returns from the next select(); another token of the last result with
    nothing to do (drained, no read hint) does not come back with it."""
    if not selector.reports_readiness:
        pytest.skip("n/a: direct returns every token from every select()")
    (a, pa), (b, pb) = pairs(2)
    ta, tb = Tok(SockTarget(a), "a"), Tok(SockTarget(b), "b")
    selector.register(ta)
    selector.register(tb)
    pa.send(b"x")
    pb.send(b"y")
    got = select_until(selector, lambda r: ta in r and tb in r)
    assert ta in got and tb in got
    ta.target.drain()
    tb.target.drain()
    selector.poll_soon(ta)
    got = selector.select()
    assert ta in got and tb not in got
    assert ta not in select_until(selector, lambda r: False, timeout=0.02)  # once only


def test_a_wake_is_seen_by_the_next_select_and_by_the_ones_after(selector, pairs):
    ((a, b),) = pairs(1)
    tok = Tok(SockTarget(a))
    selector.register(tok)
    selector.select()
    threading_timer = threading.Timer(0.05, lambda: b.send(b"x"))
    threading_timer.start()
    try:
        selector.wait(5.0)
        assert tok in selector.select()
        assert tok in selector.select()  # level-triggered: still unread, still ready
        assert tok.target.drain() == b"x"
    finally:
        threading_timer.join(5)


def test_epoll_asks_the_kernel_once_per_wake():
    """The events the blocking wait found serve the select() after it: one epoll_wait per wake."""
    from boomnet.service.select import EpollSelector

    a, b = socket.socketpair()
    sel = EpollSelector()
    try:
        tok = Tok(SockTarget(a))
        sel.register(tok)
        sel.select()
        calls = []
        real = sel._epoll_poll
        sel._epoll_poll = lambda *args: calls.append(args) or real(*args)
        b.send(b"x")
        sel.wait(5.0)
        assert tok in sel.select()
        assert len(calls) == 1, calls
        assert tok in sel.select() and len(calls) == 2  # the next select asks the kernel again
    finally:
        sel.close()
        a.close()
        b.close()
