"""Http2Endpoint on the IOService against nginx (HTTP/2 over TLS): many requests in flight,
requests made while disconnected, GOAWAY after 1,000 requests handled without loss or repeats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from boomnet.errors import LocalError
from boomnet.http.h2 import Http2Endpoint
from boomnet.service import Backoff, IOService
from boomnet.stream.options import TlsOptions
from tests.conftest import spin as _shared_spin


def spin(io: IOService[Any], cond: Any, timeout: float = 30.0, what: str = "condition") -> None:
    _shared_spin(io, cond, timeout, what)





def test_requests_before_connect_and_across_goaways(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    io: IOService[Any] = IOService()
    ep = Http2Endpoint(tls_url, tls=TlsOptions(ca_file=ca_file), request_timeout=60, backoff=Backoff(0.01, 2.0, 0.1))
    early = [ep.get(f"/small?early={i}") for i in range(10)]  # not registered yet: they wait
    io.register(ep)
    try:
        spin(io, lambda: all(p.done for p in early), what="early requests")
        assert all(p.response is not None and p.response.body == b"ok" for p in early)
        done: list[int] = []
        reqs = [ep.get(f"/small?i={i}", on_response=lambda r, i=i: done.append(i)) for i in range(2500)]
        spin(io, lambda: all(p.done for p in reqs), timeout=60, what="2,500 requests")
        errors = [p.error for p in reqs if p.error is not None]
        assert errors == []
        assert sorted(done) == list(range(2500))  # each answered once (nginx GOAWAYs every 1,000)
        assert ep.connections >= 3  # the server really did end connections
        assert max(p.sends for p in reqs) >= 1
    finally:
        io.close()


def test_h2c_needs_prior_knowledge() -> None:
    with pytest.raises(LocalError):
        Http2Endpoint("http://127.0.0.1:1")
