"""HttpEndpoint on the IOService chooses HTTP/2 or HTTP/1.1 per origin as ALPN decides (h2c with
prior knowledge), against nginx (http2, TLS and h2c), hypercorn and an HTTP/1.1-only TLS server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from boomnet.errors import ConnectionClosed, DeadlineExceeded, HttpProtocolError
from boomnet.http import HttpEndpoint
from boomnet.http.h2 import Http2Endpoint
from boomnet.service import Backoff, IOService
from boomnet.stream.base import Stream
from boomnet.stream.options import TlsOptions
from boomnet.stream.wrapper import WrappingStream
from tests.conftest import spin


def _run(ep: Any, paths: list[str], timeout: float = 20.0) -> list[Any]:
    io: IOService[Any] = IOService()
    reqs = [ep.get(p) for p in paths]
    io.register(ep)
    try:
        spin(io, lambda: all(r.done for r in reqs), timeout, "requests")
    finally:
        io.close()
    return reqs


def test_endpoint_speaks_http2_where_alpn_says_so(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    ep: HttpEndpoint[Any] = HttpEndpoint(tls_url, tls=TlsOptions(ca_file=ca_file))
    reqs = _run(ep, [f"/small?i={i}" for i in range(200)])
    assert [(r.response.body, r.response.http_version) for r in reqs] == [(b"ok", "2")] * 200
    assert ep.connections == 1  # all 200 in flight on one connection


def test_endpoint_falls_back_to_http11(h1_only_tls: str, ca_file: str) -> None:
    ep: HttpEndpoint[Any] = HttpEndpoint(h1_only_tls, tls=TlsOptions(ca_file=ca_file))
    reqs = _run(ep, ["/"] * 5)
    assert [(r.response.body, r.response.http_version) for r in reqs] == [(b"h1", "1.1")] * 5
    assert ep.connections == 1  # keep-alive: one connection, one request at a time


def test_endpoint_h2c_and_http2_off(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, h2c_url, _ = nginx_h2
    (r,) = _run(HttpEndpoint(h2c_url, h2c=True), ["/small"])
    assert (r.response.body, r.response.http_version) == (b"ok", "2")
    (r,) = _run(HttpEndpoint(tls_url, tls=TlsOptions(ca_file=ca_file), http2="off"), ["/small"])
    assert (r.response.body, r.response.http_version) == (b"ok", "1.1")


def test_a_late_http2_stream_fails_alone_even_when_nothing_arrives(hypercorn_url: str, ca_file: str) -> None:
    ep: HttpEndpoint[Any] = HttpEndpoint(hypercorn_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    io: IOService[Any] = IOService()
    io.register(ep)
    try:
        spin(io, lambda: ep.http_version == "2", 10, "connected")
        started = time.monotonic()
        late = ep.get("/slow/3000", timeout=0.3)
        spin(io, lambda: late.done, 1.5, "the late stream's deadline")  # the endpoint timer saw it
        assert isinstance(late.error, DeadlineExceeded) and time.monotonic() - started < 1.5
        ok = [ep.post("/echo", body=b"%d" % i) for i in range(20)]
        spin(io, lambda: all(r.done for r in ok), 10, "requests after the reset")
        assert [r.response.body for r in ok] == [b"%d" % i for i in range(20)]
        assert ep.connections == 1  # the reset stream did not cost the connection
    finally:
        io.close()


def test_http2_required_against_an_http11_only_server_is_a_clear_error(h1_only_tls: str, ca_file: str) -> None:
    ep = Http2Endpoint(h1_only_tls, tls=TlsOptions(ca_file=ca_file), backoff=Backoff(0.05, 1.0, 0.5))
    io: IOService[Any] = IOService()
    req = ep.get("/")
    io.register(ep)
    try:
        spin(io, lambda: req.done, 10, "the failure")
    finally:
        io.close()
    assert isinstance(req.error, HttpProtocolError) and "did not negotiate h2" in str(req.error)
    assert ep.tls.alpn == ("h2",)


def test_endpoint_rejects_h2c_without_the_option() -> None:
    from boomnet.errors import LocalError

    with pytest.raises(LocalError):
        Http2Endpoint("http://127.0.0.1:1")
    with pytest.raises(LocalError):
        HttpEndpoint("https://example.test", http2="sometimes")


def test_a_connection_lost_mid_flight_resends_idempotent_requests_once_and_fails_the_others(
        hypercorn_url: str, ca_file: str) -> None:
    ep: HttpEndpoint[Any] = HttpEndpoint(hypercorn_url, tls=TlsOptions(ca_file=ca_file), request_timeout=20)
    io: IOService[Any] = IOService()
    io.register(ep)
    try:
        spin(io, lambda: ep.http_version == "2", 10, "connected")
        gets = [ep.get("/slow/400") for _ in range(5)]
        post = ep.post("/slow/400", body=b"order")
        spin(io, lambda: ep.in_flight == 6, 5, "all six in flight")
        ep.disconnect("test: the connection dies mid-flight")
        spin(io, lambda: post.done and all(g.done for g in gets), 15, "outcomes")
        assert all(g.response is not None and g.response.body == b"slow" for g in gets)  # re-sent: idempotent
        assert [g.sends for g in gets] == [2] * 5
        assert isinstance(post.error, ConnectionClosed) and post.sends == 1  # may have been processed: never twice
        assert ep.connections == 2
    finally:
        io.close()


class Tap(WrappingStream):
    """A user's layer in the endpoint's stream stack (above TLS)."""

    seen = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        Tap.seen += data
        self.inner.write(data)


class TappedEndpoint(HttpEndpoint[Any]):
    def create_stream(self, addr: Any, alpn: Any = None) -> Stream:
        return Tap(super().create_stream(addr, alpn))


def test_a_custom_layer_in_the_endpoint_stack_sees_both_protocols(nginx_h2: tuple[str, str, Path],
                                                                  h1_only_tls: str, ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    Tap.seen.clear()
    (r,) = _run(TappedEndpoint(tls_url, tls=TlsOptions(ca_file=ca_file)), ["/small"])
    assert r.response.http_version == "2" and bytes(Tap.seen).startswith(b"PRI * HTTP/2.0\r\n")
    Tap.seen.clear()
    (r,) = _run(TappedEndpoint(h1_only_tls, tls=TlsOptions(ca_file=ca_file)), ["/"])
    assert r.response.http_version == "1.1" and bytes(Tap.seen).startswith(b"GET / HTTP/1.1\r\n")
