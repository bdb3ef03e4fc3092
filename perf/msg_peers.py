"""The systems perf/msg_bench.py compares, each as (blast receiver, blast sender, echo server,
echo client) functions run in child processes (blast) or the bench process (echo client).

boomnet in five ways of waiting (LEGEND says, per row, who spins and who sleeps): Clt/Svc and the
IOService path (ListenerEndpoint + Reactor), each with both ends spinning and with both ends
asleep in the kernel between messages ("park"), and the parked IOService server with a client
that spins 100 us before it sleeps. pyzmq: PUSH/PULL and REQ/REP (TCP only: ZeroMQ has no TLS
transport). asyncio+uvloop: streams with struct framing (readexactly). raw sockets + struct, no
framework: blocking (the floor of every mode that sleeps) and spinning (of every mode that spins)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from typing import Any, Callable

HDR = struct.Struct(">I")


def _server_ctx(certs: tuple[str, str] | None) -> ssl.SSLContext | None:
    if certs is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certs)
    return ctx


def _client_ctx(ca: str | None) -> ssl.SSLContext | None:
    if ca is None:
        return None
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


# --- boomnet --------------------------------------------------------------------------------------


def boomnet_blast_recv(n: int, ready: Any, certs: tuple[str, str] | None) -> float:
    from boomnet.msg import LengthPrefixed, Svc
    from boomnet.stream.tls_server import TlsServerOptions

    svc = Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*certs) if certs else None)
    ready.put(svc.address[1])
    clt = svc.accept(timeout=30)
    count = 0

    def handler(msg: memoryview) -> None:
        nonlocal count
        count += 1

    recv_batch = clt.recv_batch
    while count < n:
        for m in recv_batch():
            handler(m)
    end = time.perf_counter()  # of the last message: the rate is from the sender's first send
    svc.close()
    return end


def boomnet_blast_send(port: int, n: int, payload: bytes, ca: str | None, started: Any) -> None:
    from boomnet.errors import SendBufferFull
    from boomnet.msg import Clt, LengthPrefixed
    from boomnet.stream.options import TlsOptions

    clt = Clt.connect("127.0.0.1", port, codec=LengthPrefixed(), tls=TlsOptions(ca_file=ca, server_hostname="localhost") if ca else None)
    push_many, flush = clt.conn.push_many, clt.conn.flush
    batch = [payload] * 256
    started.put(time.perf_counter())
    for _ in range(n // 256):
        try:
            push_many(batch)
        except SendBufferFull:  # the receiver is behind: wait for the socket, then queue again
            clt.flush(timeout=60)
            push_many(batch)
        flush()
    push_many([payload] * (n % 256))
    clt.flush(timeout=60)
    clt.close(flush_timeout=5)


def boomnet_echo_server(ready: Any, certs: tuple[str, str] | None) -> None:
    from boomnet.msg import LengthPrefixed, Svc
    from boomnet.stream.tls_server import TlsServerOptions

    svc = Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*certs) if certs else None)
    ready.put(svc.address[1])
    poll = svc.poll
    while True:
        for clt, msg in poll():
            clt.send(msg)


def boomnet_park_echo_server(ready: Any, certs: tuple[str, str] | None) -> None:
    """Spin while there is traffic, sleep in epoll when a pass found nothing (Svc.wait)."""
    from boomnet.msg import LengthPrefixed, Svc
    from boomnet.stream.tls_server import TlsServerOptions

    svc = Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*certs) if certs else None)
    ready.put(svc.address[1])
    poll, wait = svc.poll, svc.wait
    while True:
        got = poll()
        for clt, msg in got:
            clt.send(msg)
        if not got:
            wait(0.01)


def _clt_echo(port: int, samples: int, payload: bytes, ca: str | None, park_after: float) -> list[int]:
    from boomnet.msg import Clt, LengthPrefixed
    from boomnet.stream.options import TlsOptions

    clt = Clt.connect("127.0.0.1", port, codec=LengthPrefixed(), park_after=park_after,
                      tls=TlsOptions(ca_file=ca, server_hostname="localhost") if ca else None)
    send, recv = clt.conn.send, clt.recv
    clock = time.perf_counter_ns
    out = []
    for _ in range(samples):
        t0 = clock()
        send(payload)
        recv(10.0)
        out.append(clock() - t0)
    clt.close()
    return out


SPIN_THEN_PARK = 0.0001  # seconds a "spin, then park" Clt spins before sleeping in poll(2)


def boomnet_spin_park_echo_client(port: int, samples: int, payload: bytes, ca: str | None) -> list[int]:
    """Clt.recv spinning SPIN_THEN_PARK, then asleep in poll(2) (park_after=SPIN_THEN_PARK)."""
    return _clt_echo(port, samples, payload, ca, park_after=SPIN_THEN_PARK)


def boomnet_park_echo_client(port: int, samples: int, payload: bytes, ca: str | None) -> list[int]:
    """Clt.recv parked in poll(2) after one empty read (park_after=0): for oversubscribed cores."""
    return _clt_echo(port, samples, payload, ca, park_after=0.0)


def boomnet_echo_client(port: int, samples: int, payload: bytes, ca: str | None) -> list[int]:
    from boomnet.msg import Clt, LengthPrefixed
    from boomnet.stream.options import TlsOptions

    clt = Clt.connect("127.0.0.1", port, codec=LengthPrefixed(), tls=TlsOptions(ca_file=ca, server_hostname="localhost") if ca else None)
    send, read = clt.conn.send, clt.conn.read_batch
    clock = time.perf_counter_ns
    out = []
    for _ in range(samples):
        t0 = clock()
        send(payload)
        while not read():
            pass
        out.append(clock() - t0)
    clt.close()
    return out


def boomnet_io_blast_recv(n: int, ready: Any, certs: tuple[str, str] | None) -> float:
    """The IOService path: a ListenerEndpoint whose per-connection Reactor is the handler."""
    from boomnet.msg import LengthPrefixed
    from boomnet.msg.endpoint import ListenerEndpoint, Reactor
    from boomnet.service import IOService
    from boomnet.stream.tls_server import TlsServerOptions

    count = 0

    class Count(Reactor[Any]):
        def on_message(self, conn: Any, msg: Any, ctx: Any) -> None:
            nonlocal count
            count += 1

    io = IOService()
    lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Count(),
                                                  tls=TlsServerOptions(*certs) if certs else None)
    io.register(lst)
    while lst.address is None:
        io.poll()
    ready.put(lst.address[1])
    poll = io.poll
    while count < n:
        poll()
    end = time.perf_counter()
    io.close()
    return end


def _io_echo_listener(certs: tuple[str, str] | None) -> tuple[Any, Any]:
    """An IOService with a ListenerEndpoint whose Reactor echoes with conn.push (flushed at the
    end of the connection's poll: one send per batch)."""
    from boomnet.msg import LengthPrefixed
    from boomnet.msg.endpoint import ListenerEndpoint, Reactor
    from boomnet.service import IOService
    from boomnet.stream.tls_server import TlsServerOptions

    class Echo(Reactor[Any]):
        def on_message(self, conn: Any, msg: Any, ctx: Any) -> None:
            conn.push(msg)

    io = IOService()
    lst: ListenerEndpoint[Any] = ListenerEndpoint(codec=LengthPrefixed(), reactor_factory=lambda c: Echo(),
                                                  tls=TlsServerOptions(*certs) if certs else None)
    io.register(lst)
    while lst.address is None:
        io.poll()
    return io, lst


def boomnet_io_echo_server(ready: Any, certs: tuple[str, str] | None) -> None:
    """Echo on the IOService, busy-polling: ``while True: io.poll()`` (the documented
    lowest-latency loop, one core at 100 %)."""
    io, lst = _io_echo_listener(certs)
    ready.put(lst.address[1])
    poll = io.poll
    while True:
        poll()


def boomnet_io_park_echo_server(ready: Any, certs: tuple[str, str] | None) -> None:
    """Echo on the IOService, ``poll(); wait(0.01)``: sleeps in epoll whenever a poll found
    nothing (the documented shared-machine loop) — in a ping-pong that is after every echo."""
    io, lst = _io_echo_listener(certs)
    ready.put(lst.address[1])
    poll, wait = io.poll, io.wait
    while True:
        poll()
        wait(0.01)


# --- pyzmq ----------------------------------------------------------------------------------------


def zmq_blast_recv(n: int, ready: Any, certs: Any) -> float:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVHWM, 100_000)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    ready.put(port)
    count = 0

    def handler(msg: bytes) -> None:
        nonlocal count
        count += 1

    recv = s.recv
    while count < n:
        handler(recv())
    end = time.perf_counter()  # of the last message: the rate is from the sender's first send
    s.close(0)
    ctx.term()
    return end


def zmq_blast_send(port: int, n: int, payload: bytes, ca: Any, started: Any) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 100_000)
    s.connect(f"tcp://127.0.0.1:{port}")
    send = s.send
    started.put(time.perf_counter())
    for _ in range(n):
        send(payload)
    s.close(linger=30_000)
    ctx.term()


def zmq_echo_server(ready: Any, certs: Any) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    ready.put(s.bind_to_random_port("tcp://127.0.0.1"))
    while True:
        s.send(s.recv())


def zmq_echo_client(port: int, samples: int, payload: bytes, ca: Any) -> list[int]:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.connect(f"tcp://127.0.0.1:{port}")
    send, recv, clock = s.send, s.recv, time.perf_counter_ns
    out = []
    for _ in range(samples):
        t0 = clock()
        send(payload)
        recv()
        out.append(clock() - t0)
    s.close(0)
    ctx.term()
    return out


# --- asyncio streams + uvloop, struct framing -----------------------------------------------------


def _uv_run(coro: Any) -> Any:
    import uvloop

    return uvloop.run(coro)


def asyncio_blast_recv(n: int, ready: Any, certs: tuple[str, str] | None) -> float:
    result: list[float] = []

    async def main() -> None:
        done = asyncio.Event()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            count = 0
            readexactly, unpack = r.readexactly, HDR.unpack
            while count < n:
                (size,) = unpack(await readexactly(4))
                await readexactly(size)
                count += 1
            result.append(time.perf_counter())
            w.close()
            done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=_server_ctx(certs))
        ready.put(server.sockets[0].getsockname()[1])
        await done.wait()
        server.close()

    _uv_run(main())
    return result[0]


def asyncio_blast_send(port: int, n: int, payload: bytes, ca: str | None, started: Any) -> None:
    async def main() -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=_client_ctx(ca), server_hostname="localhost" if ca else None)
        frame = HDR.pack(len(payload)) + payload
        started.put(time.perf_counter())
        for i in range(n):
            w.write(frame)
            if not i & 255:
                await w.drain()
        await w.drain()
        w.close()
        await w.wait_closed()

    _uv_run(main())


def asyncio_echo_server(ready: Any, certs: tuple[str, str] | None) -> None:
    async def main() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await r.readexactly(4)
                    body = await r.readexactly(HDR.unpack(head)[0])
                    w.write(head + body)
            except (asyncio.IncompleteReadError, ConnectionError):
                w.close()  # the client finished

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=_server_ctx(certs))
        ready.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    _uv_run(main())


def asyncio_echo_client(port: int, samples: int, payload: bytes, ca: str | None) -> list[int]:
    out: list[int] = []

    async def main() -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=_client_ctx(ca), server_hostname="localhost" if ca else None)
        frame = HDR.pack(len(payload)) + payload
        clock = time.perf_counter_ns
        for _ in range(samples):
            t0 = clock()
            w.write(frame)
            (size,) = HDR.unpack(await r.readexactly(4))
            await r.readexactly(size)
            out.append(clock() - t0)
        w.close()

    _uv_run(main())
    return out


# --- raw sockets + struct: the floor ----------------------------------------------------------------


def raw_blast_recv(n: int, ready: Any, certs: Any) -> float:
    lst = socket.create_server(("127.0.0.1", 0))
    ready.put(lst.getsockname()[1])
    s, _ = lst.accept()
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    have = pos = count = 0
    unpack = HDR.unpack_from
    while count < n:
        if pos:  # compact
            buf[: have - pos] = buf[pos:have]
            have -= pos
            pos = 0
        have += s.recv_into(mv[have:])
        while have - pos >= 4:
            size = unpack(buf, pos)[0]
            if pos + 4 + size > have:
                break
            _ = mv[pos + 4 : pos + 4 + size]
            pos += 4 + size
            count += 1
    end = time.perf_counter()  # of the last message: the rate is from the sender's first send
    s.close()
    lst.close()
    return end


def raw_blast_send(port: int, n: int, payload: bytes, ca: Any, started: Any) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = HDR.pack(len(payload)) + payload
    chunk = frame * 256
    started.put(time.perf_counter())
    for _ in range(n // 256):
        s.sendall(chunk)
    s.sendall(frame * (n % 256))
    s.close()


def raw_echo_server(ready: Any, certs: Any) -> None:
    lst = socket.create_server(("127.0.0.1", 0))
    ready.put(lst.getsockname()[1])
    s, _ = lst.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        head = s.recv(4, socket.MSG_WAITALL)
        if not head:
            return
        s.sendall(head + s.recv(HDR.unpack(head)[0], socket.MSG_WAITALL))


def raw_echo_client(port: int, samples: int, payload: bytes, ca: Any) -> list[int]:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = HDR.pack(len(payload)) + payload
    clock, out = time.perf_counter_ns, []
    for _ in range(samples):
        t0 = clock()
        s.sendall(frame)
        head = s.recv(4, socket.MSG_WAITALL)
        s.recv(HDR.unpack(head)[0], socket.MSG_WAITALL)
        out.append(clock() - t0)
    s.close()
    return out


def raw_busy_echo_server(ready: Any, certs: Any) -> None:
    """The spinning floor: a non-blocking socket read in a loop (no framework)."""
    lst = socket.create_server(("127.0.0.1", 0))
    ready.put(lst.getsockname()[1])
    s, _ = lst.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    buf = bytearray(1 << 16)
    mv = memoryview(buf)
    have = 0
    recv_into, send = s.recv_into, s.send
    while True:
        try:
            n = recv_into(mv[have:])
        except BlockingIOError:
            continue
        if not n:
            return
        have += n
        pos = 0
        while have - pos >= 4:
            end = pos + 4 + HDR.unpack_from(buf, pos)[0]
            if end > have:
                break
            pos = end
        if pos:
            send(mv[:pos])  # whole frames back (64-byte frames: the kernel takes them at once)
            buf[: have - pos] = buf[pos:have]
            have -= pos


def raw_busy_echo_client(port: int, samples: int, payload: bytes, ca: Any) -> list[int]:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    frame = HDR.pack(len(payload)) + payload
    want = len(frame)
    buf = bytearray(1 << 16)
    mv = memoryview(buf)
    clock, out = time.perf_counter_ns, []
    recv_into = s.recv_into
    for _ in range(samples):
        t0 = clock()
        s.send(frame)
        got = 0
        while got < want:
            try:
                got += recv_into(mv[got:])
            except BlockingIOError:
                pass
        out.append(clock() - t0)
    s.close()
    return out


Blast = tuple[Callable[..., float], Callable[..., None]]
Echo = tuple[Callable[..., None], Callable[..., list[int]]]

# name -> (blast, echo, supports TLS). The names say who spins and who sleeps (see LEGEND).
SYSTEMS: dict[str, tuple[Blast | None, Echo, bool]] = {
    "boomnet Clt/Svc spin": ((boomnet_blast_recv, boomnet_blast_send), (boomnet_echo_server, boomnet_echo_client), True),
    "boomnet IOService spin": ((boomnet_io_blast_recv, boomnet_blast_send), (boomnet_io_echo_server, boomnet_echo_client), True),
    "boomnet IOService park": (None, (boomnet_io_park_echo_server, boomnet_park_echo_client), True),
    "boomnet IOService park + Clt spin-park": (None, (boomnet_io_park_echo_server, boomnet_spin_park_echo_client), True),
    "boomnet Clt/Svc park": (None, (boomnet_park_echo_server, boomnet_park_echo_client), True),
    "pyzmq": ((zmq_blast_recv, zmq_blast_send), (zmq_echo_server, zmq_echo_client), False),
    "asyncio+uvloop": ((asyncio_blast_recv, asyncio_blast_send), (asyncio_echo_server, asyncio_echo_client), True),
    "raw socket blocking": ((raw_blast_recv, raw_blast_send), (raw_echo_server, raw_echo_client), False),
    "raw socket spin": (None, (raw_busy_echo_server, raw_busy_echo_client), False),
}

LEGEND = {
    "boomnet Clt/Svc spin": "server Svc.poll() in a loop; client Clt spinning on read_batch()",
    "boomnet IOService spin": "server ListenerEndpoint+Reactor on an IOService, `while True: io.poll()`; "
                              "client Clt spinning (blast: the IOService receives)",
    "boomnet IOService park": "server IOService `io.poll(); io.wait(0.01)` (sleeps in epoll after every empty poll); "
                              "client Clt(park_after=0) (sleeps in poll(2) after every empty read)",
    "boomnet IOService park + Clt spin-park": "server as in IOService park; client "
                                              f"Clt(park_after={SPIN_THEN_PARK * 1e6:.0f} us): spins that long, then asleep in poll(2)",
    "boomnet Clt/Svc park": "server Svc.poll() + Svc.wait(0.01) when a pass was empty; client Clt(park_after=0)",
    "pyzmq": "PUSH/PULL (blast), REQ/REP (echo); ZeroMQ's I/O thread per context, TCP only",
    "asyncio+uvloop": "asyncio streams on uvloop, struct framing (readexactly)",
    "raw socket blocking": "blocking sockets + struct, both ends asleep in recv: the floor of every mode that sleeps",
    "raw socket spin": "non-blocking sockets read in a loop, both ends: the floor of every mode that spins",
}
