"""Against independent peers: asyncio streams + struct, each codec, plain TCP, TLS and Unix."""

from __future__ import annotations

import os
import ssl
import time

import pytest

from boomnet.msg import Clt, Datagram, DatagramCodec, LengthPrefixed, Lines, Svc
from boomnet.stream import UnixStream
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls_server import TlsServerOptions

from .peers import EchoPeer, LoopThread, client_session, transform

OURS = {
    "lp4": lambda: LengthPrefixed(4),
    "lp2le_incl": lambda: LengthPrefixed(2, byteorder="little", includes_header=True),
    "datagram": lambda: DatagramCodec(),
    "lines": lambda: Lines(max_line=300_000),
}


def sample(kind: str) -> list:
    sizes = [1, 2, 100, 1000, 65_000] + ([] if kind == "lp2le_incl" else [70_000, 200_000])
    payloads = [bytes((i * 7 + j) % 251 + (1 if kind == "lines" else 0) for j in range(n)) for i, n in enumerate(sizes)]
    if kind == "lines":
        payloads = [p.replace(b"\n", b"x") for p in payloads] + [b""]
    if kind == "datagram":
        return [Datagram(i * 1000, p) for i, p in enumerate(payloads)]
    return payloads


def as_wire(kind: str, msg):  # our message -> the peer's representation
    return (msg.tag, bytes(msg.data)) if kind == "datagram" else bytes(msg)


def recv_all(clt: Clt, n: int, timeout: float = 10.0) -> list:
    out = []
    end = time.monotonic() + timeout
    while len(out) < n:
        out.extend(as_wire_any(m) for m in clt.recv_batch())
        assert time.monotonic() < end, f"{len(out)} of {n} messages"
        time.sleep(0.0002)
    return out


def as_wire_any(m):
    return (m.tag, bytes(m.data)) if isinstance(m, Datagram) else bytes(m)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("kind", list(OURS))
def test_clt_talks_to_an_asyncio_struct_peer(loops: LoopThread, kind: str, tls: bool, server_ssl_context, ca_file) -> None:
    peer = EchoPeer(loops, kind, ssl_context=server_ssl_context if tls else None)
    try:
        clt = Clt.connect("127.0.0.1", peer.address[1], codec=OURS[kind](),
                          tls=TlsOptions(ca_file=ca_file) if tls else None, timeout=10, spin_sleep=0.0002)
        msgs = sample(kind)
        for m in msgs:
            clt.push(m)
        clt.flush(timeout=10)
        got = recv_all(clt, len(msgs))
        assert got == [transform(kind, as_wire(kind, m)) for m in msgs]
        assert peer.received == [as_wire(kind, m) for m in msgs]
        assert not peer.errors
        clt.close()
    finally:
        peer.close()


def _serve_echo(svc: Svc, done, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        for clt, msg in svc.poll():
            if isinstance(msg, Datagram):
                clt.push(Datagram((msg.tag + 1) % 65536, bytes(msg.data)[::-1]))
            else:
                clt.push(bytes(msg)[::-1])
        for clt in svc.clients:
            clt.flush()
        assert time.monotonic() < end, "server loop timed out"
        time.sleep(0.0001)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("kind", list(OURS))
def test_svc_serves_an_asyncio_struct_client(loops: LoopThread, kind: str, tls: bool, cert_files, client_ssl_context) -> None:
    svc = Svc.bind("127.0.0.1", 0, codec=OURS[kind](), tls=TlsServerOptions(*cert_files) if tls else None)
    try:
        msgs = [as_wire(kind, m) for m in sample(kind)]
        fut = loops.submit(client_session("127.0.0.1", svc.address[1], kind, msgs,
                                          ssl_context=client_ssl_context if tls else None,
                                          server_hostname="localhost" if tls else None))
        _serve_echo(svc, fut.done)
        assert fut.result() == [transform(kind, m) for m in msgs]
    finally:
        svc.close()


def test_unix_socket_both_ways(loops: LoopThread, tmp_path) -> None:
    path = str(tmp_path / "peer.sock")
    peer = EchoPeer(loops, "lp4", path=path)
    try:
        clt = Clt(UnixStream.connect(path), LengthPrefixed(), spin_sleep=0.0002)
        clt.wait_established(5)
        clt.send(b"over unix")
        assert bytes(clt.recv(timeout=5)) == b"xinu revo"
        clt.close()
    finally:
        peer.close()
    spath = str(tmp_path / "svc.sock")
    with Svc.bind_unix(spath, codec=Lines()) as svc:
        assert svc.address == spath and os.path.exists(spath)
        mine = Clt.connect_unix(spath, codec=Lines(), timeout=5)
        server_side = svc.accept(timeout=5)
        mine.send(b"hello")
        assert bytes(server_side.recv(timeout=5)) == b"hello"
        server_side.send(b"back")
        assert bytes(mine.recv(timeout=5)) == b"back"
        mine.close()
    assert not os.path.exists(spath)  # the listener removed its socket file


def test_partial_reads_one_byte_at_a_time(loops: LoopThread) -> None:
    """The peer writes every byte in its own segment (drain after each): frames survive any split."""
    import asyncio
    import struct

    async def trickle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        wire = b"".join(struct.pack(">IHH", 4 + len(p), 1, t) + p for t, p in [(1, b"abc"), (2, b"x" * 300), (3, b"z")])
        for i in range(len(wire)):
            w.write(wire[i : i + 1])
            await w.drain()
            await asyncio.sleep(0)
        await r.read(1)
        w.close()

    async def start():
        return await asyncio.start_server(trickle, "127.0.0.1", 0)

    server = loops.run(start())
    try:
        port = server.sockets[0].getsockname()[1]
        clt = Clt.connect("127.0.0.1", port, codec=DatagramCodec(), spin_sleep=0.0001)
        got = [(m.tag, bytes(m.data)) for m in (clt.recv(timeout=10) for _ in range(3))]
        assert got == [(1, b"abc"), (2, b"x" * 300), (3, b"z")]
        clt.close()
    finally:
        loops.close_server(server)


def test_tls_hostname_is_verified_by_default(loops: LoopThread, server_ssl_context, ca_file) -> None:
    from boomnet.errors import CertificateError

    peer = EchoPeer(loops, "lp4", ssl_context=server_ssl_context)
    try:
        with pytest.raises(CertificateError):
            Clt.connect("127.0.0.1", peer.address[1], codec=LengthPrefixed(), tls=True, timeout=5)  # no CA given
        with pytest.raises(CertificateError):
            Clt.connect("127.0.0.1", peer.address[1], codec=LengthPrefixed(),
                        tls=TlsOptions(ca_file=ca_file, server_hostname="wrong.example"), timeout=5)
    finally:
        peer.close()


_ = ssl  # the fixtures hand us ssl contexts


def test_ipv6_loopback_and_peer_names() -> None:
    try:
        svc = Svc.bind("::1", 0, codec=LengthPrefixed())
    except Exception as e:  # no IPv6 on this host
        pytest.skip(f"no IPv6 loopback: {e}")
    with svc:
        clt = Clt.connect("::1", svc.address[1], codec=LengthPrefixed(), timeout=5)
        peer = svc.accept(timeout=5)
        assert peer.name.startswith("[::1]:")
        clt.send(b"six")
        assert bytes(peer.recv(timeout=5)) == b"six"
        clt.close()
