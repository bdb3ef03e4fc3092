"""ZmqPublisher on the IOService against plain pyzmq SUB / PULL peers on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest
import zmq

from boomnet.bus.zmq import ZmqPublisher
from boomnet.errors import LocalError, SendBufferFull
from boomnet.service import IOService
from tests.conftest import free_port
from tests.conftest import spin as _shared_spin


def _spin(io: IOService[Any], cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    _shared_spin(io, cond, timeout, what)





def test_pub_to_an_independent_sub() -> None:
    port = free_port()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"md.")
    sub.setsockopt(zmq.RCVTIMEO, 5000)
    pub = ZmqPublisher(f"tcp://127.0.0.1:{port}", kind="pub", bind=True)
    io = IOService()
    io.register(pub)
    try:
        _spin(io, lambda: pub._target is not None, what="bound")
        sub.connect(f"tcp://127.0.0.1:{port}")
        # PUB/SUB joins asynchronously ("slow joiner"): probe until the subscriber sees one
        got = None
        for _ in range(500):
            pub.publish("md.probe", b"p")
            io.poll()
            try:
                got = sub.recv_multipart(zmq.NOBLOCK)
                break
            except zmq.Again:
                time.sleep(0.01)
        assert got is not None
        for i in range(5000):
            pub.publish("md.t", b"%d" % i)
        pub.publish("other.x", b"filtered by the subscriber")
        pub.publish("md.end", b"")
        io.poll()
        received = []
        while True:
            topic, body = sub.recv_multipart()  # RCVTIMEO bounds the wait
            if topic == b"md.end":
                break
            if topic != b"md.probe":  # probes still in flight from the join loop
                received.append([topic, body])
        assert received == [[b"md.t", b"%d" % i] for i in range(5000)]
        assert pub.dropped == 0
    finally:
        io.close()
        sub.close(linger=0)
        ctx.term()


def test_push_backpressure_is_queued_bounded_and_counted() -> None:
    port = free_port()
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 10)
    pull.bind(f"tcp://127.0.0.1:{port}")
    push = ZmqPublisher(f"tcp://127.0.0.1:{port}", kind="push", sndhwm=10, max_buffered=5000)
    io = IOService()
    io.register(push)
    try:
        _spin(io, lambda: push._target is not None, what="connected")
        n = 200_000  # far more than the HWMs and kernel buffers hold while nobody reads
        for i in range(n):
            push.publish(b"t", b"%d" % i + b"x" * 100)
        assert push.dropped > 0 and push.buffered <= 5000  # bounded, and the loss is counted
        received = 0
        last = -1
        monotonic = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and received + push.dropped < n:
            io.poll()
            try:
                while True:
                    _, body = pull.recv_multipart(zmq.NOBLOCK)
                    i = int(body[: body.index(b"x")])
                    monotonic &= i > last
                    last = i
                    received += 1
            except zmq.Again:
                pass
        assert received + push.dropped == n, "every message delivered or counted as dropped"
        assert monotonic and last == n - 1  # drop-oldest keeps the newest
    finally:
        io.close()
        pull.close(linger=0)
        ctx.term()


def test_options_are_checked() -> None:
    with pytest.raises(LocalError):
        ZmqPublisher("tcp://127.0.0.1:1", kind="sub")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ZmqPublisher("tcp://127.0.0.1:1", sndhvm=5)  # type: ignore[call-arg]
    p = ZmqPublisher("tcp://127.0.0.1:1", kind="push", max_buffered=1, overflow="raise")
    p.publish("t", b"1")  # not registered yet: queued
    with pytest.raises(SendBufferFull):
        p.publish("t", b"2")
