"""More of the IOService endpoints: TLS both ends on one loop, Unix listener, liveness, replay;
Svc limits and broadcast."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest

from boomnet.errors import ConnectionClosed, PeerTimeout
from boomnet.msg import Clt, Connection, Datagram, DatagramCodec, LengthPrefixed, MsgOptions, Store, Svc
from boomnet.msg.endpoint import ListenerEndpoint, MsgEndpoint, Reactor
from boomnet.service import DisconnectKind, IOService
from boomnet.stream import RecordedStream
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls_server import TlsServerOptions

from .test_service import poll_until


class Echo(Reactor[Any]):
    def on_message(self, conn: Connection[Any], msg: Any, ctx: Any) -> None:
        conn.push(Datagram(msg.tag, bytes(msg.data)))


def test_tls_listener_and_tls_client_on_one_loop(cert_files, ca_file) -> None:
    got: list = []

    class Client(MsgEndpoint[Any]):
        def on_connected(self, conn: Connection[Any], ctx: Any) -> None:
            conn.send(Datagram(5, b"over tls"))

        def on_message(self, conn: Connection[Any], msg: Any, ctx: Any) -> None:
            got.append((msg.tag, bytes(msg.data)))

    with IOService() as io:
        lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=DatagramCodec(), reactor_factory=lambda c: Echo(), tls=TlsServerOptions(*cert_files))
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        io.register(Client("localhost", lst.address[1], codec=DatagramCodec(), tls=TlsOptions(ca_file=ca_file)))
        poll_until(io, lambda: bool(got), what="echo over TLS")
    assert got == [(5, b"over tls")]


def test_unix_listener_endpoint(tmp_path) -> None:
    path = str(tmp_path / "l.sock")
    with IOService() as io:
        lst: ListenerEndpoint[Any] = ListenerEndpoint(path=path, codec=DatagramCodec(), reactor_factory=lambda c: Echo())
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(struct.pack(">IHH", 6, 1, 3) + b"hi")
        s.setblocking(False)
        got = b""
        end = time.monotonic() + 5
        while len(got) < 10:
            io.poll()
            try:
                got += s.recv(100)
            except BlockingIOError:
                pass
            assert time.monotonic() < end
        assert got == struct.pack(">IHH", 6, 1, 3) + b"hi"
        s.close()


def test_silent_peer_is_noticed_by_idle_timeout() -> None:
    reasons: list = []

    class Client(MsgEndpoint[Any]):
        def on_disconnect(self, reason: Any, ctx: Any) -> bool:
            reasons.append(reason)
            return False

    srv = socket.create_server(("127.0.0.1", 0))
    with IOService(check_every=1) as io:
        io.register(Client("127.0.0.1", srv.getsockname()[1], codec=LengthPrefixed(), options=MsgOptions(idle_timeout=0.2)))
        poll_until(io, lambda: bool(reasons), timeout=10, what="idle timeout")
    srv.close()
    assert reasons[0].kind is DisconnectKind.ERROR and isinstance(reasons[0].error, PeerTimeout)


def test_client_endpoint_replays_a_recording(tmp_path) -> None:
    lst = socket.create_server(("127.0.0.1", 0))
    raw = socket.create_connection(lst.getsockname())
    peer, _ = lst.accept()
    lst.close()
    clt = Clt(RecordedStream(__import__("boomnet.stream", fromlist=["TcpStream"]).TcpStream(raw, "v"), "feed", tmp_path), DatagramCodec())
    peer.sendall(struct.pack(">IHH", 5, 1, 1) + b"a" + struct.pack(">IHH", 5, 1, 2) + b"b")
    end = time.monotonic() + 5
    live: list = []
    while len(live) < 2:
        live.extend((d.tag, bytes(d.data)) for d in clt.recv_batch())
        assert time.monotonic() < end
    peer.close()
    with pytest.raises(ConnectionClosed):
        while True:
            clt.recv_batch()
            assert time.monotonic() < end
    clt.close()

    store = Store()
    done: list = []

    class Client(MsgEndpoint[Any]):
        def on_disconnect(self, reason: Any, ctx: Any) -> bool:
            done.append(reason)
            return True  # a replay is never reconnected anyway

    with IOService() as io:
        io.register(Client("venue", 1, codec=DatagramCodec(), observers=[store]).replay("feed", str(tmp_path)))
        poll_until(io, lambda: bool(done), what="replay end")
    assert [(d.tag, d.data) for d in store.received()] == live


def test_svc_max_connections_and_broadcast() -> None:
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), max_connections=2) as svc:
        a = Clt.connect(*svc.address, codec=LengthPrefixed())
        b = Clt.connect(*svc.address, codec=LengthPrefixed())
        end = time.monotonic() + 5
        while len(svc.clients) < 2:
            svc.poll()
            assert time.monotonic() < end
        c = Clt.connect(*svc.address, codec=LengthPrefixed())  # one too many: accepted and closed
        with pytest.raises(ConnectionClosed):
            while True:
                svc.poll()
                c.recv_batch()
                assert time.monotonic() < end
        assert len(svc.clients) == 2
        assert svc.broadcast(b"all") == []
        assert bytes(a.recv(timeout=5)) == b"all" and bytes(b.recv(timeout=5)) == b"all"
        a.close(), b.close(), c.close()


def test_listener_broadcast_reports_the_connections_that_cannot_take_it() -> None:
    with IOService() as io:
        lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Reactor(),
                                                      options=MsgOptions(send_budget=10_000))
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        fast, slow = socket.create_connection(lst.address), socket.create_connection(lst.address)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        poll_until(io, lambda: len(lst.connections) == 2, what="two connections")
        fast.setblocking(False)
        refused: list = []
        end = time.monotonic() + 20
        got = 0
        while not refused:  # the slow client never reads: its budget fills, the fast one keeps up
            refused = lst.broadcast(b"x" * 1000)
            io.poll()
            try:
                got += len(fast.recv(1 << 20))
            except BlockingIOError:
                pass
            assert time.monotonic() < end
        assert len(refused) == 1 and refused[0].name == f"127.0.0.1:{slow.getsockname()[1]}"
        assert got > 0
        fast.close(), slow.close()
