"""RpcClientEndpoint on the IOService against an asyncio server written from the documented
envelope layout (tests/rpc/envelope_peer.py), and boomnet's own RpcServerEndpoint."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from boomnet.errors import CallCancelled, CallLost, DeadlineExceeded
from boomnet.rpc import Call, Request, RpcClientEndpoint, RpcError, RpcServerEndpoint, streaming
from boomnet.service import Backoff, IOService

from .envelope_peer import EnvelopePeer
from tests.conftest import spin as _shared_spin


def spin(io: IOService[Any], cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    _shared_spin(io, cond, timeout, what)



@pytest.fixture
def peer() -> Iterator[EnvelopePeer]:
    p = EnvelopePeer()
    yield p
    p.close()




def client(port: int) -> RpcClientEndpoint:
    return RpcClientEndpoint("127.0.0.1", port, backoff=Backoff(0.05, 2.0, 0.5))


def test_out_of_order_replies_reach_their_callers(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    try:
        held = [ep.call("hold", b"%d" % i, timeout=5) for i in range(50)]
        rel = ep.call("release", timeout=5)
        spin(io, lambda: rel.done and all(c.done for c in held), what="replies")
        assert [c.result for c in held] == [b"%d" % i for i in range(50)]  # answered in reverse
    finally:
        io.close()


def test_ten_thousand_calls_in_flight(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    try:
        spin(io, lambda: io.is_connected(next(iter(io))[0]), what="connect")
        calls = [ep.call("hold", b"%d" % i, timeout=30) for i in range(10_000)]
        assert ep.rpc.in_flight == 10_000
        rel = ep.call("release", timeout=30)
        spin(io, lambda: rel.done and all(c.done for c in calls), timeout=30, what="10k replies")
        assert all(c.result == b"%d" % i for i, c in enumerate(calls))
        assert ep.rpc.in_flight == 0 and ep.rpc.unknown == 0
    finally:
        io.close()


def test_deadlines_racing_replies_never_misdeliver(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    rng = random.Random(7)
    try:
        spin(io, lambda: io.is_connected(next(iter(io))[0]), what="connect")
        # deadline 0.4 s, server delays 0-800 ms: about half race past it, and the quick ones
        # still beat it on a loaded machine (a 0.1 s deadline saw all 400 expire under load 4)
        calls = [(ms, ep.call(f"slow:{ms}", b"%d" % i, timeout=0.4)) for i, ms in
                 enumerate(rng.randint(0, 800) for _ in range(400))]
        spin(io, lambda: all(c.done for _, c in calls), what="all decided")
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:  # let the late replies arrive
            io.poll()
        expired = [c for _, c in calls if isinstance(c.error, DeadlineExceeded)]
        answered = [(i, c) for i, (_, c) in enumerate(calls) if c.error is None]
        assert expired and answered  # both outcomes happened
        assert all(c.result == b"%d" % i for i, c in answered)  # no reply ever went to another call
        assert ep.rpc.late == len(expired)  # every late reply was dropped and counted
        assert {c.id for c in expired} <= set(peer.cancels)  # and the server was told
    finally:
        io.close()


def test_cancel_mid_stream_stops_the_server(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    try:
        got: list[bytes] = []
        s = ep.stream("stream:100000", on_item=lambda call, item: got.append(item), timeout=30)
        spin(io, lambda: len(got) >= 20, what="first items")
        ep.cancel(s)
        assert isinstance(s.error, CallCancelled)
        spin(io, lambda: s.id in peer.cancels, what="cancel at the server")
        n = len(got)
        t_end = time.monotonic() + 0.2
        while time.monotonic() < t_end:
            io.poll()
        assert len(got) == n  # nothing after the cancel reached the consumer
        done = ep.stream("stream:5", timeout=5)
        spin(io, lambda: done.done, what="a whole stream")
        assert list(done.items) == [b"0", b"1", b"2", b"3", b"4"] and done.ended
    finally:
        io.close()


def test_server_killed_with_calls_pending_fails_them_at_once(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    try:
        spin(io, lambda: io.is_connected(next(iter(io))[0]), what="connect")
        pending = [ep.call("hold", timeout=60) for _ in range(100)]
        spin(io, lambda: peer.requests >= 100, what="requests at the server")
        t0 = time.monotonic()
        peer.kill_connections()
        spin(io, lambda: all(c.done for c in pending), timeout=5, what="calls failed")
        assert time.monotonic() - t0 < 1.0  # at once, not at the 60 s deadline
        assert all(isinstance(c.error, CallLost) and c.error.maybe_executed for c in pending)
        assert len(ep.lost) == 100
        # made while reconnecting: not executed yet, sent once the client is back
        later = ep.call("echo", b"after", timeout=10)
        spin(io, lambda: later.done, what="call after reconnect")
        assert later.result == b"after"
    finally:
        io.close()


def test_server_errors_are_errors(peer: EnvelopePeer) -> None:
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    try:
        c = ep.call("fail", timeout=5)
        spin(io, lambda: c.done)
        assert isinstance(c.error, RpcError) and "it failed" in str(c.error)
    finally:
        io.close()


def test_boomnet_server_unary_streaming_errors_and_slow_readers() -> None:
    cancelled: list[int] = []

    def quote(req: Request) -> bytes:
        return b"quote:" + req.payload

    def later(req: Request) -> None:
        answers.append(req)  # answered from a timer below

    def boom(req: Request) -> bytes:
        raise ValueError("bad symbol")

    def ticks(req: Request) -> Iterator[bytes]:
        try:
            for i in range(int(req.payload)):
                yield b"t%06d" % i + b"x" * 1000
        finally:
            cancelled.append(req.id)

    answers: list[Request] = []
    server = RpcServerEndpoint("127.0.0.1", 0, handlers={"quote": quote, "later": later, "boom": boom,
                                                         "ticks": streaming(ticks)})
    io = IOService()
    io.register(server)
    spin(io, lambda: server.address is not None, what="listening")
    ep = client(server.address[1])
    io.register(ep)
    try:
        q = ep.call("quote", b"BTC", timeout=5)
        lt = ep.call("later", timeout=5)
        bad = ep.call("boom", timeout=5)
        missing = ep.call("nope", timeout=5)
        spin(io, lambda: q.done and bad.done and missing.done and answers, what="unary")
        answers[0].reply(b"done later")
        spin(io, lambda: lt.done)
        assert (q.result, lt.result) == (b"quote:BTC", b"done later")
        assert isinstance(bad.error, RpcError) and "bad symbol" in str(bad.error)
        assert isinstance(missing.error, RpcError) and "no such method" in str(missing.error)
        # a stream of 20 MB to a consumer that collects: flows through the send budget
        items: list[bytes] = []
        big = ep.stream("ticks", b"20000", on_item=lambda call, item: items.append(item), timeout=30)
        spin(io, lambda: big.done, timeout=30, what="big stream")
        assert big.ended and len(items) == 20000 and items[-1].startswith(b"t019999")
        # cancel mid-stream: the handler's finally runs
        part: list[bytes] = []
        s = ep.stream("ticks", b"1000000", on_item=lambda call, item: part.append(item), timeout=30)
        spin(io, lambda: len(part) > 100, what="partial stream")
        ep.cancel(s)
        spin(io, lambda: s.id in cancelled, what="handler stopped")
    finally:
        io.close()


def test_calls_from_a_callback_chain(peer: EnvelopePeer) -> None:
    """Completion callbacks run on the loop thread and may start more calls."""
    io = IOService()
    ep = client(peer.port)
    io.register(ep)
    results: list[bytes] = []
    try:
        def next_call(call: Call) -> None:
            results.append(call.result)
            if len(results) < 100:
                ep.call("echo", b"%d" % len(results), timeout=5, callback=next_call)

        ep.call("echo", b"0", timeout=5, callback=next_call)
        spin(io, lambda: len(results) == 100, what="100 chained calls")
        assert results == [b"%d" % i for i in range(100)]
    finally:
        io.close()
