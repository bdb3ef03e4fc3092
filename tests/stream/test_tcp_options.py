"""TcpOptions on real sockets: keepalive (default on) with TCP_USER_TIMEOUT, nodelay, typos; and
the outbound queue at its boundaries (the sendmsg buffer batch, BufferedStream capacity)."""

from __future__ import annotations

import socket
import struct

import pytest

from boomnet.errors import LocalError
from boomnet.stream import TcpStream, UnixStream
from boomnet.stream.options import Keepalive, TcpOptions
from boomnet.stream.socket_stream import _SENDMSG_MAX_BUFFERS
from boomnet.stream.write_queue import WriteQueue

from .helpers import Peer, flush_all, recv_exactly, wait_established

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def sockopts(sock: socket.socket) -> dict[str, int]:
    get = sock.getsockopt
    return {
        "keepalive": get(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "idle": get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "interval": get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "count": get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        "user_timeout_ms": get(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
        "nodelay": get(socket.IPPROTO_TCP, socket.TCP_NODELAY),
    }


def connected(peer: Peer, how: str, **kwargs) -> TcpStream:
    if how == "connect":
        s = TcpStream.connect("127.0.0.1", peer.port, **kwargs)
    else:
        s = TcpStream.connect_addr(socket.AF_INET, ("127.0.0.1", peer.port), **kwargs)
    wait_established(s)
    return s


@pytest.mark.parametrize("how", ["connect", "connect_addr"])
def test_keepalive_is_on_by_default(how) -> None:
    with Peer(lambda c: c.recv(1)) as peer:
        s = connected(peer, how)
        assert sockopts(s.socket) == {
            "keepalive": 1, "idle": 15, "interval": 5, "count": 3, "user_timeout_ms": 30_000, "nodelay": 1,
        }
        s.write(b"x")
        flush_all(s)
        s.close()


def test_keepalive_custom_rounds_up_to_whole_seconds() -> None:
    with Peer(lambda c: c.recv(1)) as peer:
        opts = TcpOptions(keepalive=Keepalive(idle=1.5, interval=1, count=1))
        s = TcpStream.connect("127.0.0.1", peer.port, opts)
        wait_established(s)
        got = sockopts(s.socket)
        assert (got["idle"], got["interval"], got["count"], got["user_timeout_ms"]) == (2, 1, 1, 3000)
        s.write(b"x")
        flush_all(s)
        s.close()


def test_keepalive_off_and_nodelay_off() -> None:
    with Peer(lambda c: c.recv(1)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port, keepalive=None, nodelay=False)
        wait_established(s)
        got = sockopts(s.socket)
        assert got["keepalive"] == 0 and got["user_timeout_ms"] == 0 and got["nodelay"] == 0
        s.write(b"x")
        flush_all(s)
        s.close()


def test_adopted_tcp_socket_gets_the_options() -> None:
    with Peer(lambda c: c.recv(1)) as peer:
        raw = socket.create_connection(("127.0.0.1", peer.port))
        s = TcpStream.from_socket(raw, keepalive=Keepalive(idle=7, interval=2, count=4))
        got = sockopts(s.socket)
        assert (got["keepalive"], got["idle"], got["interval"], got["count"]) == (1, 7, 2, 4)
        assert got["user_timeout_ms"] == 15_000
        s.write(b"x")
        flush_all(s)
        s.close()


def test_adopted_non_tcp_socket_is_left_alone() -> None:
    a, b = socket.socketpair()
    s = TcpStream.from_socket(a)  # AF_UNIX: no TCP options to set, no error
    s.write(b"u")
    assert b.recv(1) == b"u"
    s.close()
    b.close()


def test_misspelt_tcp_option_is_a_type_error_at_construction() -> None:
    with pytest.raises(TypeError):
        TcpStream.connect("127.0.0.1", 1, conect_timeout=1)
    with pytest.raises(TypeError):
        TcpStream.connect_addr(socket.AF_INET, ("127.0.0.1", 1), keepalive_idle=3)
    with pytest.raises(TypeError):
        TcpStream.connect("127.0.0.1", 1, timeout=1, connect_timeout=2)  # one name for one value
    with pytest.raises(LocalError):
        TcpStream.connect("127.0.0.1", 1, connect_timeout=0)
    with pytest.raises(TypeError):
        UnixStream.connect("/nonexistent", timout=1)
    with pytest.raises(LocalError):
        UnixStream.connect("/nonexistent", timeout=0)


def test_options_object_with_overrides() -> None:
    with Peer(lambda c: c.recv(1)) as peer:
        base = TcpOptions(connect_timeout=2.0, keepalive=None)
        s = TcpStream.connect("127.0.0.1", peer.port, base, nodelay=False)
        assert s.options == TcpOptions(connect_timeout=2.0, keepalive=None, nodelay=False)
        wait_established(s)
        assert sockopts(s.socket)["nodelay"] == 0
        s.write(b"x")
        flush_all(s)
        s.close()


# --- the outbound queue at its boundaries ------------------------------------------------------


@pytest.mark.parametrize("chunks", [_SENDMSG_MAX_BUFFERS - 1, _SENDMSG_MAX_BUFFERS, _SENDMSG_MAX_BUFFERS + 1])
def test_queue_views_take_at_most_one_batch(chunks: int) -> None:
    q = WriteQueue()
    for i in range(chunks):
        q.append(struct.pack("<I", i))
    views = q.views(_SENDMSG_MAX_BUFFERS)
    assert len(views) == min(chunks, _SENDMSG_MAX_BUFFERS)
    assert b"".join(views) == b"".join(struct.pack("<I", i) for i in range(len(views)))
    assert q.nbytes == 4 * chunks


def test_queue_consume_at_chunk_boundaries() -> None:
    q = WriteQueue()
    for part in (b"abc", b"defg", b"h"):
        q.append(part)
    q.append(b"")  # ignored
    assert q.consume(2) is True and bytes(q.head()) == b"c"  # inside a chunk
    assert q.consume(1) is False and bytes(q.head()) == b"defg"  # exactly at its end
    assert q.consume(5) is False and q.nbytes == 0  # two chunks exactly


@pytest.mark.parametrize("chunks", [_SENDMSG_MAX_BUFFERS - 1, _SENDMSG_MAX_BUFFERS, _SENDMSG_MAX_BUFFERS + 1])
def test_pending_chunks_around_one_sendmsg_batch_all_arrive_in_order(chunks: int) -> None:
    expected = b"".join(struct.pack("<I", i) for i in range(chunks))
    got: list[bytes] = []
    with Peer(lambda c: got.append(recv_exactly(c, len(expected)))) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port)
        for i in range(chunks):  # written before the connect completed: all queued, one chunk each
            s.write(struct.pack("<I", i))
        assert s.pending == len(expected)
        wait_established(s)
        flush_all(s)
        peer.join()
        assert got == [expected]
        s.close()


@pytest.mark.parametrize("size,held", [(9, True), (10, True), (11, False)])  # capacity 10: -1, =, +1
def test_buffered_capacity_boundary(size: int, held: bool) -> None:
    a, b = socket.socketpair()
    b.setblocking(False)
    s = UnixStream.from_socket(a).into_buffered(capacity=10)
    s.write(b"x" * size)
    if held:
        assert s.pending == size
        with pytest.raises(BlockingIOError):
            b.recv(100)
        assert s.flush()
    assert b.recv(100) == b"x" * size
    with pytest.raises(TypeError):
        UnixStream.from_socket(b).into_buffered(capacty=10)  # type: ignore[call-arg]
    s.close()
    b.close()
