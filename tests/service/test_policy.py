"""The reconnect policy and what endpoint code may do to its own connection, over real loopback
TCP with a hand-driven clock: healthy vs unhealthy closes, address rotation, a hung DNS next to a
healthy endpoint, ``prepare()`` off the loop thread, ``Endpoint.disconnect()`` from a timer and
from ``poll()``. No speed is asserted; counts of attempts are, within bounded (fake) time."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from boomnet.errors import ConnectError, DnsError, LocalError
from boomnet.service import Backoff, DisconnectKind, Endpoint, IOService, ServiceOptions

from .conftest import FakeClock, poll_for, poll_until
from .peers import TcpPeer, free_port, wait_for
from .test_io_service import LineEndpoint, NeverLookup

K = DisconnectKind


class AcceptAndClose:
    """A server that accepts every connection and closes it at once (a rate limiter, a venue in
    maintenance). Counts accepts."""

    def __init__(self) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(0.05)
        self.port = self.srv.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.srv.close()


@pytest.fixture
def closer():
    peer = AcceptAndClose()
    yield peer
    peer.close()


def test_a_server_that_closes_at_once_gets_backoff_not_a_storm(service_factory, closer):
    """Guard: a CLOSED end of an UNHEALTHY connection backs off (issue 19)."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 30.0), healthy_after=3.0)
    ep = LineEndpoint("127.0.0.1", closer.port)
    handle = svc.register(ep)
    attempts_at: list[float] = []
    seen = 0
    start = clock.now
    while clock.now - start < 40.0:  # 40 s of fake time, in 0.25 s steps
        poll_for(svc, 0.003)
        # every connection the server closed is seen closed before the clock moves: it lasted 0 s
        poll_until(svc, lambda: not svc.is_connected(handle), what="the close")
        if ep.connects > seen:
            attempts_at.extend([clock.now] * (ep.connects - seen))
            seen = ep.connects
        clock.now += 0.25
    assert ep.reasons and all(r.kind in (K.CLOSED, K.ERROR) for r in ep.reasons)
    # 0, 1, 3, 7, 15, 31 s: six attempts in 40 s (a storm would make one per step or more)
    assert 4 <= len(attempts_at) <= 7, attempts_at
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:])]
    assert all(later >= earlier for earlier, later in zip(gaps, gaps[1:])), gaps  # growing
    assert gaps[0] >= 1.0


def test_an_unhealthy_close_does_not_reconnect_at_once(service_factory, tcp_peer):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 30.0), healthy_after=3.0)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    clock.now += 2.9  # not yet healthy
    tcp_peer.kill_all()
    poll_until(svc, lambda: ep.reasons, what="the close")
    poll_for(svc, 0.05)
    assert ep.connects == 1  # the clock did not move: no reconnect yet
    clock.now += 1.0
    poll_until(svc, lambda: ep.connects == 2, what="the reconnect after back-off")


def test_a_healthy_close_reconnects_at_once(service_factory, tcp_peer):
    """Issue 10: a clean server close of a healthy connection costs no back-off gap."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 30.0), healthy_after=3.0)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    for n in (1, 2, 3):  # and again: each healthy connection resets the count
        poll_until(svc, lambda n=n: ep.connects == n and ep.data.count(b"hello\n") == n)
        clock.now += 3.0
        tcp_peer.kill_all()
        poll_until(svc, lambda n=n: len(ep.reasons) == n, what="the close")
        assert ep.reasons[-1].kind is K.CLOSED
    poll_until(svc, lambda: ep.connects == 4, what="an immediate reconnect (the clock is frozen)")


def test_rotation_to_the_next_address_on_retry_wraps(service_factory, tcp_peer):
    """Guard: a retry uses the next resolved address, and wraps round (issue 19)."""
    refused, refused2 = free_port(), free_port()
    addrs = [(socket.AF_INET, ("127.0.0.1", p)) for p in (refused, tcp_peer.port, refused2)]

    class Lookup:
        def done(self) -> bool:
            return True

        def result(self):
            return list(addrs)

    class TwoAddresses:
        def start(self, host, port, *, timeout):
            return Lookup()

    class Recorder(LineEndpoint):
        def __init__(self) -> None:
            super().__init__("feed.example", 1)
            self.tried: list[int] = []

        def create_target(self, addr, ctx):
            self.tried.append(addr[1][1])
            return super().create_target(addr, ctx)

    clock = FakeClock()
    svc = service_factory(clock=clock, resolver=TwoAddresses(), backoff=Backoff(1.0, 2.0, 30.0))
    ep = Recorder()
    handle = svc.register(ep)
    poll_until(svc, lambda: ep.reasons, what="the refusal")
    assert isinstance(ep.reasons[0].error, ConnectError)
    clock.now += 1.0
    poll_until(svc, lambda: ep.connects == 1, what="the second address")
    assert ep.tried == [refused, tcp_peer.port]
    svc.disconnect(handle)  # reconnects at once, to the third address
    poll_until(svc, lambda: len(ep.reasons) == 3, what="the third address refused")
    assert ep.tried == [refused, tcp_peer.port, refused2]
    clock.now += 1.0  # the connection was not healthy: back-off goes on (2 s)
    poll_for(svc, 0.02)
    assert len(ep.tried) == 3
    clock.now += 1.0
    poll_until(svc, lambda: len(ep.reasons) == 4, what="the wrapped attempt refused")
    assert ep.tried == [refused, tcp_peer.port, refused2, refused]  # wrapped round
    assert [r.kind for r in ep.reasons] == [K.CONNECT_FAILED, K.REQUESTED, K.CONNECT_FAILED, K.CONNECT_FAILED]


def test_hung_dns_next_to_a_healthy_endpoint(service_factory, tcp_peer):
    """One name never resolves: the other endpoint connects and flows; the hung one times out per
    dns_timeout, retries with back-off, and never piles up lookups (the one still running is
    reused)."""

    class Literal:
        def done(self) -> bool:
            return True

        def result(self):
            return [(socket.AF_INET, ("127.0.0.1", tcp_peer.port))]

    class HangsForOneName:
        def __init__(self) -> None:
            self.starts: list[str] = []

        def start(self, host, port, *, timeout):
            self.starts.append(host)
            return NeverLookup() if host == "hang.example" else Literal()

    resolver = HangsForOneName()
    clock = FakeClock()
    svc = service_factory(clock=clock, resolver=resolver, dns_timeout=1.0, backoff=Backoff(1.0, 2.0, 30.0))
    hung = LineEndpoint("hang.example", tcp_peer.port)
    healthy = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(hung)
    svc.register(healthy)
    poll_until(svc, lambda: b"hello\n" in healthy.data, what="the healthy endpoint")
    tcp_peer.send_all(b"tick\n")
    poll_until(svc, lambda: healthy.data.endswith(b"tick\n"), what="data on the healthy endpoint")
    timeouts_at = []
    for _ in range(60):  # 30 s of fake time
        clock.now += 0.5
        before = len(hung.reasons)
        poll_for(svc, 0.003)
        if len(hung.reasons) > before:
            timeouts_at.append(clock.now)
    assert all(r.kind is K.CONNECT_FAILED and isinstance(r.error, DnsError) for r in hung.reasons)
    assert all("timed out" in str(r.error) for r in hung.reasons)
    # timeout after 1 s, back-off 1, 2, 4, 8 between attempts: at 1, 3, 6, 11, 20 s
    assert 4 <= len(timeouts_at) <= 6, timeouts_at
    gaps = [b - a for a, b in zip(timeouts_at, timeouts_at[1:])]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert resolver.starts.count("hang.example") == 1  # one lookup, reused by every retry while it runs
    assert healthy.connects == 1 and healthy.reasons == []


def test_prepare_runs_off_the_loop_thread_and_stalls_nobody(service_factory, tcp_peer):
    loop_thread = threading.get_ident()
    release = threading.Event()
    ran_on: list[int] = []

    class SlowPrepare(LineEndpoint):
        def prepare(self) -> None:
            ran_on.append(threading.get_ident())
            release.wait(2.0)  # 2 s if it ran on the loop thread: the gaps below would show it

    class Flowing(LineEndpoint):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            self.polled: list[float] = []

        def poll(self, stream, ctx) -> None:
            self.polled.append(time.monotonic())
            super().poll(stream, ctx)

    svc = service_factory()
    healthy = Flowing("127.0.0.1", tcp_peer.port)
    svc.register(healthy)
    poll_until(svc, lambda: b"hello\n" in healthy.data)
    slow = SlowPrepare("127.0.0.1", tcp_peer.port)
    svc.register(slow)
    poll_until(svc, lambda: bool(ran_on), what="prepare() to start")
    gaps: list[float] = []
    last = time.monotonic()
    for i in range(20):  # data flows on the healthy endpoint while prepare() sleeps
        tcp_peer.send_all(b"x%d\n" % i)
        poll_until(svc, lambda i=i: healthy.data.endswith(b"x%d\n" % i), what="data during prepare()")
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    assert slow.connects == 0  # still preparing: it waited for prepare(), as it must
    release.set()
    poll_until(svc, lambda: slow.connects == 1, what="connect after prepare()")
    assert ran_on[0] != loop_thread
    assert max(gaps) < 1.0, f"a poll stalled {max(gaps):.3f}s"  # generous: 2 s if prepare blocked


def test_prepare_failure_is_a_connect_failure(service_factory, tcp_peer):
    class Broken(LineEndpoint):
        def prepare(self) -> None:
            raise ConnectError("no key file")

    svc = service_factory(backoff=Backoff(0.01, 2.0, 0.05))
    ep = Broken("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: len(ep.reasons) >= 2, what="two failed prepares")
    assert all(r.kind is K.CONNECT_FAILED and "no key file" in str(r.error) for r in ep.reasons)
    assert ep.connects == 0


def test_stream_endpoint_builds_its_tls_context_in_prepare(monkeypatch, service_factory):
    from boomnet.service import StreamEndpoint, stream_endpoint
    from boomnet.stream.options import TlsOptions

    built: list[tuple[TlsOptions, int]] = []
    monkeypatch.setattr(stream_endpoint, "tls_context", lambda opts: built.append((opts, threading.get_ident())))
    plain = StreamEndpoint("127.0.0.1", 1, secure=False)
    plain.prepare()
    assert built == []
    ep = StreamEndpoint("127.0.0.1", 1, secure=True, ca_file="ca.pem", verify=True)
    ep.prepare()
    (opts, _), = built
    assert opts.ca_file == "ca.pem" and opts.server_hostname == "127.0.0.1"
    with pytest.raises(TypeError):
        StreamEndpoint("127.0.0.1", 1, secure=True, ca_fil="typo.pem")


def test_stream_endpoint_keeps_options_a_subclass_set_before_super_init():
    """Compat for subclasses still passing the loose keywords (ws today)."""
    from boomnet.service import StreamEndpoint
    from boomnet.stream.options import TcpOptions, TlsOptions

    class Old(StreamEndpoint):
        def __init__(self) -> None:
            self.tcp = TcpOptions(keepalive=None)
            self.tls = TlsOptions(alpn=("h2",), handshake_timeout=3.0)
            super().__init__("h", 1, secure=True, ca_file="x.pem", connect_timeout=2.0)

    ep = Old()
    assert ep.tcp == TcpOptions(keepalive=None, connect_timeout=2.0)
    assert ep.tls == TlsOptions(alpn=("h2",), handshake_timeout=3.0, ca_file="x.pem")
    new = StreamEndpoint("h", 1, secure=True, tcp=TcpOptions(nodelay=False), tls=TlsOptions(verify=False), bind=("127.0.0.1", 0))
    assert new.tcp == TcpOptions(nodelay=False, bind=("127.0.0.1", 0)) and new.verify is False and new.bind == ("127.0.0.1", 0)


class Watchdog(LineEndpoint):
    """Disconnects itself when no data arrived for ``stale_after`` seconds of the service clock."""

    def __init__(self, port: int, stale_after: float) -> None:
        super().__init__("127.0.0.1", port)
        self.stale_after = stale_after
        self.last_data = 0.0
        self.every(0.5, self.check)

    def on_connected(self, stream, ctx) -> None:
        super().on_connected(stream, ctx)
        assert self.control is not None
        self.last_data = self.control.now()

    def check(self, stream, ctx) -> None:
        assert self.control is not None
        if self.control.now() - self.last_data > self.stale_after:
            self.disconnect("stale feed")

    def poll(self, stream, ctx) -> None:
        before = len(self.data)
        super().poll(stream, ctx)
        if len(self.data) > before and self.control is not None:
            self.last_data = self.control.now()
        if self.data.endswith(b"bye\n"):
            self.disconnect("told to leave")


def test_watchdog_disconnects_itself_from_a_timer(service_factory):
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        clock = FakeClock()
        svc = service_factory(clock=clock)
        ep = Watchdog(peer.port, stale_after=2.0)
        handle = svc.register(ep)
        poll_until(svc, lambda: svc.is_connected(handle))
        assert ep.control is not None and ep.control.handle == handle and ep.control.is_connected()
        clock.now += 1.0
        poll_for(svc, 0.02)
        assert ep.reasons == []
        clock.now += 1.5
        poll_until(svc, lambda: ep.reasons, what="the watchdog")
        assert ep.reasons[0].kind is K.REQUESTED and ep.reasons[0].reason == "stale feed"
        poll_until(svc, lambda: ep.connects == 2, what="an immediate reconnect")
        wait_for(lambda: peer.eofs >= 1, what="the server to see the first connection end")
    finally:
        peer.close()


def test_endpoint_disconnects_itself_from_poll(service_factory):
    peer = TcpPeer(greeting=b"", echo=False)
    try:
        svc = service_factory()
        ep = Watchdog(peer.port, stale_after=1e9)
        svc.register(ep)
        poll_until(svc, lambda: ep.connects == 1)
        wait_for(lambda: peer.accepted == 1, what="the accept")
        peer.send_all(b"bye\n")
        poll_until(svc, lambda: ep.reasons, what="the disconnect from poll()")
        assert ep.reasons[0].kind is K.REQUESTED and ep.reasons[0].reason == "told to leave"
        assert "told to leave" in str(ep.reasons[0])
        poll_until(svc, lambda: ep.connects == 2)
    finally:
        peer.close()


def test_control_is_cleared_and_disconnect_unregistered_is_a_noop(service_factory, tcp_peer, caplog):
    svc = service_factory()
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    ep.disconnect("nobody listens")  # not registered: logged, nothing else
    handle = svc.register(ep)
    with pytest.raises(ValueError):
        svc.register(ep)
    poll_until(svc, lambda: svc.is_connected(handle))
    assert svc.target(handle) is not None
    ep.control.deregister()  # type: ignore[union-attr]
    assert ep.control is None and handle not in svc
    sibling = LineEndpoint("127.0.0.1", tcp_peer.port)
    other = LineEndpoint("127.0.0.1", tcp_peer.port)
    h2 = svc.register(other)
    h3 = other.control.register(sibling)  # type: ignore[union-attr]
    assert h3 != h2 and svc.get(h3) is sibling
    poll_until(svc, lambda: sibling.connects == 1)


def test_service_options_are_validated():
    with pytest.raises(TypeError):
        IOService(dns_timout=1.0)  # misspelt
    for bad in ({"dns_timeout": 0}, {"healthy_after": -1}, {"on_error": "ignore"}, {"check_every": 0},
                {"busy_step": float("inf")}, {"connect_timeout": float("nan")}):
        with pytest.raises(LocalError):
            ServiceOptions(**bad)
    with pytest.raises(LocalError):
        Backoff(2.0, 2.0, 1.0)
    opts = ServiceOptions(healthy_after=5.0)
    svc = IOService(options=opts, check_every=2)
    try:
        assert svc.options.healthy_after == 5.0 and svc.options.check_every == 2
    finally:
        svc.close()


def test_endpoint_without_host_skips_dns_and_gets_no_address(service_factory, tcp_peer):
    """How an accepted connection is registered: create_target returns a ready stream."""
    from boomnet.stream import TcpStream

    class Accepted(LineEndpoint):
        def create_target(self, addr, ctx):
            assert addr is None
            return TcpStream.connect_addr(socket.AF_INET, ("127.0.0.1", tcp_peer.port))

    class NoResolver:
        def start(self, host, port, *, timeout):
            raise AssertionError("no DNS for host=None")

    svc = service_factory(resolver=NoResolver())
    ep = Accepted(None, None)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    assert Endpoint.describe(ep) == "-"


def test_poll_soon_from_another_endpoints_handler(service_factory, tcp_peer):
    silent = TcpPeer(greeting=b"", echo=False)

    class Quiet(LineEndpoint):
        polls = 0

        def poll(self, stream, ctx) -> None:
            self.polls += 1
            super().poll(stream, ctx)

    quiet = Quiet("127.0.0.1", silent.port)

    class Trigger(LineEndpoint):
        def poll(self, stream, ctx) -> None:
            super().poll(stream, ctx)
            if self.data.endswith(b"go\n") and quiet.control is not None:
                quiet.control.poll_soon()
                quiet.control.poll_soon()  # idempotent within one poll

    trigger = Trigger("127.0.0.1", tcp_peer.port)
    try:
        svc = service_factory()
        svc.register(quiet)
        svc.register(trigger)
        poll_until(svc, lambda: quiet.connects == 1 and b"ping\n" in trigger.data)
        wait_for(lambda: tcp_peer.accepted == 1 and silent.accepted == 1, what="the accepts")
        for _ in range(50):
            svc.poll()
        before = quiet.polls
        for _ in range(20):
            svc.poll()
        if not svc.selector.reports_readiness:
            pytest.skip("n/a: direct visits every target on every poll; poll_soon is moot there")
        assert quiet.polls == before  # nothing readable: not polled
        tcp_peer.send_all(b"go\n")
        poll_until(svc, lambda: trigger.data.endswith(b"go\n"))
        poll_until(svc, lambda: quiet.polls == before + 1, what="the poll_soon visit")
        for _ in range(20):
            svc.poll()
        assert quiet.polls == before + 1  # once
    finally:
        silent.close()


def test_close_stops_the_resolver_and_the_prepare_threads(tcp_peer):
    class ClosingResolver:
        closed = 0

        def start(self, host, port, *, timeout):
            class Done:
                def done(self) -> bool:
                    return True

                def result(self):
                    return [(socket.AF_INET, ("127.0.0.1", tcp_peer.port))]

            return Done()

        def close(self) -> None:
            self.closed += 1

    class Prepared(LineEndpoint):
        def prepare(self) -> None:
            pass

    def prepare_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("boomnet-prepare")}

    before = prepare_threads()  # other tests' services may still have theirs
    resolver = ClosingResolver()
    svc = IOService(resolver=resolver, check_every=1)
    ep = Prepared("feed.example", 1)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    ours = prepare_threads() - before
    assert ours, "prepare() ran on no thread of its own"
    svc.close()
    svc.close()  # idempotent
    assert resolver.closed == 1 and len(svc) == 0 and ep.control is None
    wait_for(lambda: not any(t.is_alive() for t in ours), what="this service's prepare threads to stop")


class Gate:
    """A lookup, or a prepare(), that finishes when the test says so."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.open = threading.Event()
        self.starts = 0

    def start(self, host, port, *, timeout):
        self.starts += 1
        return self

    def done(self) -> bool:
        return self.open.is_set()

    def result(self):
        return [(socket.AF_INET, ("127.0.0.1", self.port))]


def test_dns_deadline_is_exact(service_factory, tcp_peer):
    gate = Gate(tcp_peer.port)
    clock = FakeClock()
    svc = service_factory(clock=clock, resolver=gate, dns_timeout=2.0)
    ep = LineEndpoint("feed.example", 1)
    svc.register(ep)
    t0 = clock.now
    poll_for(svc, 0.01)
    clock.now = t0 + 1.5
    poll_for(svc, 0.01)
    assert ep.reasons == []
    clock.now = t0 + 2.0  # exactly the deadline: timed out
    poll_until(svc, lambda: ep.reasons, what="the DNS deadline")
    assert isinstance(ep.reasons[0].error, DnsError)


def test_prepare_deadline_is_connect_timeout_and_exact(service_factory, tcp_peer):
    release = threading.Event()

    class Slow(LineEndpoint):
        def prepare(self) -> None:
            release.wait(5.0)

    clock = FakeClock()
    svc = service_factory(clock=clock, connect_timeout=2.0)
    ep = Slow("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    t0 = clock.now
    try:
        poll_for(svc, 0.01)
        clock.now = t0 + 1.5
        poll_for(svc, 0.01)
        assert ep.reasons == []  # a slow prepare() within connect_timeout is not a failure
        clock.now = t0 + 2.0
        poll_until(svc, lambda: ep.reasons, what="the prepare deadline")
        (reason,) = ep.reasons
        assert reason.kind is K.CONNECT_FAILED and "prepare() did not finish" in str(reason.error)
    finally:
        release.set()


def test_endpoint_without_host_still_prepares_first(service_factory, tcp_peer):
    from boomnet.stream import TcpStream

    class Accepted(LineEndpoint):
        ready = False

        def prepare(self) -> None:
            time.sleep(0.05)
            self.ready = True

        def create_target(self, addr, ctx):
            assert self.ready, "create_target before prepare() finished"
            return TcpStream.connect_addr(socket.AF_INET, ("127.0.0.1", tcp_peer.port))

    svc = service_factory()
    ep = Accepted(None, None)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1 or bool(ep.reasons))
    assert ep.reasons == [] and ep.connects == 1


def test_disconnect_while_resolving_makes_one_target(service_factory, tcp_peer):
    gate = Gate(tcp_peer.port)

    class Counting(LineEndpoint):
        created = 0

        def create_target(self, addr, ctx):
            self.created += 1
            return super().create_target(addr, ctx)

    svc = service_factory(resolver=gate)
    ep = Counting("feed.example", 1)
    handle = svc.register(ep)
    poll_for(svc, 0.01)
    svc.disconnect(handle, "changed my mind")  # while resolving: retried at once, same lookup
    poll_until(svc, lambda: len(ep.reasons) == 1)
    poll_for(svc, 0.01)
    gate.open.set()
    poll_until(svc, lambda: ep.connects == 1)
    poll_for(svc, 0.05)
    assert ep.created == 1 and gate.starts == 1 and ep.reasons[0].reason == "changed my mind"


def test_disconnect_while_backing_off_is_a_noop(service_factory):
    clock = FakeClock()
    svc = service_factory(clock=clock)
    ep = LineEndpoint("127.0.0.1", free_port())
    handle = svc.register(ep)
    poll_until(svc, lambda: ep.reasons)
    svc.disconnect(handle)  # nothing to disconnect: no second on_disconnect
    ep.disconnect("again")
    poll_for(svc, 0.02)
    assert len(ep.reasons) == 1


def test_on_disconnect_raising_is_reraised_with_the_raise_policy(service_factory):
    class Buggy(LineEndpoint):
        def on_disconnect(self, reason, ctx) -> bool:
            super().on_disconnect(reason, ctx)
            raise KeyError("bug in on_disconnect")

    svc = service_factory(on_error="raise")
    ep = Buggy("127.0.0.1", free_port())
    svc.register(ep)
    with pytest.raises(KeyError):
        poll_until(svc, lambda: False, timeout=3.0)
    assert len(ep.reasons) == 1


def test_a_healthy_connection_ending_in_a_bug_still_backs_off(service_factory, tcp_peer):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 30.0), healthy_after=3.0)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    clock.now += 5.0  # healthy
    ep.fail_next_poll = RuntimeError("bug in strategy code")
    tcp_peer.send_all(b"x\n")
    poll_until(svc, lambda: ep.reasons, what="the bug")
    assert ep.reasons[0].kind is K.USER_ERROR
    poll_for(svc, 0.05)
    assert ep.connects == 1  # a bug repeats: not an immediate reconnect
    clock.now += 1.0  # but the back-off starts afresh (the connection was healthy)
    poll_until(svc, lambda: ep.connects == 2)


@pytest.mark.parametrize("fd, level", [(0, logging.WARNING), (5, logging.WARNING), (-1, logging.INFO)])
def test_a_closed_feed_is_a_warning_a_finished_replay_is_not(fd: int, level: int, caplog) -> None:
    """The end of a connection with a descriptor (any, 0 included) is worth a warning; the end
    of a target without one (a replay, fileno -1) is expected and logged at INFO."""
    from boomnet.errors import ConnectionClosed

    from .conftest import make_selector

    class FdTarget:
        def establish(self) -> bool:
            return True

        def fileno(self) -> int:
            return fd

        def read_hint(self) -> int:
            return 0

        def close(self) -> None:
            pass

    class Ends(Endpoint):
        def create_target(self, addr, ctx):
            return FdTarget()

        def poll(self, target, ctx) -> None:
            raise ConnectionClosed("the feed went away")

    # the direct selector: a made-up descriptor is never handed to the kernel
    svc = IOService(make_selector("direct"), check_every=1, backoff=Backoff(60.0, 2.0, 60.0))
    try:
        ep = Ends()
        with caplog.at_level(logging.INFO, logger="boomnet.service"):
            svc.register(ep)
            poll_until(svc, lambda: any("the feed went away" in r.getMessage() for r in caplog.records))
        levels = [r.levelno for r in caplog.records if "the feed went away" in r.getMessage()]
        assert levels[:1] == [level]
    finally:
        svc.close()


def test_disconnect_while_establishing_leaves_one_connection(caplog) -> None:
    """``disconnect()`` during a slow establish reconnects at once with a new target; the first
    attempt's pending establish is dropped (not advanced again on the new target)."""
    from .conftest import make_selector

    made: list[SlowTarget] = []

    class SlowTarget:
        def __init__(self) -> None:
            self.calls = 0
            self.closed = False

        def establish(self) -> bool:
            self.calls += 1
            return self.calls >= 4

        def fileno(self) -> int:
            return -1

        def read_hint(self) -> int:
            return 0

        def close(self) -> None:
            self.closed = True

    class Slow(Endpoint):
        connects = 0

        def create_target(self, addr, ctx):
            made.append(SlowTarget())
            return made[-1]

        def on_connected(self, target, ctx) -> None:
            self.connects += 1

        def poll(self, target, ctx) -> None:
            pass

    svc = IOService(make_selector("direct"), check_every=1, backoff=Backoff(60.0, 2.0, 60.0))
    try:
        ep = Slow()
        svc.register(ep)
        poll_until(svc, lambda: made and made[0].calls >= 1, what="the first establish")
        ep.disconnect("again")
        steps = []
        for _ in range(20):  # check_every=1: every poll runs housekeeping, which advances once
            svc.poll(None)
            if len(made) == 2:
                steps.append(made[1].calls)
            if ep.connects:
                break
        assert steps == [1, 2, 3, 4]  # one establish per pass: the dropped attempt's entry is not run
        poll_for(svc, 0.05)
        assert ep.connects == 1 and len(made) == 2
        assert made[0].closed and not made[1].closed and made[1].calls == 4
    finally:
        svc.close()


def test_connect_timeout_is_exact_at_its_deadline() -> None:
    """A target that never finishes establishing: still trying at deadline - 1 ms, a ConnectTimeout
    at the deadline itself (hand-moved clock)."""
    from boomnet.errors import ConnectTimeout

    from .conftest import make_selector

    class Never:
        def establish(self) -> bool:
            return False

        def fileno(self) -> int:
            return -1

        def read_hint(self) -> int:
            return 0

        def close(self) -> None:
            pass

    class Hanging(Endpoint):
        reasons: list = []

        def create_target(self, addr, ctx):
            return Never()

        def on_disconnect(self, reason, ctx) -> bool:
            self.reasons.append(reason)
            return False

    clock = FakeClock()
    svc = IOService(make_selector("direct"), check_every=1, clock=clock, connect_timeout=5.0)
    try:
        ep = Hanging()
        svc.register(ep)
        poll_for(svc, 0.02)  # establishing since clock.now
        start = clock.now
        clock.now = start + 4.999
        poll_for(svc, 0.02)
        assert ep.reasons == []
        clock.now = start + 5.0
        poll_until(svc, lambda: ep.reasons, what="the connect timeout")
        assert isinstance(ep.reasons[0].error, ConnectTimeout)
    finally:
        svc.close()


class _Paired:
    """A target on one end of a socketpair whose handshake the test scripts."""

    def __init__(self, sock: socket.socket, establish) -> None:
        self.sock, self._establish = sock, establish

    def establish(self) -> bool:
        return self._establish()

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_hint(self) -> int:
        return 0

    def close(self) -> None:
        self.sock.close()


def test_a_disconnect_then_a_failed_handshake_in_one_pass_is_one_disconnect(service_factory, selector_kind) -> None:
    """B is asked to disconnect (from A's on_connected) while its handshake is under way, and the
    same housekeeping pass then sees B's handshake fail: B is torn down once, not twice (the
    disconnect request left behind is stale by then and must be ignored)."""
    pairs = [socket.socketpair() for _ in range(2)]
    state = {"b_tries": 0, "asked": False}
    reasons: list = []
    handles: dict = {}

    def a_ready() -> bool:
        return state["b_tries"] >= 1  # A connects only once B is surely in its handshake

    def b_handshake() -> bool:
        state["b_tries"] += 1
        if state["asked"]:
            raise ConnectionRefusedError("refused after the disconnect request")
        return False

    class A(Endpoint):
        def create_target(self, addr, ctx):
            return _Paired(pairs[0][0], a_ready)

        def on_connected(self, target, ctx) -> None:
            svc.disconnect(handles["b"])
            state["asked"] = True

        def poll(self, target, ctx) -> None:
            pass

    class B(Endpoint):
        def create_target(self, addr, ctx):
            return _Paired(pairs[1][0], b_handshake)

        def on_disconnect(self, reason, ctx) -> bool:
            reasons.append(reason)
            return True  # stays registered (a removed record would hide a second teardown)

    svc = service_factory(connect_timeout=30.0, backoff=Backoff(5.0, 2.0, 10.0))  # no retry within the test
    try:
        handles["a"] = svc.register(A())
        handles["b"] = svc.register(B())
        poll_until(svc, lambda: reasons, what="B torn down")
        poll_for(svc, 0.05)
        assert len(reasons) == 1, reasons
    finally:
        for x, y in pairs:
            x.close()
            y.close()
