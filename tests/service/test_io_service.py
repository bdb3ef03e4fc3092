"""IOService lifecycle over real loopback TCP: connect, reconnect, back-off, TTL, DNS, errors, timers."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from boomnet.errors import (
    ConnectError,
    ConnectionClosed,
    ConnectionReset,
    ConnectTimeout,
    DnsError,
    ProtocolError,
)
from boomnet.service import Backoff, DisconnectKind, Endpoint, IOService
from boomnet.stream import TcpStream
from boomnet.stream.dns import AsyncResolver

from .conftest import FakeClock, poll_for, poll_until
from .peers import TcpPeer, free_port, wait_for

FAST = Backoff(0.01, 2.0, 0.05)



class LineEndpoint(Endpoint):
    """Says ``ping`` on connect and collects everything the peer sends."""

    def __init__(self, host: str | None, port: int | None, **options) -> None:
        super().__init__(host, port, **options)
        self.buf = bytearray(65536)
        self.data = bytearray()
        self.connects = 0
        self.reasons: list = []
        self.reconnect = True
        self.fail_next_poll: Exception | None = None
        self.fail_on_connect: Exception | None = None

    def on_connected(self, stream, ctx) -> None:
        self.connects += 1
        if self.fail_on_connect is not None:
            exc, self.fail_on_connect = self.fail_on_connect, None
            raise exc
        stream.write(b"ping\n")

    def poll(self, stream, ctx) -> None:
        n = stream.recv_into(self.buf)
        if n:
            self.data += self.buf[:n]
            if ctx is not None:
                ctx.append(bytes(self.buf[:n]))
        if self.fail_next_poll is not None:
            exc, self.fail_next_poll = self.fail_next_poll, None
            raise exc

    def on_disconnect(self, reason, ctx) -> bool:
        self.reasons.append(reason)
        return self.reconnect


def test_connects_reads_writes_and_passes_context(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    handle = svc.register(ep)
    assert handle in svc and len(svc) == 1 and list(svc) == [(handle, ep)]
    assert not svc.is_connected(handle) and svc.target(handle) is None
    ctx: list[bytes] = []
    poll_until(svc, lambda: bytes(ep.data) == b"hello\nping\n", ctx, what="greeting and echo")
    assert ep.connects == 1 and ep.reasons == []
    assert svc.is_connected(handle)
    assert isinstance(svc.target(handle), TcpStream)
    assert b"".join(ctx) == b"hello\nping\n"  # the user context is passed through untouched
    assert svc.get(handle) is ep and "connected=1" in repr(svc)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_reconnects_after_server_kills_connection_mid_stream(service_factory, tcp_peer, reset):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    tcp_peer.send_all(b"mid-stream\n")
    poll_until(svc, lambda: ep.data.endswith(b"mid-stream\n"))
    assert tcp_peer.kill_all(reset=reset) == 1
    poll_until(svc, lambda: ep.connects == 2 and ep.data.endswith(b"hello\nping\n"), what="reconnect")
    assert tcp_peer.accepted == 2  # the echo proves the server accepted it
    (reason,) = ep.reasons
    assert reason.kind is DisconnectKind.CLOSED
    assert isinstance(reason.error, ConnectionReset if reset else ConnectionClosed)


def test_connect_refused_backs_off_exponentially_to_the_cap(service_factory):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 4.0))
    ep = LineEndpoint("127.0.0.1", free_port())  # nothing listens there
    svc.register(ep)
    poll_until(svc, lambda: len(ep.reasons) == 1, what="first refusal")
    assert ep.reasons[0].kind is DisconnectKind.CONNECT_FAILED
    assert isinstance(ep.reasons[0].error, ConnectError)
    for delay in (1.0, 2.0, 4.0, 4.0):  # doubling, then capped
        attempts = len(ep.reasons)
        clock.now += delay * 0.9
        poll_for(svc, 0.02)
        assert len(ep.reasons) == attempts, f"retried before {delay}s"
        clock.now += delay * 0.11
        poll_until(svc, lambda attempts=attempts: len(ep.reasons) == attempts + 1, what=f"retry after {delay}s")
    assert ep.connects == 0


def test_healthy_connection_resets_backoff(service_factory):
    clock = FakeClock()
    port = free_port()
    svc = service_factory(clock=clock, backoff=Backoff(1.0, 2.0, 8.0), healthy_after=3.0)
    ep = LineEndpoint("127.0.0.1", port)
    svc.register(ep)
    poll_until(svc, lambda: len(ep.reasons) == 1)
    clock.now += 1.0
    poll_until(svc, lambda: len(ep.reasons) == 2)  # next delay would be 2 s
    peer = TcpPeer()
    try:
        ep.port = peer.port
        clock.now += 2.0
        poll_until(svc, lambda: ep.data.endswith(b"ping\n"))  # accepted by the server too
        clock.now += 3.0  # connected for healthy_after: it proved itself
        ep.port = free_port()  # the next attempt is refused
        peer.kill_all()
        poll_until(svc, lambda: len(ep.reasons) == 4)  # the reset, then at once a refused retry
        assert ep.reasons[2].kind in (DisconnectKind.CLOSED, DisconnectKind.ERROR)
        assert ep.reasons[3].kind is DisconnectKind.CONNECT_FAILED
        clock.now += 0.9
        poll_for(svc, 0.02)
        assert len(ep.reasons) == 4  # back-off starts afresh at 1 s, not at the 4 s it had reached
        clock.now += 0.11
        poll_until(svc, lambda: len(ep.reasons) == 5)
    finally:
        peer.close()


def test_auto_disconnect_recycles_with_injected_clock(service_factory, tcp_peer, caplog):
    caplog.set_level(logging.INFO, logger="boomnet")
    clock = FakeClock()
    ttls = [100.0, 50.0, 1000.0]
    ep = LineEndpoint("127.0.0.1", tcp_peer.port, auto_disconnect=lambda: ttls.pop(0))
    svc = service_factory(clock=clock, backoff=Backoff(5.0, 2.0, 10.0))
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1 and ep.data.endswith(b"ping\n"))
    clock.now += 99.0
    poll_for(svc, 0.02)
    assert ep.connects == 1 and ep.reasons == []
    clock.now += 1.5
    # recycled and reconnected at once: no back-off for a planned disconnect
    poll_until(svc, lambda: ep.connects == 2, what="recycle")
    assert [r.kind for r in ep.reasons] == [DisconnectKind.EXPIRED]
    # the log says how long the connection lived, on the service's clock
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records if "auto-disconnect" in r.getMessage()] \
        == ["auto-disconnect after 100.5s"]
    wait_for(lambda: tcp_peer.eofs == 1, what="the server to see the recycled connection end")
    clock.now += 50.5  # the supplier gave 50 s for the second connection
    poll_until(svc, lambda: ep.connects == 3)
    assert [r.kind for r in ep.reasons] == [DisconnectKind.EXPIRED] * 2
    wait_for(lambda: tcp_peer.accepted == 3, what="the third accept")


class FailingLookup:
    def done(self) -> bool:
        return True

    def result(self):
        raise DnsError("no such host: exchange.invalid")


class NeverLookup:
    def done(self) -> bool:
        return False


class ScriptedResolver:
    """Answers per host: 'fail', 'hang', or delegates to a real AsyncResolver."""

    def __init__(self, behaviour: dict[str, str]) -> None:
        self.behaviour = behaviour
        self.real = AsyncResolver()
        self.calls: list[str] = []

    def start(self, host, port, *, timeout):
        self.calls.append(host)
        mode = self.behaviour.get(host)
        if mode == "fail":
            return FailingLookup()
        if mode == "hang":
            return NeverLookup()
        return self.real.start(host, port, timeout=timeout)


def test_dns_failure_is_a_connect_failure_and_is_retried(service_factory, tcp_peer):
    resolver = ScriptedResolver({"exchange.invalid": "fail"})
    svc = service_factory(resolver=resolver, backoff=FAST)
    ep = LineEndpoint("exchange.invalid", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: len(ep.reasons) >= 2, what="two failed resolutions")
    assert all(r.kind is DisconnectKind.CONNECT_FAILED and isinstance(r.error, DnsError) for r in ep.reasons)
    ep.host = "localhost"  # the name starts resolving (through /etc/hosts)
    poll_until(svc, lambda: ep.connects == 1, what="connect after the name resolves")
    assert "localhost" in resolver.calls


def test_dns_timeout_does_not_stall_other_endpoints(service_factory, tcp_peer):
    resolver = ScriptedResolver({"slow.invalid": "hang"})
    svc = service_factory(resolver=resolver, dns_timeout=0.2, backoff=Backoff(10.0, 2.0, 10.0))
    slow = LineEndpoint("slow.invalid", tcp_peer.port)
    fast = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(slow)
    svc.register(fast)
    poll_until(svc, lambda: fast.data.endswith(b"ping\n"), what="the fast endpoint")
    assert slow.reasons == []  # still resolving while the other one works
    poll_until(svc, lambda: slow.reasons, what="the DNS timeout")
    (reason,) = slow.reasons
    assert reason.kind is DisconnectKind.CONNECT_FAILED
    assert isinstance(reason.error, DnsError) and "timed out" in str(reason.error)


def _hanging_resolver(release: threading.Event) -> AsyncResolver:
    """A real AsyncResolver whose getaddrinfo takes far longer than the deadline."""
    import inspect

    def hanging(host, port, family=0, type=0, *args):
        release.wait(5.0)
        raise OSError("released")

    if "getaddrinfo" in inspect.signature(AsyncResolver).parameters:  # the stream layer's new API
        return AsyncResolver(max_threads=1, getaddrinfo=hanging)

    class SlowAsyncResolver(AsyncResolver):  # the old one: no injection point but _run
        def _run(self) -> None:
            lookup = self._queue.get()
            release.wait(5.0)
            lookup._finish([], None)

    return SlowAsyncResolver(workers=1)


def test_real_slow_resolver_thread_is_abandoned_at_the_deadline(service_factory, tcp_peer):
    release = threading.Event()
    resolver = _hanging_resolver(release)
    svc = service_factory(resolver=resolver, dns_timeout=0.1, backoff=Backoff(10.0, 2.0, 10.0))
    ep = LineEndpoint("slow.example", tcp_peer.port)
    svc.register(ep)
    try:
        poll_until(svc, lambda: ep.reasons, what="the DNS deadline")
    finally:
        release.set()
    assert isinstance(ep.reasons[0].error, DnsError)


def test_user_exception_in_poll_is_logged_and_reconnects(service_factory, tcp_peer, caplog):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    ep.fail_next_poll = RuntimeError("bug in strategy code")
    with caplog.at_level(logging.ERROR, logger="boomnet.service"):
        tcp_peer.send_all(b"tick\n")
        poll_until(svc, lambda: ep.connects == 2, what="reconnect after the user error")
    (reason,) = ep.reasons
    assert reason.kind is DisconnectKind.USER_ERROR and isinstance(reason.error, RuntimeError)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors, "the user exception was swallowed silently"
    record = errors[0]
    assert "LineEndpoint" in record.getMessage() and f"127.0.0.1:{tcp_peer.port}" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_raise_policy_reraises_out_of_poll_then_recovers(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST, on_error="raise")
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    ep.fail_next_poll = KeyError("missing symbol")
    tcp_peer.send_all(b"tick\n")
    with pytest.raises(KeyError, match="missing symbol"):
        poll_until(svc, lambda: False, timeout=5.0)
    # the service stayed consistent: the endpoint is told and reconnects on later polls
    poll_until(svc, lambda: ep.connects == 2)
    assert ep.reasons[0].kind is DisconnectKind.USER_ERROR


def test_boomnet_error_in_poll_is_an_error_disconnect_without_traceback(service_factory, tcp_peer, caplog):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    ep.fail_next_poll = ProtocolError("garbled message")
    with caplog.at_level(logging.WARNING, logger="boomnet.service"):
        tcp_peer.send_all(b"tick\n")
        poll_until(svc, lambda: ep.connects == 2)
    assert ep.reasons[0].kind is DisconnectKind.ERROR
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("garbled message" in r.getMessage() for r in caplog.records)


def test_exception_in_on_connected_disconnects(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    ep.fail_on_connect = ValueError("bad subscription")
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 2 and ep.data.endswith(b"ping\n"))
    assert ep.reasons[0].kind is DisconnectKind.USER_ERROR


def test_on_disconnect_false_drops_the_endpoint(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    ep.reconnect = False
    handle = svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    tcp_peer.kill_all()
    poll_until(svc, lambda: handle not in svc, what="the endpoint to be dropped")
    assert len(svc) == 0 and ep.connects == 1
    svc.register(ep)  # it may be registered again afterwards
    poll_until(svc, lambda: ep.connects == 2)


def test_deregister_closes_the_target_even_from_inside_poll(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST)
    a = LineEndpoint("127.0.0.1", tcp_peer.port)
    b = LineEndpoint("127.0.0.1", tcp_peer.port)
    ha, hb = svc.register(a), svc.register(b)
    poll_until(svc, lambda: a.data.endswith(b"ping\n") and b.data.endswith(b"ping\n"))
    assert svc.deregister(ha) is a
    # no poll() after deregister: the connection must be released by deregister itself
    wait_for(lambda: tcp_peer.eofs == 1, what="EOF at the server")
    assert ha not in svc and a.reasons == []

    class Quitter(LineEndpoint):
        def poll(self, stream, ctx):
            super().poll(stream, ctx)
            if self.data.endswith(b"bye\n"):
                svc.deregister(hb)

    # swap the class to get a deregister from inside dispatch
    b.__class__ = Quitter
    svc.disconnect(hb)  # REQUESTED: reconnects at once, now as a Quitter
    poll_until(svc, lambda: b.connects == 2 and b.data.count(b"ping\n") == 2)  # accepted: echoed
    tcp_peer.send_all(b"bye\n")
    poll_until(svc, lambda: hb not in svc, what="deregister from inside poll")
    wait_for(lambda: tcp_peer.eofs == 3, what="EOF of the deregistered connection")
    assert [r.kind for r in b.reasons] == [DisconnectKind.REQUESTED]
    poll_for(svc, 0.02)
    assert len(svc) == 0


def test_create_target_none_means_try_later(service_factory, tcp_peer):
    clock = FakeClock()

    class NotYet(LineEndpoint):
        asked = 0

        def create_target(self, addr, ctx):
            self.asked += 1
            return None if self.asked < 3 else super().create_target(addr, ctx)

    svc = service_factory(clock=clock, backoff=Backoff(2.0, 2.0, 8.0))
    ep = NotYet("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.asked == 1)
    poll_for(svc, 0.02)
    assert ep.asked == 1
    for expected in (2, 3):
        clock.now += 2.0  # the throttle stays at the initial delay
        poll_until(svc, lambda expected=expected: ep.asked == expected)
    poll_until(svc, lambda: ep.connects == 1)
    assert ep.reasons == []  # "not now" is not a disconnect


def test_connect_timeout_of_the_service(service_factory):
    silent = TcpPeer(greeting=b"", echo=False)

    class NeverReady(Endpoint):
        reasons: list = []

        def create_target(self, addr, ctx):
            return Stalled(TcpStream.connect_addr(*addr))

        def on_disconnect(self, reason, ctx):
            self.reasons.append(reason)
            return False

    class Stalled:
        def __init__(self, inner):
            self.inner = inner

        def establish(self):
            self.inner.establish()
            return False  # a handshake that never completes

        def fileno(self):
            return self.inner.fileno()

        def read_hint(self):
            return 0

        def close(self):
            self.inner.close()

    try:
        svc = service_factory(connect_timeout=0.1)
        ep = NeverReady("127.0.0.1", silent.port)
        ep.reasons = []
        svc.register(ep)
        poll_until(svc, lambda: ep.reasons)
        assert isinstance(ep.reasons[0].error, ConnectTimeout)
        assert len(svc) == 0
    finally:
        silent.close()


def test_timers_run_only_while_connected(service_factory, tcp_peer):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(5.0, 2.0, 5.0))
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    fired: list[float] = []

    def heartbeat(stream, ctx):
        fired.append(clock.now)
        stream.write(b"hb\n")

    timer = ep.every(10.0, heartbeat)
    svc.register(ep)
    poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
    start = clock.now
    clock.now += 9.0
    poll_for(svc, 0.02)
    assert fired == []
    clock.now += 1.0
    poll_until(svc, lambda: len(fired) == 1)
    clock.now += 10.0
    poll_until(svc, lambda: len(fired) == 2)
    poll_until(svc, lambda: ep.data.count(b"hb\n") == 2, what="heartbeats echoed")
    assert fired == [start + 10.0, start + 20.0]
    tcp_peer.kill_all()
    poll_until(svc, lambda: ep.reasons)
    clock.now += 4.0  # disconnected (back-off 5 s): the timer's slot passes silently
    poll_for(svc, 0.02)
    assert len(fired) == 2
    clock.now += 1.0
    poll_until(svc, lambda: ep.connects == 2)
    clock.now += 10.0
    poll_until(svc, lambda: len(fired) == 3)  # restarted interval after the reconnect
    timer.cancel()
    clock.now += 30.0
    poll_for(svc, 0.02)
    assert len(fired) == 3


def test_timer_added_while_connected_and_timer_errors(service_factory, tcp_peer):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)

    def broken(stream, ctx):
        raise ZeroDivisionError("in a timer")

    ep.every(1.0, broken)
    clock.now += 1.0
    poll_until(svc, lambda: ep.reasons)
    assert ep.reasons[0].kind is DisconnectKind.USER_ERROR


def test_many_endpoint_types_on_one_service(service_factory, tcp_peer):
    class Counter(Endpoint):
        def __init__(self, host, port):
            super().__init__(host, port)
            self.bytes = 0

        def poll(self, stream, ctx):
            self.bytes += stream.recv_into(bytearray(1024))

    svc = service_factory(backoff=FAST)
    lines, counter = LineEndpoint("127.0.0.1", tcp_peer.port), Counter("127.0.0.1", tcp_peer.port)
    svc.register(lines)
    svc.register(counter)
    poll_until(svc, lambda: lines.data.endswith(b"ping\n") and counter.bytes == len(b"hello\n"))


def test_two_hundred_endpoints_on_one_service(service_factory, tcp_peer):
    svc = service_factory(backoff=FAST)
    eps = [LineEndpoint("127.0.0.1", tcp_peer.port) for _ in range(200)]
    for ep in eps:
        svc.register(ep)
    poll_until(svc, lambda: all(ep.data.endswith(b"ping\n") for ep in eps), timeout=10.0, what="200 connects")
    tcp_peer.send_all(b"tick\n")
    poll_until(svc, lambda: all(ep.data.endswith(b"tick\n") for ep in eps), timeout=10.0, what="200 ticks")
    waker = 1 if svc.selector.reports_readiness else 0  # call_soon_threadsafe's waker (not in direct)
    assert len(svc.selector) == 200 + waker and tcp_peer.accepted == 200
    assert all(ep.reasons == [] for ep in eps)


def test_register_twice_and_bad_options_are_refused():
    ep = Endpoint("127.0.0.1", 1)
    with IOService() as svc:
        svc.register(ep)
        with pytest.raises(ValueError):
            svc.register(ep)
    with pytest.raises(ValueError):
        IOService(on_error="ignore")
    with pytest.raises(ValueError):
        Backoff(2.0, 2.0, 1.0)
    with pytest.raises(ValueError):
        ep.every(0, lambda t, c: None)


def test_fluent_configuration_and_into_io_service(tcp_peer):
    from boomnet.service import EpollSelector

    clock = FakeClock()
    svc = (
        EpollSelector()
        .into_io_service()
        .with_clock(clock)
        .with_backoff(0.01, 2.0, 0.05)
        .with_dns_timeout(1.0)
        .with_connect_timeout(5.0)
        .with_check_every(1)
        .with_error_policy("reconnect")
    )
    with svc:
        ep = LineEndpoint("127.0.0.1", tcp_peer.port)
        svc.register(ep)
        poll_until(svc, lambda: ep.connects == 1)
    wait_for(lambda: tcp_peer.eofs == 1, what="close() to close the connection")


def test_default_check_every_still_notices_due_work(tcp_peer):
    svc = IOService(backoff=FAST)  # default check_every: the clock is read every few polls only
    try:
        ep = LineEndpoint("127.0.0.1", tcp_peer.port)
        svc.register(ep)
        poll_until(svc, lambda: ep.data.endswith(b"ping\n"))
        tcp_peer.kill_all()
        poll_until(svc, lambda: ep.connects == 2)
    finally:
        svc.close()
    time.sleep(0)


def test_ipv6_loopback_endpoint(service_factory):
    try:
        peer = TcpPeer(host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        svc = service_factory(backoff=FAST)
        ep = LineEndpoint("::1", peer.port)
        assert repr(ep) == f"<LineEndpoint [::1]:{peer.port}>"
        svc.register(ep)
        poll_until(svc, lambda: bytes(ep.data) == b"hello\nping\n")
    finally:
        peer.close()


def test_a_timer_added_before_the_connection_starts_with_it_once(service_factory, tcp_peer):
    """``every()`` on a registered endpoint that is not connected yet: the timer starts at the
    connect, once (not also from the moment it was added)."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    fired: list[float] = []
    ep.every(10.0, lambda stream, ctx: fired.append(clock.now))  # registered, not yet connected
    poll_until(svc, lambda: ep.connects == 1)
    start = clock.now
    clock.now += 10.0
    poll_until(svc, lambda: fired)
    poll_for(svc, 0.02)
    assert fired == [start + 10.0]
    clock.now += 10.0
    poll_until(svc, lambda: len(fired) == 2)
    poll_for(svc, 0.02)
    assert fired == [start + 10.0, start + 20.0]


def test_a_late_timer_keeps_its_schedule_and_never_bursts(service_factory, tcp_peer):
    """Fired late (housekeeping ran after its due time), a timer's next run stays on its own
    schedule (due + interval); more than one interval late, it runs once and goes on from now."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    fired: list[float] = []
    ep.every(10.0, lambda stream, ctx: fired.append(clock.now))
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    start = clock.now
    clock.now = start + 13.0  # 3 s late
    poll_until(svc, lambda: len(fired) == 1)
    clock.now = start + 20.0  # on schedule again: due 10 + 10
    poll_until(svc, lambda: len(fired) == 2)
    clock.now = start + 45.0  # two intervals missed: one run, no catch-up burst
    poll_until(svc, lambda: len(fired) == 3)
    poll_for(svc, 0.02)
    assert fired == [start + 13.0, start + 20.0, start + 45.0]
    clock.now = start + 54.9
    poll_for(svc, 0.02)
    assert len(fired) == 3
    clock.now = start + 55.0  # from now (45) + 10
    poll_until(svc, lambda: len(fired) == 4)


@pytest.mark.parametrize("policy", ["reconnect", "raise"])
def test_a_bug_while_connecting_follows_the_error_policy(service_factory, policy: str, caplog):
    """An exception out of endpoint code while connecting (here ``create_target``) is re-raised out
    of ``poll()`` under ``on_error="raise"``, and only logged (then retried) by default."""

    class Buggy(Endpoint):
        attempts = 0

        def create_target(self, addr, ctx):
            self.attempts += 1
            raise ZeroDivisionError("a bug in create_target")

    svc = service_factory(backoff=FAST, on_error=policy)
    ep = Buggy()
    svc.register(ep)
    if policy == "raise":
        with pytest.raises(ZeroDivisionError, match="a bug in create_target"):
            poll_until(svc, lambda: False, timeout=5.0)
    else:
        with caplog.at_level(logging.ERROR, logger="boomnet.service"):
            poll_until(svc, lambda: ep.attempts >= 2, what="a retry after the bug")
        assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


def test_a_timer_due_with_one_that_failed_the_connection_does_not_run(service_factory, tcp_peer):
    """Two timers due at once: the first raises (the connection is dying), so the second, due at
    the same instant, is not called on the dying connection."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=Backoff(60.0, 2.0, 60.0))
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    ran: list[str] = []

    def broken(stream, ctx):
        ran.append("broken")
        raise ZeroDivisionError("in a timer")

    ep.every(10.0, broken)
    ep.every(10.0, lambda stream, ctx: ran.append("second"))
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    clock.now += 10.0
    poll_until(svc, lambda: ep.reasons)
    poll_for(svc, 0.02)
    assert ran == ["broken"]
    assert ep.reasons[0].kind is DisconnectKind.USER_ERROR


def test_raise_policy_reraises_a_timer_error_out_of_poll(service_factory, tcp_peer):
    """A timer's exception (raised inside housekeeping, so deferred) comes out of ``poll()`` under
    ``on_error="raise"``; the connection is dropped and comes back."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST, on_error="raise")
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)

    def broken(stream, ctx):
        raise ZeroDivisionError("in a timer, raise policy")

    ep.every(1.0, broken)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    clock.now += 1.0
    with pytest.raises(ZeroDivisionError, match="raise policy"):
        poll_until(svc, lambda: False, timeout=5.0)
    assert ep.reasons and ep.reasons[0].kind is DisconnectKind.USER_ERROR


def test_a_timer_exactly_one_interval_late_runs_once(service_factory, tcp_peer):
    """Housekeeping reaching a timer one whole interval late (due + interval == now) runs it once
    and schedules the next run an interval from now, not again at once."""
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    fired: list[float] = []
    ep.every(10.0, lambda stream, ctx: fired.append(clock.now))
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    start = clock.now
    clock.now = start + 20.0  # due at 10, reached at 20
    poll_until(svc, lambda: fired)
    poll_for(svc, 0.02)
    assert fired == [start + 20.0]
    clock.now = start + 30.0
    poll_until(svc, lambda: len(fired) == 2)


def test_a_timer_added_while_connected_first_runs_one_interval_later(service_factory, tcp_peer):
    clock = FakeClock()
    svc = service_factory(clock=clock, backoff=FAST)
    ep = LineEndpoint("127.0.0.1", tcp_peer.port)
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 1)
    fired: list[float] = []
    start = clock.now
    ep.every(5.0, lambda stream, ctx: fired.append(clock.now))
    poll_for(svc, 0.02)
    clock.now = start + 4.999
    poll_for(svc, 0.02)
    assert fired == []
    clock.now = start + 5.0
    poll_until(svc, lambda: fired == [start + 5.0])
