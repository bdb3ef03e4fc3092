"""HttpEndpoint: HTTP as an IOService endpoint kind, against aiohttp and nginx."""

from __future__ import annotations

import socket
import time

import pytest

from boomnet.errors import ConnectError, ConnectionClosed, DeadlineExceeded
from boomnet.http import HttpEndpoint, InvalidHttpRequest
from boomnet.service import IOService
from boomnet.stream.options import TlsOptions


@pytest.fixture
def io():
    service = IOService().with_backoff(0.05, 2.0, 0.2)
    yield service
    service.close()


def run_until(io: IOService, done, seconds: float = 5.0) -> None:
    """Poll the service until ``done()`` (bounded in time and count)."""
    deadline = time.monotonic() + seconds
    for _ in range(1_000_000):
        io.poll()
        if done() or time.monotonic() > deadline:
            break
        time.sleep(0.0005)  # be kind to the shared machine; the service itself never sleeps
    assert done(), "condition not reached in time"


class Recorder:
    def __init__(self) -> None:
        self.responses: list = []
        self.errors: list = []

    def kw(self) -> dict:
        return {"on_response": self.responses.append, "on_error": self.errors.append}


def test_requests_before_connect_and_keep_alive(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""))
    for _ in range(3):
        ep.get("/peer", **rec.kw())  # queued: nothing is connected yet
    assert ep.queued == 3
    io.register(ep)
    run_until(io, lambda: len(rec.responses) == 3)
    assert rec.errors == [] and len({r.text() for r in rec.responses}) == 1  # one connection
    more = ep.get("/hello", **rec.kw())  # connected and idle: written at once
    assert ep.in_flight == 1
    run_until(io, lambda: more.done)
    assert more.response.body == b"hello"


def test_pipelining_in_order(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""), pipelining=True)
    io.register(ep)
    run_until(io, lambda: io.is_connected(next(iter(io))[0]))
    reqs = [ep.get(p, **rec.kw()) for p in ["/hello", "/chunked?n=2&size=3", "/head", "/peer", "/hello"]]
    assert ep.in_flight == 5  # all on the wire before any response
    run_until(io, lambda: all(r.done for r in reqs))
    assert [r.body for r in rec.responses[:3]] == [b"hello", b"AAABBB", b"x" * 100]
    assert rec.responses[3].text().isdigit() and rec.responses[4].body == b"hello"


def test_server_close_moves_to_a_new_connection(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""))
    io.register(ep)
    first = ep.get("/peer", **rec.kw())
    ep.get("/close", **rec.kw())
    last = ep.get("/peer", **rec.kw())
    run_until(io, lambda: last.done)
    assert rec.errors == [] and first.response.text() != last.response.text()


def test_stale_connection_retried_once_for_get(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""))
    io.register(ep)
    a = ep.get("/stale", **rec.kw())
    b = ep.get("/stale", **rec.kw())  # 2nd on the connection: closed unanswered, re-sent fresh
    run_until(io, lambda: a.done and b.done)
    assert rec.errors == [] and [r.text() for r in rec.responses] == ["ok 1", "ok 1"] and b.sends == 2


def test_stale_connection_not_retried_for_post(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""))
    io.register(ep)
    a = ep.post("/stale", b"1", **rec.kw())
    b = ep.post("/stale", b"2", **rec.kw())
    run_until(io, lambda: a.done and b.done)
    assert a.response.text() == "ok 1" and isinstance(b.error, ConnectionClosed)


def test_request_deadline(io, aio_server):
    rec = Recorder()
    ep = HttpEndpoint(aio_server.url(""), check_interval=0.02)
    io.register(ep)
    slow = ep.get("/slow?delay=1", timeout=0.2, **rec.kw())
    run_until(io, lambda: slow.done)
    assert isinstance(slow.error, DeadlineExceeded)
    after = ep.get("/hello", **rec.kw())
    run_until(io, lambda: after.done)
    assert after.response.body == b"hello"


def test_tls_endpoint_against_nginx(io, nginx, ca_file):
    rec = Recorder()
    ep = HttpEndpoint(f"https://127.0.0.1:{nginx.tls_port}", tls=TlsOptions(ca_file=ca_file))
    io.register(ep)
    reqs = [ep.get("/small.txt", **rec.kw()), ep.get("/big.bin", **rec.kw())]
    run_until(io, lambda: all(r.done for r in reqs))
    assert rec.errors == [] and rec.responses[0].body == b"small file\n"
    assert rec.responses[1].body == nginx.big_content


def test_connect_failure_fails_queued_requests(io):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Recorder()
    ep = HttpEndpoint(f"http://127.0.0.1:{port}")
    req = ep.get("/", **rec.kw())
    io.register(ep)
    run_until(io, lambda: req.done)
    assert isinstance(req.error, ConnectError)


def test_invalid_request_refused_at_submission(aio_server):
    ep = HttpEndpoint(aio_server.url(""))
    with pytest.raises(InvalidHttpRequest):
        ep.get("/x\r\nInjected: 1")
    assert ep.queued == 0


def test_url_path_prefix(io, aio_server):
    ep = HttpEndpoint(aio_server.url("/status/"))
    io.register(ep)
    req = ep.get("/204")
    run_until(io, lambda: req.done)
    assert req.response.status == 204 and req.target == "/status/204"


def test_server_idle_close_then_new_request(io, aio_idle_close_server):
    server = aio_idle_close_server
    rec = Recorder()
    ep = HttpEndpoint(server.url(""))
    io.register(ep)
    first = ep.get("/peer", **rec.kw())
    run_until(io, lambda: first.done)
    closed_conn = ep._http
    # the server drops the idle connection after 0.2 s; the endpoint notices and reconnects
    run_until(io, lambda: ep._http is not None and ep._http is not closed_conn)
    second = ep.get("/peer", **rec.kw())
    run_until(io, lambda: second.done)
    assert rec.errors == [] and first.response.text() != second.response.text()
