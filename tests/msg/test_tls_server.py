"""Server-side TLS with trustme certificates: server auth, client certificates, SNI."""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from collections.abc import Callable

import pytest
import trustme

from boomnet.errors import CertificateError, LocalError, TlsError
from boomnet.msg import Clt, LengthPrefixed, Svc
from boomnet.stream.base import Stream
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls_server import TlsServerOptions, TlsServerStream

from .peers import LoopThread


def pem_pair(cert: trustme.LeafCert, tmp_path, name: str) -> tuple[str, str]:
    chain, key = tmp_path / f"{name}-chain.pem", tmp_path / f"{name}-key.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    return str(chain), str(key)


async def ask(port: int, ctx: ssl.SSLContext, server_hostname: str, payload: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=server_hostname)
    try:
        w.write(struct.pack(">I", len(payload)) + payload)
        await w.drain()
        (n,) = struct.unpack(">I", await r.readexactly(4))
        return await r.readexactly(n)
    finally:
        w.close()


def serve(svc: Svc, fut, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not fut.done():
        for clt, msg in svc.poll():
            clt.send(b"re:" + bytes(msg))
        assert time.monotonic() < end
        time.sleep(0.0002)


def test_our_client_and_our_server_over_tls(cert_files, ca_file) -> None:
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*cert_files)) as svc:
        # both ends live on this thread: start the client without waiting, drive both
        from boomnet.msg.clt import open_stream

        clt = Clt(open_stream("127.0.0.1", svc.address[1], tls=TlsOptions(ca_file=ca_file, server_hostname="localhost")), LengthPrefixed())
        end = time.monotonic() + 10
        while not (clt.conn.establish() and svc.clients):
            svc.poll()
            assert time.monotonic() < end
        server_side = svc.clients[0]
        clt.send(b"secret")
        assert bytes(server_side.recv(timeout=5)) == b"secret"
        server_side.send(b"reply")
        assert bytes(clt.recv(timeout=5)) == b"reply"
        clt.close()


def test_client_certificate_required_and_verified(loops: LoopThread, tls_ca: trustme.CA, client_cert, cert_files, ca_file, client_ssl_context) -> None:
    opts = TlsServerOptions(*cert_files, client_ca_file=ca_file)
    assert opts.require_client_cert is None  # required by default once a client CA is given
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=opts) as svc:
        port = svc.address[1]
        with_cert = ssl.create_default_context()
        tls_ca.configure_trust(with_cert)
        client_cert.configure_cert(with_cert)
        fut = loops.submit(ask(port, with_cert, "localhost", b"with cert"))
        serve(svc, fut)
        assert fut.result() == b"re:with cert"
        peer = svc.clients[0].conn.stream.peer_certificate()  # type: ignore[attr-defined]
        assert peer is not None and "client@example.test" in str(peer)

        # no client certificate: the server refuses the handshake
        fut = loops.submit(ask(port, client_ssl_context, "localhost", b"no cert"))
        end = time.monotonic() + 10
        refused = []
        while not refused:
            svc.poll()
            # (the first client's close may be reported here too: look for the refusal)
            refused = [e for _, e in svc.disconnected if isinstance(e, TlsError)]
            assert time.monotonic() < end
            time.sleep(0.0005)
        assert isinstance(refused[0], (CertificateError, TlsError))
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            fut.result(10)


def test_client_certificate_optional(loops: LoopThread, cert_files, ca_file, client_ssl_context) -> None:
    opts = TlsServerOptions(*cert_files, client_ca_file=ca_file, require_client_cert=False)
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=opts) as svc:
        fut = loops.submit(ask(svc.address[1], client_ssl_context, "localhost", b"anon"))
        certs = []
        end = time.monotonic() + 10
        while not fut.done():
            for clt, msg in svc.poll():
                # asked while the client is surely still connected (it may be gone once it has its answer)
                certs.append(clt.conn.stream.peer_certificate())  # type: ignore[attr-defined]
                clt.send(b"re:" + bytes(msg))
            assert time.monotonic() < end
            time.sleep(0.0002)
        assert fut.result() == b"re:anon"
        assert certs == [None]


def test_sni_picks_the_certificate(loops: LoopThread, tls_ca: trustme.CA, cert_files, client_ssl_context, tmp_path) -> None:
    other = pem_pair(tls_ca.issue_cert("other.test"), tmp_path, "other")
    opts = TlsServerOptions(*cert_files, sni={"other.test": other})
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=opts) as svc:
        # the client verifies the name it asked for: only the SNI certificate passes for other.test
        for name in ("other.test", "localhost"):
            fut = loops.submit(ask(svc.address[1], client_ssl_context, name, name.encode()))
            serve(svc, fut)
            assert fut.result() == b"re:" + name.encode()


def test_server_options_are_validated(cert_files, tmp_path) -> None:
    with pytest.raises(LocalError):
        TlsServerOptions("")
    with pytest.raises(LocalError):
        TlsServerOptions(*cert_files, require_client_cert=True)
    with pytest.raises(TypeError):
        TlsServerOptions(*cert_files, client_ca="x")  # type: ignore[call-arg]
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(TlsError):
        Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(str(bogus)))


def _server_pair(ca_file: str, server_stream: Callable[[Stream], TlsServerStream]) -> tuple[Clt, Clt, TlsServerStream]:
    """A TLS client and the server side of its accepted connection (``server_stream`` wraps the
    accepted socket stream), both established; the listener is closed again."""
    from boomnet.msg.clt import open_stream
    from boomnet.stream.listener import TcpListener

    with TcpListener.bind() as lst:
        clt = Clt(open_stream("127.0.0.1", lst.address[1], tls=TlsOptions(ca_file=ca_file, server_hostname="localhost")), LengthPrefixed())
        end = time.monotonic() + 10
        accepted = None
        while accepted is None:
            clt.conn.establish()
            accepted = lst.accept()
            assert time.monotonic() < end
        tls = server_stream(accepted)
        server = Clt(tls, LengthPrefixed())
        while not (clt.conn.establish() & server.conn.establish()):
            assert time.monotonic() < end
    return clt, server, tls


def _exchange(clt: Clt, server: Clt, there: bytes, back: bytes) -> None:
    clt.send(there)
    assert bytes(server.recv(timeout=5)) == there
    server.send(back)
    assert bytes(clt.recv(timeout=5)) == back
    clt.close(), server.close()


def test_server_tls_over_a_non_socket_stream_uses_memory_bios(cert_files, ca_file) -> None:
    """TlsServerStream over a wrapper stream (not a socket): the memory-BIO engine path."""
    from boomnet.stream import BufferedStream

    clt, server, tls = _server_pair(ca_file, lambda s: TlsServerStream(BufferedStream(s), TlsServerOptions(*cert_files)))
    assert not tls.direct
    _exchange(clt, server, b"via memory bios", b"and back")


@pytest.mark.parametrize("memory_bio", [True, False])
def test_server_tls_on_a_socket_runs_the_mode_its_options_say(cert_files, ca_file, memory_bio: bool) -> None:
    """On a socket the server runs memory BIOs by default, direct with ``memory_bio=False``."""
    clt, server, tls = _server_pair(ca_file, lambda s: TlsServerStream(s, TlsServerOptions(*cert_files, memory_bio=memory_bio)))
    assert tls.direct is not memory_bio
    _exchange(clt, server, b"ping", b"pong")
