"""Message connections through the generic pool (boomnet.connect.Pool) via MsgPool / msg_connector.

The server is an independent asyncio peer speaking 4-byte big-endian length-prefixed frames
(answer: the payload reversed; ``b"bye"``: closes the connection; ``b"twice"``: answers twice;
``b"quiet"``: no answer; ``b"half"``: 3 bytes of a 10-byte answer).
It records the client port of every connection, so reuse is proven by the server, not by
object identity alone.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import struct
import time
from collections.abc import Iterator

import pytest

from boomnet.connect import Origin, Pool
from boomnet.errors import LimitExceeded, LocalError
from boomnet.msg import LengthPrefixed, MsgPool, PooledClt, msg_connector
from boomnet.stream.options import TlsOptions

from .peers import LoopThread


class Peer:
    def __init__(self, loops: LoopThread, ssl_context: ssl.SSLContext | None = None) -> None:
        self.loops = loops
        self.ports: list[int] = []  # client port of each accepted connection
        self.server = loops.run(asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context))
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.ports.append(w.get_extra_info("peername")[1])
        try:
            while True:
                (n,) = struct.unpack(">I", await r.readexactly(4))
                body = await r.readexactly(n)
                if body == b"bye":
                    break
                if body == b"quiet":  # one-way: no answer
                    continue
                if body == b"half":  # the start of an answer, never finished
                    w.write(struct.pack(">I", 10) + b"par")
                    await w.drain()
                    continue
                for _ in range(2 if body == b"twice" else 1):
                    w.write(struct.pack(">I", n) + body[::-1])
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            w.close()

    def close(self) -> None:
        self.loops.close_server(self.server)


@pytest.fixture
def peer(loops: LoopThread) -> Iterator[Peer]:
    p = Peer(loops)
    yield p
    p.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def local_port(clt: PooledClt[memoryview]) -> int:
    port: int = clt.conn.stream.socket.getsockname()[1]  # type: ignore[attr-defined]
    return port


def wait_readable(clt: PooledClt[memoryview], timeout: float = 5.0) -> None:
    """Until the kernel holds bytes (or the EOF) for ``clt``: what the server sent has arrived."""
    p = select.poll()
    p.register(clt.fileno(), select.POLLIN)
    assert p.poll(timeout * 1000), "nothing arrived"


def echo(clt: PooledClt[memoryview], payload: bytes) -> bytes:
    clt.send(payload)
    return bytes(clt.recv(timeout=5))


def test_a_released_connection_is_reused(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        with pool.connection(where) as clt:
            assert echo(clt, b"abc") == b"cba"
            first = local_port(clt)
        assert pool.idle(where) == 1 and pool.in_use(where) == 0
        with pool.connection(where) as again:
            assert again is clt and echo(again, b"xyz") == b"zyx"
        assert pool.stats.created == 1 and pool.stats.reused == 1
        assert peer.ports == [first]  # the server saw one connection for both exchanges


def test_a_leased_connection_is_never_shared(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = Origin("tcp", "127.0.0.1", peer.port)
        a, b = pool.acquire(where), pool.acquire(where)
        assert a is not b and pool.in_use(where) == 2 and pool.stats.shared == 0
        assert (echo(a, b"12"), echo(b, b"34")) == (b"21", b"43")
        pool.release(where, a), pool.release(where, b)
        c = pool.acquire(where)  # from the idle list: leased again
        d = pool.acquire(where)
        assert c is not d and pool.stats.shared == 0 and pool.stats.reused == 2
        c.close()
        pool.release(where, c)  # closed by its user: closed, not pooled
        assert pool.idle(where) == 0


def test_the_pool_never_reads_a_leased_connection(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        a = pool.acquire(where)
        a.send(b"first")
        view = a.recv(timeout=5)  # a memoryview into a's receive buffer
        a.send(b"second")
        wait_readable(a)  # a's next answer waits in the kernel
        b = pool.acquire(where)  # the pool looks at its busy connections (a) first
        assert b is not a and not a._ready and bytes(view) == b"tsrif"
        assert bytes(a.recv(timeout=5)) == b"dnoces"
        pool.release(where, a), pool.release(where, b)


def test_max_idle_per_key_closes_the_surplus(peer: Peer) -> None:
    with MsgPool(LengthPrefixed(), max_idle_per_key=2) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        clts = [pool.acquire(where) for _ in range(3)]
        for c in clts:
            assert echo(c, b"ok") == b"ko"
        for c in clts:
            pool.release(where, c)
        assert pool.idle(where) == 2 and pool.idle() == 2 and pool.in_use() == 0
        assert [c.closed for c in clts] == [False, False, True] and pool.stats.discarded == 1


def test_max_per_key_is_a_clear_error(peer: Peer) -> None:
    with MsgPool(LengthPrefixed(), max_per_key=1) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        pool.acquire(where)
        with pytest.raises(LimitExceeded):
            pool.acquire(where)


def test_idle_connections_expire(peer: Peer) -> None:
    clock = Clock()
    with MsgPool(LengthPrefixed(), idle_timeout=30, clock=clock) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        with pool.connection(where) as old:
            echo(old, b"a")
        clock.now += 29  # still fresh: reused
        with pool.connection(where) as same:
            assert same is old
        clock.now += 31  # expired: closed and replaced on acquire
        with pool.connection(where) as new:
            assert new is not old and old.closed and echo(new, b"b") == b"b"
        clock.now += 31
        assert pool.expire() == 1 and new.closed and pool.idle(where) == 0
        assert pool.stats.expired == 2


def test_unread_input_is_never_pooled(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        # a reply still in the kernel, never read
        clt = pool.acquire(where)
        clt.send(b"unread")
        wait_readable(clt)
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0
        # a second message of a batch read but not consumed
        clt = pool.acquire(where)
        clt.send(b"twice")
        end = time.monotonic() + 5
        while len(clt._ready) < 2:  # read until both replies were read; recv hands one out, one stays kept
            clt._ready.extend(clt.conn.read_batch())
            assert time.monotonic() < end
        assert bytes(clt.recv(timeout=5)) == b"eciwt" and len(clt._ready) == 1
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0
        assert pool.stats.discarded == 2


def test_a_partial_frame_is_never_pooled(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        clt = pool.acquire(where)
        clt.conn._rbuf.feed(b"\x00\x00\x00\x09half")  # as if the first bytes of a reply had come
        assert clt.conn._rbuf.undecoded and not clt.conn.read_hint()
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0


def test_a_partial_answer_in_the_kernel_is_never_pooled(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        clt = pool.acquire(where)
        clt.send(b"half")
        wait_readable(clt)
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0


def test_an_unflushed_send_queue_is_never_pooled(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        clt = pool.acquire(where)
        clt.push(b"quiet")  # queued, not flushed (and the peer would not answer it anyway)
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0


def test_a_failed_connection_is_never_pooled(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        # the server closed it: the EOF is readable
        clt = pool.acquire(where)
        clt.send(b"bye")
        wait_readable(clt)
        pool.release(where, clt)
        assert clt.closed and pool.idle(where) == 0
        # an error inside the block: released dirty
        with pytest.raises(RuntimeError):
            with pool.connection(where) as clt:
                raise RuntimeError("the caller gave up")
        assert clt.closed and pool.idle(where) == 0
        assert pool.stats.discarded == 2


def test_a_connection_the_server_closed_while_idle_is_replaced(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        where = f"tcp://127.0.0.1:{peer.port}"
        with pool.connection(where) as clt:
            echo(clt, b"hi")
        clt.conn.stream.socket.send(struct.pack(">I", 3) + b"bye")  # type: ignore[attr-defined]
        wait_readable(clt)  # the server's EOF arrived while it sat idle
        with pool.connection(where) as fresh:
            assert fresh is not clt and clt.closed and echo(fresh, b"ab") == b"ba"
        assert pool.stats.discarded == 1 and len(peer.ports) == 2


def test_tls_origins_are_pooled(loops: LoopThread, server_ssl_context: ssl.SSLContext, ca_file: str) -> None:
    peer = Peer(loops, server_ssl_context)
    try:
        with MsgPool(LengthPrefixed(), tls=TlsOptions(ca_file=ca_file, server_hostname="localhost")) as pool:
            where = f"tls://127.0.0.1:{peer.port}"
            for _ in range(3):
                with pool.connection(where) as clt:
                    assert echo(clt, b"secure") == b"eruces"
            assert pool.stats.created == 1 and pool.stats.reused == 2 and len(peer.ports) == 1
    finally:
        peer.close()


def test_a_one_way_tls_connection_is_pooled(loops: LoopThread, server_ssl_context: ssl.SSLContext, ca_file: str) -> None:
    """TLS 1.3 servers send session tickets after the handshake: bytes that make the socket
    readable but carry no message. A client that only sends never reads them; the pool must not
    mistake them for unread input (and must still refuse a real unread message)."""
    peer = Peer(loops, server_ssl_context)
    try:
        with MsgPool(LengthPrefixed(), tls=TlsOptions(ca_file=ca_file, server_hostname="localhost")) as pool:
            where = f"tls://127.0.0.1:{peer.port}"
            clt = pool.acquire(where)
            assert clt.conn.stream.tls_version == "TLSv1.3"  # type: ignore[attr-defined]
            clt.send(b"quiet")
            wait_readable(clt)  # the tickets (at least) have arrived
            pool.release(where, clt)
            assert not clt.closed and pool.idle(where) == 1
            again = pool.acquire(where)
            assert again is clt
            again.send(b"loud")
            wait_readable(again)  # the answer arrived
            pool.release(where, again)  # the answer was never read: closed
            assert again.closed and pool.idle(where) == 0
    finally:
        peer.close()


def test_the_generic_pool_with_msg_connector(peer: Peer) -> None:
    pool: Pool[Origin, PooledClt[memoryview]] = Pool(msg_connector(LengthPrefixed()), max_idle_per_key=1)
    origin = Origin("tcp", "127.0.0.1", peer.port)
    clt = pool.acquire(origin)
    assert clt.leased and clt.capacity() == 0
    assert echo(clt, b"gen") == b"neg"
    clt.unlease()
    pool.release(origin, clt)
    again = pool.acquire(origin)
    assert again is clt
    again.lease()
    pool.close()
    assert clt.closed


def test_a_connection_still_connecting_is_not_reusable(peer: Peer) -> None:
    from boomnet.msg.clt import open_stream

    clt: PooledClt[memoryview] = PooledClt(open_stream("127.0.0.1", peer.port), LengthPrefixed())
    try:
        assert not clt.reusable()
        clt.wait_established(5)
        assert clt.reusable()
    finally:
        clt.close()
    assert not clt.reusable()


def test_bad_origins_are_local_errors(peer: Peer) -> None:
    with MsgPool(LengthPrefixed()) as pool:
        with pytest.raises(LocalError):
            pool.acquire(f"http://127.0.0.1:{peer.port}")
        with pytest.raises(LocalError):
            msg_connector(LengthPrefixed())(Origin("https", "127.0.0.1", peer.port))
        with pytest.raises(LocalError):
            msg_connector(LengthPrefixed(), timeout=0)
