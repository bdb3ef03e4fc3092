"""Message endpoints on the IOService: a listener with per-connection reactors, 1,000 clients on
one loop, a client endpoint that reconnects, and a thread pushing while the loop runs."""

from __future__ import annotations

import resource
import socket
import struct
import threading
import time
from typing import Any, Callable

import pytest

from boomnet.msg import Connection, LengthPrefixed, Store
from boomnet.msg.endpoint import ListenerEndpoint, MsgEndpoint, Reactor, enable_threads
from boomnet.service import IOService


def poll_until(io: IOService, pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not pred():
        io.poll()
        io.wait(0.0005)
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")


def recv_polling(io: IOService, sock: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    """Read ``n`` bytes from a peer socket while the service keeps polling (pushes go out on polls)."""
    sock.setblocking(False)
    got = b""
    end = time.monotonic() + timeout
    while len(got) < n:
        io.poll()
        try:
            got += sock.recv(n - len(got))
        except BlockingIOError:
            pass
        assert time.monotonic() < end, f"{len(got)} of {n} bytes"
    return got


class Echo(Reactor[Any]):
    def __init__(self, log: list) -> None:
        self.log = log

    def on_connected(self, conn: Connection[Any], ctx: Any) -> None:
        self.log.append(("connected", conn.name))

    def on_message(self, conn: Connection[Any], msg: Any, ctx: Any) -> None:
        conn.push(b"echo:" + bytes(msg))

    def on_disconnect(self, conn: Connection[Any], reason: Any, ctx: Any) -> None:
        self.log.append(("disconnected", conn.name, reason.kind.value))


SELECTORS = ["epoll", "direct", "io_uring"]


def make_service(kind: str) -> IOService:
    from boomnet.service import DirectSelector, EpollSelector, IoUringSelector, SelectorUnavailable

    if kind == "epoll":
        return IOService(EpollSelector())
    if kind == "direct":
        return IOService(DirectSelector())
    try:
        return IOService(IoUringSelector(entries=512))
    except SelectorUnavailable as exc:
        pytest.skip(f"kernel refuses io_uring: {exc}")


@pytest.mark.parametrize("selector", SELECTORS)
def test_listener_hands_each_connection_to_its_own_reactor(selector: str) -> None:
    log: list = []
    reactors: list[Echo] = []

    def factory(conn: Connection[Any]) -> Echo:
        reactors.append(Echo(log))
        return reactors[-1]

    with make_service(selector) as io:
        lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=factory)
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        socks = [socket.create_connection(lst.address) for _ in range(3)]
        for i, s in enumerate(socks):
            s.sendall(struct.pack(">I", 2) + b"m%d" % i)
        for i, s in enumerate(socks):
            s.settimeout(0.001)
            got = b""
            end = time.monotonic() + 10
            while len(got) < 11:
                io.poll()
                try:
                    got += s.recv(100)
                except TimeoutError:
                    pass
                assert time.monotonic() < end
            assert got == struct.pack(">I", 7) + b"echo:m%d" % i
        assert len(reactors) == 3 and len(lst.connections) == 3
        socks[0].close()
        poll_until(io, lambda: any(e[0] == "disconnected" for e in log), what="disconnect")
        assert len(lst.connections) == 2
        for s in socks[1:]:
            s.close()


def test_thousand_clients_on_one_listener() -> None:
    """1,000 raw-socket clients (struct framing, not our code) on one ListenerEndpoint; each
    sends one frame and gets its echo; all on the one busy-poll loop."""
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        with IOService() as io:
            lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Echo([]), max_connections=n, backlog=n)
            io.register(lst)
            poll_until(io, lambda: lst.address is not None, what="listening")
            socks = []
            for i in range(n):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(lst.address)
                socks.append(s)
                if i % 64 == 0:
                    io.poll()
            poll_until(io, lambda: len(lst.connections) == n, timeout=60, what=f"{n} accepted connections")
            for i, s in enumerate(socks):
                s.send(struct.pack(">I", 4) + i.to_bytes(4, "big"))
            answers: dict[int, bytes] = {}
            end = time.monotonic() + 60
            while len(answers) < n:
                io.poll()
                for i, s in enumerate(socks):
                    if i in answers:
                        continue
                    try:
                        data = s.recv(64)
                    except BlockingIOError:
                        continue
                    answers[i] = data
                assert time.monotonic() < end, f"{len(answers)} of {n} answered"
            assert all(answers[i] == struct.pack(">I", 9) + b"echo:" + i.to_bytes(4, "big") for i in range(n))
            for s in socks:
                s.close()
            poll_until(io, lambda: not lst.connections, timeout=60, what="all disconnected")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_client_endpoint_reconnects_after_the_server_drops_it() -> None:
    store = Store()
    log: list = []

    class Client(MsgEndpoint[Any]):
        def on_connected(self, conn: Connection[Any], ctx: Any) -> None:
            log.append("up")
            conn.push(b"hello %d" % len(log))

    with IOService() as io:
        io.with_backoff(0.01, 2.0, 0.05)
        srv = socket.create_server(("127.0.0.1", 0))
        srv.settimeout(10)
        client = Client("127.0.0.1", srv.getsockname()[1], codec=LengthPrefixed(), observers=[store])
        io.register(client)
        accepted: list[socket.socket] = []
        t = threading.Thread(target=lambda: accepted.append(srv.accept()[0]))
        t.start()
        poll_until(io, lambda: bool(accepted) and log == ["up"], what="first connect")
        t.join()
        assert recv_polling(io, accepted[0], 11) == struct.pack(">I", 7) + b"hello 1"
        accepted[0].close()  # the server drops us
        t = threading.Thread(target=lambda: accepted.append(srv.accept()[0]))
        t.start()
        poll_until(io, lambda: len(accepted) == 2 and log == ["up", "up"], what="reconnect")
        t.join()
        assert recv_polling(io, accepted[1], 11) == struct.pack(">I", 7) + b"hello 2"
        accepted[1].close()
        srv.close()
    assert store.sent() == [b"hello 1", b"hello 2"]


@pytest.mark.parametrize("selector", SELECTORS)
def test_thread_pushes_wake_a_sleeping_loop(selector: str) -> None:
    """A thread pushes while the loop sleeps in ``io.wait(30)``: the push's wake makes the wait
    return and the next poll sends it (without the wake the message would sit unsent)."""
    got: list[bytes] = []

    class Sink(Reactor[Any]):
        def on_message(self, conn: Connection[Any], msg: Any, ctx: Any) -> None:
            got.append(bytes(msg))

    conns: list[Connection[Any]] = []

    class Client(MsgEndpoint[Any]):
        def on_connected(self, conn: Connection[Any], ctx: Any) -> None:
            enable_threads(self, conn)
            conns.append(conn)

    with make_service(selector) as io:
        lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Sink())
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        io.register(Client("127.0.0.1", lst.address[1], codec=LengthPrefixed()))
        poll_until(io, lambda: bool(conns) and len(lst.connections) == 1, what="connected")
        for _ in range(50):  # settle: nothing left to do, so wait() really sleeps
            io.poll()
        for k in range(3):
            t = threading.Thread(target=lambda k=k: (time.sleep(0.05), conns[0].push_threadsafe(b"from thread %d" % k)))
            t.start()
            io.wait(30)  # returns when the push wakes the loop
            t.join()
            poll_until(io, lambda k=k: len(got) == k + 1, timeout=5, what="delivery")
        assert got == [b"from thread 0", b"from thread 1", b"from thread 2"]

        # and many pushes from a thread while the loop keeps running
        def pusher() -> None:
            for i in range(2000):
                conns[0].push_threadsafe(i.to_bytes(4, "big"))

        t = threading.Thread(target=pusher)
        t.start()
        poll_until(io, lambda: len(got) == 2003, timeout=30, what="2000 thread pushes")
        t.join()
        assert got[3:] == [i.to_bytes(4, "big") for i in range(2000)]


@pytest.mark.parametrize("selector", SELECTORS)
def test_a_push_to_another_connection_goes_out_on_the_next_poll(selector: str) -> None:
    """A reactor relays each message to the OTHER connections with a plain push; their sockets
    never become readable, yet the relay is flushed by the next poll (on_queued -> poll_soon)."""

    class Relay(Reactor[Any]):
        def __init__(self, lst: ListenerEndpoint[Any]) -> None:
            self.lst = lst

        def on_message(self, conn: Connection[Any], msg: Any, ctx: Any) -> None:
            for other in self.lst.connections:
                if other is not conn:
                    other.push(b"relay:" + bytes(msg))

    with make_service(selector) as io:
        holder: list[ListenerEndpoint[Any]] = []
        lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Relay(holder[0]))
        holder.append(lst)
        io.register(lst)
        poll_until(io, lambda: lst.address is not None, what="listening")
        a, b = socket.create_connection(lst.address), socket.create_connection(lst.address)
        poll_until(io, lambda: len(lst.connections) == 2, what="two connections")
        a.sendall(struct.pack(">I", 2) + b"hi")
        assert recv_polling(io, b, 12) == struct.pack(">I", 8) + b"relay:hi"
        a.close(), b.close()


def test_thousand_clients_on_one_svc() -> None:
    """The standalone Svc too: 1,000 raw clients, one frame each, echoed from Svc.poll()."""
    from boomnet.msg import Svc

    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), max_connections=n, backlog=n) as svc:
            socks = []
            for i in range(n):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(svc.address)
                socks.append(s)
                if i % 64 == 0:
                    svc.poll()
            end = time.monotonic() + 60
            while len(svc.clients) < n:
                svc.poll()
                assert time.monotonic() < end, f"{len(svc.clients)} of {n} accepted"
            for i, s in enumerate(socks):
                s.send(struct.pack(">I", 4) + i.to_bytes(4, "big"))
            answered: dict[int, bytes] = {}
            while len(answered) < n:
                for clt, msg in svc.poll():
                    clt.send(b"echo:" + bytes(msg))
                for i, s in enumerate(socks):
                    if i not in answered:
                        try:
                            answered[i] = s.recv(64)
                        except BlockingIOError:
                            pass
                assert time.monotonic() < end, f"{len(answered)} of {n} answered"
            assert all(answered[i] == struct.pack(">I", 9) + b"echo:" + i.to_bytes(4, "big") for i in range(n))
            for s in socks:
                s.close()
            while svc.clients:
                svc.poll()
                assert time.monotonic() < end
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
