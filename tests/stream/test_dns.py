"""boomnet.stream.dns: literals skip DNS, failures and timeouts are DnsError, lookups never block."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from boomnet.errors import DnsError
from boomnet.stream import dns


def test_ip_literals_skip_dns(monkeypatch) -> None:
    assert dns.resolve("127.0.0.1", 80) == [(socket.AF_INET, ("127.0.0.1", 80))]
    assert dns.resolve_literal("::1", 443)[0][0] == socket.AF_INET6
    assert dns.resolve_literal("localhost", 80) is None


def test_localhost_resolves() -> None:
    addrs = dns.resolve("localhost", 8080, timeout=3)
    assert addrs and all(sockaddr[1] == 8080 for _family, sockaddr in addrs)


def test_unknown_name_is_dns_error() -> None:
    with pytest.raises(DnsError, match=r"no-such-host.invalid"):
        dns.resolve("no-such-host.invalid", 80, timeout=3)


def test_slow_lookup_times_out_and_async_handle_never_blocks(monkeypatch) -> None:
    release = threading.Event()
    real = socket.getaddrinfo

    def slow_getaddrinfo(host, *args, **kwargs):
        if len(args) >= 5 and args[4] & socket.AI_NUMERICHOST:
            return real(host, *args, **kwargs)  # the literal check: not a literal
        if host == "slow.example":
            release.wait(5)  # a resolver that hangs (until the test lets it go)
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(dns.socket, "getaddrinfo", slow_getaddrinfo)
    resolver = dns.AsyncResolver(workers=2)
    try:
        lookup = resolver.start("slow.example", 80, timeout=0.2)
        assert not lookup.done()
        with pytest.raises(DnsError, match="timed out"):
            dns.resolve("slow.example", 80, timeout=0.1)
        end = time.monotonic() + 3
        while not lookup.done() and time.monotonic() < end:
            time.sleep(0.01)
        assert lookup.done()
        with pytest.raises(DnsError, match="timed out"):
            lookup.result()
    finally:
        release.set()


def test_async_resolver_success_and_failure() -> None:
    resolver = dns.AsyncResolver()
    ok = resolver.start("localhost", 443, timeout=3)
    bad = resolver.start("no-such-host.invalid", 443, timeout=3)
    assert ok.wait()
    with pytest.raises(DnsError):
        bad.wait()
    literal = resolver.start("127.0.0.1", 1, timeout=3)
    assert literal.done() and literal.result() == [(socket.AF_INET, ("127.0.0.1", 1))]


# --- the resolver policy: coalesced, one thread per name, bounded in total -----------------------


class ScriptedGetaddrinfo:
    """A getaddrinfo whose named hosts hang until released; every other name answers at once."""

    def __init__(self, *hung: str):
        self.gates = {name: threading.Event() for name in hung}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, host, port, family=0, type=0, *rest):
        with self._lock:
            self.calls[host] = self.calls.get(host, 0) + 1
        gate = self.gates.get(host)
        if gate is not None:
            assert gate.wait(10), "the test never released the hung name"
        return socket.getaddrinfo("127.0.0.1", port, socket.AF_INET, type)

    def release(self) -> None:
        for gate in self.gates.values():
            gate.set()


def wait_done(lookup, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not lookup.done():
        assert time.monotonic() < end, "lookup never finished"
        time.sleep(0.002)


def wait_for(cond, what: str, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_hung_name_holds_one_thread_however_often_it_is_retried() -> None:
    gai = ScriptedGetaddrinfo("hung.example")
    resolver = dns.AsyncResolver(max_threads=4, getaddrinfo=gai)
    try:
        for _ in range(25):  # an endpoint retrying after every DNS timeout
            lookup = resolver.start("hung.example", 443, timeout=0.02)
            wait_done(lookup)
            with pytest.raises(DnsError, match="timed out"):
                lookup.result()
        assert gai.calls == {"hung.example": 1}  # never re-started while it still runs
        assert resolver.thread_count == 1 and resolver.resolving == ["hung.example"]
        # Healthy names next to it resolve promptly, each on its own short-lived thread.
        for i in range(10):
            assert resolver.start(f"ok{i}.example", 80, timeout=2).wait()[0][1] == ("127.0.0.1", 80)
        wait_for(lambda: resolver.thread_count == 1, "the healthy lookups' threads to end")
    finally:
        gai.release()
        resolver.close()
    assert resolver.thread_count == 0


def test_concurrent_lookups_of_one_name_share_one_getaddrinfo() -> None:
    gai = ScriptedGetaddrinfo("feed.example")
    resolver = dns.AsyncResolver(getaddrinfo=gai)
    try:
        lookups = [resolver.start("feed.example", 9443, timeout=3) for _ in range(5)]
        other_port = resolver.start("feed.example", 80, timeout=3)  # another key: its own lookup
        wait_for(lambda: gai.calls.get("feed.example") == 2, "both keys to start")
        assert not any(x.done() for x in lookups)
        gai.release()
        for lookup in lookups:
            assert lookup.wait() == [(socket.AF_INET, ("127.0.0.1", 9443))]
        assert other_port.wait() == [(socket.AF_INET, ("127.0.0.1", 80))]
        assert gai.calls == {"feed.example": 2}
    finally:
        gai.release()
        resolver.close()


def test_a_late_answer_serves_whoever_waits_then() -> None:
    gai = ScriptedGetaddrinfo("slow.example")
    resolver = dns.AsyncResolver(getaddrinfo=gai)
    try:
        first = resolver.start("slow.example", 80, timeout=0.02)
        wait_done(first)
        second = resolver.start("slow.example", 80, timeout=3)  # joins the running call
        gai.release()
        assert second.wait() == [(socket.AF_INET, ("127.0.0.1", 80))]
        assert gai.calls == {"slow.example": 1}
    finally:
        resolver.close()


@pytest.mark.parametrize("hung", [1, 2, 3])  # limit - 2, limit - 1, limit (max_threads=3)
def test_hung_names_below_the_limit_leave_a_thread_for_a_healthy_one(hung: int) -> None:
    names = [f"hung{i}.example" for i in range(hung)]
    gai = ScriptedGetaddrinfo(*names)
    resolver = dns.AsyncResolver(max_threads=3, getaddrinfo=gai)
    try:
        for name in names:
            resolver.start(name, 80, timeout=0.05)
        wait_for(lambda: len(gai.calls) == hung, "the hung lookups to start")
        healthy = resolver.start("healthy.example", 80, timeout=0.3)
        if hung < resolver.max_threads:
            assert healthy.wait() == [(socket.AF_INET, ("127.0.0.1", 80))]
        else:  # every thread is held by a hung name: the healthy one waits, and says why
            with pytest.raises(DnsError, match="waiting for a resolver thread: 3 names resolving"):
                healthy.wait()
            assert "healthy.example" not in gai.calls
            assert resolver.thread_count == 3  # the bound held
            gai.gates["hung0.example"].set()  # a thread frees up: the next lookup gets it
            assert resolver.start("healthy.example", 80, timeout=3).wait()
    finally:
        gai.release()
        resolver.close()


def test_close_fails_waiting_lookups_and_refuses_new_ones() -> None:
    gai = ScriptedGetaddrinfo("hung.example", "queued.example")
    resolver = dns.AsyncResolver(max_threads=1, getaddrinfo=gai)
    running = resolver.start("hung.example", 80, timeout=5)
    queued = resolver.start("queued.example", 80, timeout=5)
    wait_for(lambda: gai.calls.get("hung.example") == 1, "the first lookup to start")
    resolver.close(timeout=0.05)  # the hung thread cannot be interrupted; close() must not hang
    for lookup in (running, queued):
        assert lookup.done()
        with pytest.raises(DnsError, match="closed"):
            lookup.result()
    with pytest.raises(DnsError, match="closed"):
        resolver.start("other.example", 80, timeout=1).result()
    assert "queued.example" not in gai.calls  # no thread started after close
    gai.release()
    wait_for(lambda: resolver.thread_count == 0, "the hung thread to end once getaddrinfo returns")


def test_max_threads_must_be_positive() -> None:
    with pytest.raises(ValueError):
        dns.AsyncResolver(max_threads=0)


def test_result_before_done_is_an_error_not_a_guess() -> None:
    gai = ScriptedGetaddrinfo("slow.example")
    resolver = dns.AsyncResolver(getaddrinfo=gai)
    try:
        lookup = resolver.start("slow.example", 80, timeout=5)
        with pytest.raises(DnsError, match="still in progress"):
            lookup.result()
    finally:
        gai.release()
        resolver.close()


def test_no_addresses_is_a_dns_error() -> None:
    resolver = dns.AsyncResolver(getaddrinfo=lambda *args: [])
    try:
        with pytest.raises(DnsError, match="no addresses"):
            resolver.start("empty.example", 80, timeout=3).wait()
    finally:
        resolver.close()


def test_close_waits_for_lookups_that_finish_within_its_timeout() -> None:
    gai = ScriptedGetaddrinfo("brief.example")
    resolver = dns.AsyncResolver(getaddrinfo=gai)
    resolver.start("brief.example", 80, timeout=5)
    wait_for(lambda: resolver.thread_count == 1, "the lookup to start")
    threading.Timer(0.1, gai.release).start()  # getaddrinfo returns 0.1 s into close()
    resolver.close(timeout=3)
    assert resolver.thread_count == 0


def test_the_total_bound_holds_as_threads_free_up() -> None:
    gai = ScriptedGetaddrinfo("a.example", "b.example", "c.example")
    resolver = dns.AsyncResolver(max_threads=1, getaddrinfo=gai)
    try:
        lookups = [resolver.start(f"{n}.example", 80, timeout=5) for n in "abc"]
        wait_for(lambda: gai.calls == {"a.example": 1}, "a to start")
        gai.gates["a.example"].set()
        wait_for(lambda: "b.example" in gai.calls, "b to get the freed thread")
        assert lookups[0].wait()
        assert resolver.thread_count == 1 and "c.example" not in gai.calls  # c still waits
        gai.gates["b.example"].set()
        wait_for(lambda: "c.example" in gai.calls, "c to get the thread")
        gai.gates["c.example"].set()
        assert all(x.wait() for x in lookups)
    finally:
        gai.release()
        resolver.close()
