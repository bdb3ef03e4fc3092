"""TcpStream against real loopback peers: connect, errors, partial writes, resets."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from boomnet.errors import ConnectError, ConnectionClosed, ConnectionReset, ConnectTimeout, DnsError
from boomnet.stream import TcpStream

from .helpers import Peer, flush_all, read_exactly, recv_exactly, wait_established


def echo_once(n: int):
    def handler(conn: socket.socket) -> None:
        conn.sendall(recv_exactly(conn, n))

    return handler


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connect_write_read_eof(host: str) -> None:
    with Peer(echo_once(5)) as peer:
        s = TcpStream.connect(host, peer.port)
        wait_established(s)
        assert s.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        s.write(b"hello")
        assert read_exactly(s, 5) == b"hello"
        peer.join()
        with pytest.raises(ConnectionClosed):
            read_exactly(s, 1)
        s.close()
        s.close()  # idempotent
        assert s.closed and s.fileno() == -1


def test_recv_returns_zero_when_nothing_available() -> None:
    gate = threading.Event()
    with Peer(lambda c: gate.wait(5)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(s)
        assert s.recv_into(bytearray(16)) == 0
        gate.set()
        s.close()


def test_ipv6_loopback() -> None:
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not available here")
    with Peer(echo_once(3), family=socket.AF_INET6, host="::1") as peer:
        s = TcpStream.connect("::1", peer.port)
        wait_established(s)
        assert s.socket.family == socket.AF_INET6
        s.write(b"six")
        assert read_exactly(s, 3) == b"six"
        s.close()


def test_write_before_established_is_queued_and_sent() -> None:
    with Peer(echo_once(6)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        s.write(b"early!")  # connect may still be in progress
        wait_established(s)
        flush_all(s)
        assert read_exactly(s, 6) == b"early!"
        s.close()


def test_refused_is_connect_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # bound, never listened: nothing accepts on this port now
    s = TcpStream.connect("127.0.0.1", port)
    with pytest.raises(ConnectError, match="refused"):
        wait_established(s)
    assert s.closed


def test_localhost_falls_through_to_next_address() -> None:
    # "localhost" may resolve to ::1 first; the peer listens on 127.0.0.1 only.
    with Peer(echo_once(2)) as peer:
        s = TcpStream.connect("localhost", peer.port)
        wait_established(s)
        s.write(b"ok")
        assert read_exactly(s, 2) == b"ok"
        s.close()


def test_dns_failure() -> None:
    with pytest.raises(DnsError):
        TcpStream.connect("no-such-host.invalid", 80, timeout=3)


def test_connect_timeout_when_backlog_full() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue (never accepting): further SYNs are dropped by the kernel.
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        time.sleep(0.05)
        s = TcpStream.connect("127.0.0.1", port, timeout=0.3)
        try:
            wait_established(s, timeout=3)
        except ConnectTimeout:
            return
        pytest.skip("n/a: the kernel completed the connection despite the full backlog")
    finally:
        for f in fillers:
            f.close()
        listener.close()


def test_bind_local_address() -> None:
    with Peer(echo_once(1)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port, bind=("127.0.0.1", 0))
        wait_established(s)
        assert s.socket.getsockname()[0] == "127.0.0.1"
        s.write(b"x")
        assert read_exactly(s, 1) == b"x"
        s.close()


def test_bind_to_address_in_use_is_connect_error() -> None:
    with Peer(echo_once(1)) as peer:
        with pytest.raises(ConnectError, match="bind"):
            TcpStream.connect("127.0.0.1", peer.port, bind=("127.0.0.1", peer.port))
        # let the peer finish
        c = socket.create_connection(("127.0.0.1", peer.port))
        c.sendall(b"z")
        c.recv(1)
        c.close()


def test_bind_to_unknown_interface_is_connect_error() -> None:
    with Peer(echo_once(1)) as peer:
        with pytest.raises(ConnectError, match="interface 'nosuchdev0'"):
            TcpStream.connect("127.0.0.1", peer.port, interface="nosuchdev0")
        c = socket.create_connection(("127.0.0.1", peer.port))
        c.sendall(b"z")
        c.recv(1)
        c.close()


def test_bind_to_loopback_interface() -> None:
    with Peer(echo_once(1)) as peer:
        try:
            s = TcpStream.connect("127.0.0.1", peer.port, interface="lo")
        except ConnectError as e:  # unprivileged: a clear error is the contract
            assert "not permitted" in str(e)
            c = socket.create_connection(("127.0.0.1", peer.port))
            c.sendall(b"z")
            c.recv(1)
            c.close()
            return
        wait_established(s)
        s.write(b"i")
        assert read_exactly(s, 1) == b"i"
        s.close()


def test_big_write_with_small_sndbuf_arrives_whole_and_in_order() -> None:
    size = 2 * 1024 * 1024
    payload = os.urandom(size)
    received: list[bytes] = []

    def slow_reader(conn: socket.socket) -> None:
        out = bytearray()
        while len(out) < size:
            chunk = conn.recv(65536)
            if not chunk:
                break
            out += chunk
            if len(out) < 64 * 1024:
                time.sleep(0.002)  # slow at first, so the sender must keep bytes pending
        received.append(bytes(out))

    with Peer(slow_reader) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(s)
        s.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        s.write(payload[:1000])
        s.write(memoryview(payload)[1000:])
        assert s.pending > 0  # the kernel could not take 2 MB at once
        s.write(b"")  # an empty write while bytes are pending is harmless
        flush_all(s)
        assert s.pending == 0
        peer.join()
        assert received and received[0] == payload
        s.close()


def test_many_small_writes_while_pending_keep_order() -> None:
    count = 20000
    expected = b"".join(struct.pack("<I", i) for i in range(count))
    got: list[bytes] = []
    with Peer(lambda c: got.append(recv_exactly(c, len(expected)))) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(s)
        s.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        buf = bytearray(4)
        for i in range(count):
            struct.pack_into("<I", buf, 0, i)
            s.write(buf)  # the buffer is reused: pending bytes must have been copied
        flush_all(s)
        peer.join()
        assert got[0] == expected
        s.close()


def test_peer_reset_raises_connection_reset() -> None:
    def reset(conn: socket.socket) -> None:
        conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with Peer(reset) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(s)
        s.write(b"x")
        peer.join()
        with pytest.raises(ConnectionReset):
            read_exactly(s, 1)
        s.close()


def test_eof_mid_write_is_an_error_not_silent_loss() -> None:
    def close_early(conn: socket.socket) -> None:
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with Peer(close_early) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(s)
        s.write(b"first")
        peer.join()
        chunk = b"y" * 65536
        with pytest.raises(ConnectionClosed):  # ConnectionReset is a subclass
            for _ in range(1000):
                s.write(chunk)
                s.flush()
                time.sleep(0.001)
        s.close()


def test_from_socket_adopts_connected_socket() -> None:
    a, b = socket.socketpair()
    s = TcpStream.from_socket(a)  # adoption works for any connected stream socket
    assert s.establish()
    b.sendall(b"adopted")
    assert read_exactly(s, 7) == b"adopted"
    s.write(b"back")
    assert b.recv(4) == b"back"
    s.close()
    b.close()


def test_connect_addr_skips_dns() -> None:
    with Peer(echo_once(2)) as peer:
        s = TcpStream.connect_addr(socket.AF_INET, ("127.0.0.1", peer.port))
        wait_established(s)
        s.write(b"hi")
        assert read_exactly(s, 2) == b"hi"
        s.close()
