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
    with pytest.raises(DnsError, match="no-such-host.invalid"):
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
