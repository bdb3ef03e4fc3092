"""The connection core over real sockets: partial writes, the send budget, errors after the
messages before them, EOF mid-frame, other threads pushing, observers."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from boomnet.errors import ConnectionClosed, FrameTooLarge, FramingError, InvalidMessage, InvalidState, SendBufferFull
from boomnet.msg import Clt, Connection, Counters, Datagram, DatagramCodec, LengthPrefixed, LogObserver, Store
from boomnet.stream import TcpStream


def pair(sndbuf: int | None = None, rcvbuf: int | None = None) -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair (ours, theirs), optionally with tiny kernel buffers."""
    lst = socket.create_server(("127.0.0.1", 0))
    a = socket.socket()
    if sndbuf:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    a.connect(lst.getsockname())
    b, _ = lst.accept()
    if rcvbuf:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    lst.close()
    return a, b


def conn_over(sock: socket.socket, codec=None, **kw) -> Connection:
    c = Connection(TcpStream(sock, "test-peer"), codec or LengthPrefixed(), **kw)
    assert c.establish()
    return c


def drain(sock: socket.socket, want: int, timeout: float = 10.0, chunk: int = 4096, pause: float = 0.0) -> bytes:
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < want:
        got = sock.recv(chunk)
        assert got, "peer closed early"
        out += got
        if pause:
            time.sleep(pause)
    return bytes(out)


def expected(codec, msgs) -> bytes:
    out = bytearray()
    for m in msgs:
        parts = codec.encode(m, out)
        if parts is not None:
            out += b"".join(bytes(p) for p in parts)
    return bytes(out)


def test_partial_vectored_writes_lose_nothing_and_keep_order() -> None:
    """Tiny SO_SNDBUF, a slow reader, small messages coalesced and large ones vectored: the bytes
    on the wire are exactly the frames, in order (a partial sendmsg keeps the unsent tail)."""
    a, b = pair(sndbuf=4096)
    codec = LengthPrefixed(vector_min=1000)
    conn = conn_over(a, codec)
    msgs: list[bytes] = []
    for i in range(400):
        size = (1, 50, 999, 1000, 5000, 70_000)[i % 6]
        msgs.append(bytes([i % 256]) * size)
    want = expected(codec, msgs)
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(drain(b, len(want), chunk=3000, pause=0.0005)))
    reader.start()
    partial_seen = 0
    for m in msgs:
        conn.push(m)
        if not conn.flush():
            partial_seen += 1
    end = time.monotonic() + 20
    while not conn.flush():
        assert time.monotonic() < end
        time.sleep(0.0005)
    reader.join(20)
    assert result and result[0] == want
    assert partial_seen > 0  # the test did exercise partial writes
    a.close(), b.close()


def test_send_budget_stops_a_slow_reader_from_growing_memory() -> None:
    a, b = pair(sndbuf=4096)
    conn = conn_over(a, send_budget=64 * 1024)
    sent: list[bytes] = []
    with pytest.raises(SendBufferFull):
        for i in range(10_000):
            msg = i.to_bytes(4, "big") * 250  # 1000 bytes
            conn.push(msg)
            sent.append(msg)
            conn.flush()
    before = conn.pending
    with pytest.raises(SendBufferFull):
        conn.push(b"y" * 1000)
    assert conn.pending == before  # nothing was queued by the refused push
    assert conn.pending <= 64 * 1024
    want = expected(LengthPrefixed(), sent)
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(drain(b, len(want))))
    reader.start()
    end = time.monotonic() + 10
    while not conn.flush():
        assert time.monotonic() < end
        time.sleep(0.0005)
    reader.join(10)
    assert result[0] == want
    a.close(), b.close()


def test_messages_before_a_malformed_frame_are_delivered_then_the_error() -> None:
    a, b = pair()
    conn = conn_over(a, DatagramCodec())
    b.sendall(bytes.fromhex("00000006" "0001" "0001") + b"ok" + bytes.fromhex("00000005" "0002" "0001") + b"x")
    end = time.monotonic() + 5
    batch: list = []
    while not batch:
        batch = conn.read_batch()
        assert time.monotonic() < end
    assert [(d.tag, bytes(d.data)) for d in batch] == [(1, b"ok")]
    with pytest.raises(FramingError, match="version"):
        conn.read_batch()
    assert conn.closed
    with pytest.raises(InvalidState):
        conn.push(Datagram(1, b"late"))
    b.close()


def test_hostile_size_closes_without_allocating() -> None:
    a, b = pair()
    conn = conn_over(a, LengthPrefixed(4, max_size=1 << 20))
    b.sendall(bytes.fromhex("7ffffff0"))
    end = time.monotonic() + 5
    with pytest.raises(FrameTooLarge):
        while True:
            conn.read_batch()
            assert time.monotonic() < end
    assert len(conn._rbuf._buf) < 1 << 20
    b.close()


def test_eof_mid_frame_is_reported_after_the_whole_messages() -> None:
    a, b = pair()
    conn = conn_over(a)
    b.sendall(bytes.fromhex("00000001") + b"A" + bytes.fromhex("00000009") + b"abc")
    b.close()
    got: list[bytes] = []
    end = time.monotonic() + 5
    with pytest.raises(ConnectionClosed, match="mid-frame"):
        while True:
            got.extend(bytes(m) for m in conn.read_batch())
            assert time.monotonic() < end
    assert got == [b"A"]


def test_unencodable_message_queues_nothing() -> None:
    a, b = pair()
    conn = conn_over(a, LengthPrefixed(1))
    conn.push(b"ok")
    with pytest.raises(InvalidMessage):
        conn.push(b"x" * 300)
    with pytest.raises(InvalidMessage):
        conn.push("text")  # type: ignore[arg-type]
    assert conn.flush()
    assert drain(b, 3) == b"\x02ok"
    a.close(), b.close()


def test_a_thread_pushes_while_the_loop_reads() -> None:
    """Another thread pushes 5,000 messages through push_threadsafe while this thread loops on
    read_batch; the wake hook fires for each push; every message arrives once, in order."""
    a, b = pair()
    conn = conn_over(a)
    wakes = []
    conn.wake = lambda: wakes.append(1)
    n = 5000

    def pusher() -> None:
        for i in range(n):
            while True:
                try:
                    conn.push_threadsafe(i.to_bytes(4, "big"))
                    break
                except SendBufferFull:
                    time.sleep(0.0001)

    t = threading.Thread(target=pusher)
    t.start()
    want = expected(LengthPrefixed(), [i.to_bytes(4, "big") for i in range(n)])
    got = bytearray()
    b.setblocking(False)
    end = time.monotonic() + 20
    while len(got) < len(want):
        conn.read_batch()  # the loop thread moves thread pushes into the send queue
        try:
            got += b.recv(65536)
        except BlockingIOError:
            time.sleep(0.0001)
        assert time.monotonic() < end
    t.join(5)
    assert bytes(got) == want
    assert len(wakes) == n
    a.close(), b.close()


def test_observers_see_every_message_with_the_connection_identity(caplog) -> None:
    import logging

    a, b = pair()
    store, counters = Store(), Counters()
    conn = conn_over(a, DatagramCodec(), name="venue-1", observers=[store, counters, LogObserver(level=logging.INFO)])
    conn.push(Datagram(1, b"out-1"))
    conn.push(Datagram(2, b"out-2"))
    conn.flush()
    b.sendall(bytes.fromhex("00000008" "0001" "0009") + b"in-1")
    end = time.monotonic() + 5
    with caplog.at_level(logging.INFO, logger="boomnet.msg.traffic"):
        while not conn.read_batch():
            assert time.monotonic() < end
    assert store.sent("venue-1") == [Datagram(1, b"out-1"), Datagram(2, b"out-2")]
    assert store.received("venue-1") == [Datagram(9, b"in-1")]  # copies: valid after the next read
    assert isinstance(store.received()[0].data, bytes)
    assert counters.sent["venue-1"] == 2 and counters.received["venue-1"] == 1
    assert counters.bytes_received["venue-1"] == 4
    assert any("venue-1 <- " in r.getMessage() for r in caplog.records)
    a.close(), b.close()


def test_clt_timeouts_and_try_recv() -> None:
    from boomnet.errors import DeadlineExceeded

    a, b = pair()
    clt = Clt(TcpStream(a, "p"), LengthPrefixed(), spin_sleep=0.0005)
    assert clt.try_recv() is None
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        clt.recv(timeout=0.05)
    assert time.monotonic() - t0 >= 0.05
    b.sendall(b"\x00\x00\x00\x01a\x00\x00\x00\x01b")
    first = clt.recv(timeout=5)
    assert bytes(first) == b"a"
    assert [bytes(m) for m in clt.recv_batch()] == [b"b"]
    clt.close()
    b.close()


def test_push_many_is_all_or_nothing() -> None:
    a, b = pair()
    codec = LengthPrefixed(1, vector_min=3)
    conn = conn_over(a, codec, send_budget=1000)
    conn.push(b"x")  # something already queued in the coalescing buffer
    with pytest.raises(InvalidMessage):
        conn.push_many([b"ab", b"abcd", b"y" * 300])  # the third cannot be encoded
    with pytest.raises(SendBufferFull):
        conn.push_many([b"z" * 200] * 6)  # over the budget together
    assert conn.pending == 2
    assert conn.push_many([b"ab", b"abcd", b"e"]) == 3
    assert conn.flush()
    assert drain(b, 2 + 3 + 5 + 2) == b"\x01x" + b"\x02ab" + b"\x04abcd" + b"\x01e"
    a.close(), b.close()


def test_a_failed_write_does_not_lose_what_the_peer_sent_before() -> None:
    """The peer sends two frames and resets the connection. Our next write fails, yet both frames
    (still in the kernel) are delivered before the reset is reported."""
    import struct as _struct

    a, b = pair()
    conn = conn_over(a)
    b.sendall(b"\x00\x00\x00\x03one\x00\x00\x00\x03two")
    time.sleep(0.05)  # let them arrive before the reset (loopback: immediate)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _struct.pack("ii", 1, 0))
    b.close()  # RST
    time.sleep(0.05)
    conn.push(b"doomed")  # the write that meets the reset
    got: list[bytes] = []
    end = time.monotonic() + 5
    with pytest.raises(ConnectionClosed):
        while True:
            got.extend(bytes(m) for m in conn.read_batch())
            assert time.monotonic() < end
    assert got == [b"one", b"two"]
    a.close()
