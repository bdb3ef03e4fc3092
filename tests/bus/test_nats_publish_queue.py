"""The publish queue of NatsEndpoint: exact wire bytes (against a raw server written from the
NATS client-protocol documentation, not from our parser), exact byte and message limits with
each overflow policy, early flushing of big batches, and delivery of many subjects and sizes
in order through a real nats-server to nats-py."""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any

import pytest

from boomnet.bus.nats.endpoint import NatsEndpoint
from boomnet.errors import LocalError, SendBufferFull
from boomnet.service import IOService

from .conftest import NatsServer, wait_for
from .natspy_peer import NatsPyPeer
from tests.conftest import spin


def pub(subject: bytes, payload: bytes) -> bytes:
    """A PUB command as the protocol documentation spells it."""
    return b"PUB " + subject + b" " + str(len(payload)).encode() + b"\r\n" + payload + b"\r\n"


class RawNatsServer:
    """One client: sends INFO, answers every PING line with PONG, keeps every byte after CONNECT's
    first PING (so ``data`` is exactly what the client published). Stopped by ``close``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(10)
        conn, _ = self.sock.accept()
        conn.settimeout(0.05)
        conn.sendall(b'INFO {"server_id":"raw","version":"2.10.0","max_payload":1048576,"headers":true,'
                     b'"proto":1}\r\n')
        got = b""
        while b"PING\r\n" not in got and not self._stop.is_set():  # CONNECT {...}\r\nPING\r\n
            try:
                got += conn.recv(4096)
            except TimeoutError:
                pass
        conn.sendall(b"PONG\r\n")
        self.data += got.partition(b"PING\r\n")[2]
        while not self._stop.is_set():
            try:
                chunk = conn.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                break
            self.data += chunk
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def raw_server() -> Any:
    server = RawNatsServer()
    yield server
    server.close()


def _connected(url: str, **options: Any) -> tuple[IOService[Any], NatsEndpoint]:
    io: IOService[Any] = IOService()
    nats = NatsEndpoint([url], ping_interval=0, **options)
    io.register(nats)
    spin(io, lambda: nats.connects == 1, what="connect")
    return io, nats


def test_wire_bytes_are_exact_for_cached_heads_changed_sizes_replies_and_headers(raw_server: RawNatsServer) -> None:
    io, nats = _connected(raw_server.url)
    try:
        sent: list[tuple[str, bytes | bytearray | memoryview]] = [("md.a", b"abc"), ("md.a", b"abc"), ("md.a", b"abcd"), ("md.b", b""), ("md.a", b"xyz"),
                ("md.a", b"x" * 1000), ("md.a", b"abcd"), ("md.b", bytearray(b"ba")), ("md.b", memoryview(b"mv"))]
        expected = b""
        for subject, payload in sent:
            nats.publish(subject, payload)
            expected += pub(subject.encode(), bytes(payload))
        nats.publish("md.a", b"r", reply="inbox.1")
        expected += b"PUB md.a inbox.1 1\r\nr\r\n"
        nats.publish("md.a", b"h", headers={"K": "v"})
        hdr = b"NATS/1.0\r\nK: v\r\n\r\n"
        expected += b"HPUB md.a %d %d\r\n" % (len(hdr), len(hdr) + 1) + hdr + b"h\r\n"
        nats.publish("md.a", b"abc")  # the cached head still serves after the general paths
        expected += pub(b"md.a", b"abc")
        assert nats.published == len(sent) + 3 and nats.buffered == len(sent) + 3
        spin(io, lambda: len(raw_server.data) >= len(expected), what="bytes at the raw server")
        time.sleep(0.05)  # anything extra would arrive now
        assert bytes(raw_server.data) == expected
        assert nats.buffered == 0 and nats.dropped == 0
    finally:
        io.close()


def test_a_bad_subject_is_refused_and_queues_nothing() -> None:
    nats = NatsEndpoint(["nats://127.0.0.1:1"], ping_interval=0)
    for bad in ("", "md a", "md.\r\n", "md..a"):
        with pytest.raises(LocalError):
            nats.publish(bad, b"x")
    assert nats.buffered == 0 and nats.published == 0 and nats.pending == 0  # not connected: nothing pending


def _drain_to(server: RawNatsServer, nats: NatsEndpoint, expected: bytes) -> None:
    io: IOService[Any] = IOService()
    try:
        io.register(nats)
        spin(io, lambda: len(server.data) >= len(expected), what="queued messages at the raw server")
        time.sleep(0.05)
        assert bytes(server.data) == expected
    finally:
        io.close()


def test_byte_limit_counts_whole_commands_exactly_drop_oldest(raw_server: RawNatsServer) -> None:
    command = len(pub(b"md.q", b"000"))  # 17
    nats = NatsEndpoint([raw_server.url], max_buffered_bytes=3 * command, ping_interval=0)
    for i in range(3):  # exactly at the limit: nothing dropped
        nats.publish("md.q", b"%03d" % i)
    assert (nats.buffered, nats.dropped) == (3, 0)
    nats.publish("md.q", b"%03d" % 3)  # one byte over: the oldest goes
    assert (nats.buffered, nats.dropped, nats.published) == (3, 1, 4)
    nats.publish("md.q", b"45")  # a shorter command (other size, same subject) fits after one drop
    assert (nats.buffered, nats.dropped) == (3, 2)
    short = NatsEndpoint([raw_server.url], max_buffered_bytes=3 * command - 1, ping_interval=0)
    for i in range(3):  # one byte short of three: the third drops the first
        short.publish("md.q", b"%03d" % i)
    assert (short.buffered, short.dropped) == (2, 1)
    _drain_to(raw_server, nats, pub(b"md.q", b"002") + pub(b"md.q", b"003") + pub(b"md.q", b"45"))


def test_byte_limit_is_exact_for_another_size_and_for_new_subjects(raw_server: RawNatsServer) -> None:
    command = len(pub(b"md.q", b"000"))  # 17; b"45" makes a 16-byte command
    nats = NatsEndpoint([raw_server.url], max_buffered_bytes=2 * command + 15, ping_interval=0)
    nats.publish("md.q", b"000")
    nats.publish("md.q", b"001")
    nats.publish("md.q", b"45")  # 34 + 16 > 49: the oldest goes
    assert (nats.buffered, nats.dropped) == (2, 1)
    # new subjects (the general path) exactly at the limit: nothing dropped
    exact = NatsEndpoint([raw_server.url], max_buffered_bytes=2 * command, ping_interval=0)
    exact.publish("md.q", b"000")
    exact.publish("md.r", b"000")
    assert (exact.buffered, exact.dropped) == (2, 0)
    exact.publish("md.s", b"")
    assert (exact.buffered, exact.dropped) == (2, 1)
    _drain_to(raw_server, nats, pub(b"md.q", b"001") + pub(b"md.q", b"45"))


def test_byte_limit_drop_new_keeps_the_first_and_counts(raw_server: RawNatsServer) -> None:
    command = len(pub(b"md.q", b"000"))
    nats = NatsEndpoint([raw_server.url], max_buffered_bytes=2 * command + 1, overflow="drop_new", ping_interval=0)
    for i in range(5):
        nats.publish("md.q", b"%03d" % i)
    assert (nats.buffered, nats.dropped) == (2, 3)
    _drain_to(raw_server, nats, pub(b"md.q", b"000") + pub(b"md.q", b"001"))


def test_message_limit_raise_refuses_the_one_over_and_keeps_the_rest() -> None:
    nats = NatsEndpoint(["nats://127.0.0.1:1"], max_buffered=3, overflow="raise", ping_interval=0)
    for i in range(3):
        nats.publish("md.q", b"%03d" % i)
    with pytest.raises(SendBufferFull):
        nats.publish("md.q", b"003")
    with pytest.raises(SendBufferFull):
        nats.publish("md.q", b"longer")  # the other-size path checks the limit too
    assert (nats.buffered, nats.published, nats.dropped) == (3, 3, 0)


def test_a_batch_over_flush_bytes_is_written_inside_publish(raw_server: RawNatsServer) -> None:
    io, nats = _connected(raw_server.url, flush_bytes=1000)
    try:
        for _ in range(10):  # 10 x 218 bytes, no poll in between
            nats.publish("md.big", b"x" * 200)
        assert nats.buffered < 10  # written when the queue reached 1000 bytes
        wait_for(lambda: len(raw_server.data) >= 1000, what="early write without a poll")
        spin(io, lambda: len(raw_server.data) == 10 * len(pub(b"md.big", b"x" * 200)), what="the rest")
        assert nats.buffered == 0 and nats.pending == 0
    finally:
        io.close()


def test_many_subjects_and_sizes_arrive_in_order_at_nats_py(nats_server: NatsServer) -> None:
    rng = random.Random(17)
    subjects = [f"md.s{i}" for i in range(7)]
    sent = [(rng.choice(subjects), b"%06d" % i + b"p" * rng.choice((0, 1, 2, 50, 200, 3000))) for i in range(6000)]
    peer = NatsPyPeer([nats_server.url])
    try:
        peer.subscribe("md.>")
        io, nats = _connected(nats_server.url)
        try:
            for i, (subject, payload) in enumerate(sent):
                nats.publish(subject, payload)
                if i % 700 == 0:
                    io.poll()
            spin(io, lambda: len(peer.received) == len(sent), timeout=20, what="all messages at nats-py")
        finally:
            io.close()
        assert [(s, p) for s, p, _ in peer.received] == sent
        assert nats.published == len(sent) and nats.dropped == 0
    finally:
        peer.close()
