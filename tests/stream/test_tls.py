"""TlsStream against real TLS peers (stdlib ssl servers with trustme certificates), both backends."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading

import pytest
import trustme

from boomnet.errors import CertificateError, ConnectionClosed, ConnectTimeout, TlsError
from boomnet.stream import BufferedStream, TcpStream, TlsStream, UnixStream, WrappingStream

from .helpers import Peer, flush_all, read_exactly, recv_exactly, wait_established

BACKENDS = ["stdlib", "pyopenssl"]


def echo(n: int):
    return lambda conn: conn.sendall(recv_exactly(conn, n))


def connect_tls(peer: Peer, host: str = "localhost", **options) -> TlsStream:
    s = TcpStream.connect("127.0.0.1", peer.port).into_tls(host, **options)
    wait_established(s)
    return s


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_trusts_ca_file_and_round_trips(server_ssl_context, ca_file, backend, host) -> None:
    with Peer(echo(5), ssl_context=server_ssl_context) as peer:
        s = connect_tls(peer, host, ca_file=ca_file, backend=backend)
        assert not s.direct and s.tls_version in ("TLSv1.2", "TLSv1.3")  # memory BIOs by default
        s.write(b"hello")
        assert read_exactly(s, 5) == b"hello"
        peer.join()
        with pytest.raises(ConnectionClosed):
            read_exactly(s, 1)
        s.close()


def test_trusts_cadata(server_ssl_context, tls_ca, backend) -> None:
    with Peer(echo(2), ssl_context=server_ssl_context) as peer:
        s = connect_tls(peer, cadata=tls_ca.cert_pem.bytes().decode(), backend=backend)
        s.write(b"ok")
        assert read_exactly(s, 2) == b"ok"
        s.close()


def test_unknown_ca_is_rejected(server_ssl_context, backend) -> None:
    other_ca_pem = trustme.CA().cert_pem.bytes().decode()
    with Peer(echo(1), ssl_context=server_ssl_context) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", cadata=other_ca_pem, backend=backend)
        with pytest.raises(CertificateError, match="local issuer"):
            wait_established(s)
        assert s.closed


def test_wrong_hostname_is_rejected(server_ssl_context, ca_file, backend) -> None:
    with Peer(echo(1), ssl_context=server_ssl_context) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("example.com", ca_file=ca_file, backend=backend)
        with pytest.raises(CertificateError, match=r"(?i)hostname mismatch"):
            wait_established(s)


def test_verify_false_works_and_warns(server_ssl_context, backend, caplog) -> None:
    with Peer(echo(3), ssl_context=server_ssl_context) as peer:
        with caplog.at_level(logging.WARNING, logger="boomnet.stream.tls"):
            s = connect_tls(peer, "example.com", verify=False, backend=backend)
        assert any("verification is DISABLED" in r.getMessage() for r in caplog.records)
        s.write(b"raw")
        assert read_exactly(s, 3) == b"raw"
        s.close()


def test_alpn(server_cert, ca_file, backend) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(ctx)
    ctx.set_alpn_protocols(["http/1.1"])
    with Peer(echo(1), ssl_context=ctx) as peer:
        s = connect_tls(peer, ca_file=ca_file, backend=backend, alpn=["h2", "http/1.1"])
        assert s.alpn_protocol == "http/1.1"
        s.write(b"a")
        read_exactly(s, 1)
        s.close()


def tls_server_on(sock: socket.socket, ctx: ssl.SSLContext, handler) -> threading.Thread:
    def run() -> None:
        sock.settimeout(5)
        with ctx.wrap_socket(sock, server_side=True) as conn:
            handler(conn)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_tls_over_non_socket_inner_stream(server_ssl_context, ca_file, backend) -> None:
    """A wrapper hides the socket: TLS must run through memory BIOs."""
    a, b = socket.socketpair()
    payload = os.urandom(300_000)
    t = tls_server_on(b, server_ssl_context, lambda c: c.sendall(recv_exactly(c, len(payload))))
    inner = WrappingStream(UnixStream.from_socket(a))
    s = TlsStream(inner, "localhost", ca_file=ca_file, backend=backend)
    wait_established(s)
    assert not s.direct
    s.write(payload)
    flush_all(s)
    assert read_exactly(s, len(payload), chunk=100_000) == payload
    t.join(5)
    with pytest.raises(ConnectionClosed):
        read_exactly(s, 1)
    s.close()


def test_tls_over_buffered_tcp(server_ssl_context, ca_file, backend) -> None:
    with Peer(echo(4), ssl_context=server_ssl_context) as peer:
        inner = BufferedStream(TcpStream.connect("127.0.0.1", peer.port))
        s = inner.into_tls("localhost", ca_file=ca_file, backend=backend)
        wait_established(s)
        s.write(b"buf!")
        assert s.pending > 0  # held by the BufferedStream until flush
        flush_all(s)
        assert read_exactly(s, 4) == b"buf!"
        s.close()


@pytest.mark.parametrize("wrap", [False, True], ids=["direct", "memory"])
def test_big_write_small_sndbuf(server_ssl_context, ca_file, backend, wrap) -> None:
    payload = os.urandom(2 * 1024 * 1024)
    got: list[bytes] = []
    expected = [0]
    gate = threading.Event()

    def handler(c) -> None:
        gate.wait(10)  # read nothing until the client has seen the kernel refuse bytes
        got.append(recv_exactly(c, expected[0]))

    with Peer(handler, ssl_context=server_ssl_context) as peer:
        tcp = TcpStream.connect("127.0.0.1", peer.port)
        wait_established(tcp)
        tcp.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        s = TlsStream(WrappingStream(tcp) if wrap else tcp, "localhost", ca_file=ca_file, backend=backend)
        wait_established(s)
        sent = bytearray(payload)
        s.write(payload[:777])
        s.write(memoryview(payload)[777:])
        # loopback receive buffers autotune up to megabytes: write on until the kernel refuses
        for _ in range(32):
            if s.pending > 0:
                break
            extra = os.urandom(1024 * 1024)
            s.write(extra)
            sent += extra
        assert s.pending > 0
        expected[0] = len(sent)
        gate.set()
        flush_all(s)
        peer.join()
        assert got and got[0] == bytes(sent)
        s.close()


def test_small_reads_and_buffered(server_ssl_context, ca_file, backend) -> None:
    payload = os.urandom(50_000)
    gate = threading.Event()

    def send(conn) -> None:
        conn.sendall(payload)
        gate.wait(5)

    with Peer(send, ssl_context=server_ssl_context) as peer:
        s = connect_tls(peer, ca_file=ca_file, backend=backend)
        buf = bytearray(100)
        first = read_exactly(s, 100, chunk=100)
        assert s.buffered() > 0  # the rest of the 16 KiB record sits decrypted in the TLS object
        rest = read_exactly(s, len(payload) - 100, chunk=100)
        assert first + rest == payload
        assert s.recv_into(buf) == 0
        gate.set()
        s.close()


def test_handshake_timeout(backend) -> None:
    gate = threading.Event()
    with Peer(lambda c: gate.wait(5)) as peer:  # accepts TCP, never speaks TLS
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", backend=backend, handshake_timeout=0.2)
        with pytest.raises(ConnectTimeout):
            wait_established(s)
        gate.set()


def test_plaintext_server_is_tls_error(backend) -> None:
    def http(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)

    with Peer(http) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", backend=backend)
        with pytest.raises(TlsError) as info:
            wait_established(s)
        assert not isinstance(info.value, CertificateError)


def test_peer_closing_during_handshake_is_tls_error(backend) -> None:
    with Peer(lambda c: c.recv(10)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", backend=backend)
        with pytest.raises(TlsError):
            wait_established(s)


def test_unknown_backend_is_value_error() -> None:
    a, b = socket.socketpair()
    with pytest.raises(ValueError):
        TlsStream(UnixStream.from_socket(a), "localhost", backend="nope")
    a.close()
    b.close()


def test_missing_ca_file_is_tls_error(tmp_path, backend) -> None:
    a, b = socket.socketpair()
    s = TlsStream(UnixStream.from_socket(a), "localhost", ca_file=str(tmp_path / "missing.pem"), backend=backend)
    with pytest.raises(TlsError):
        s.establish()
    b.close()


def test_expired_certificate_is_rejected(tls_ca, ca_file, backend) -> None:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    expired = tls_ca.issue_cert(
        "localhost", not_before=now - datetime.timedelta(days=10), not_after=now - datetime.timedelta(days=1)
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    expired.configure_cert(ctx)
    with Peer(echo(1), ssl_context=ctx) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", ca_file=ca_file, backend=backend)
        with pytest.raises(CertificateError, match="expired"):
            wait_established(s)


@pytest.mark.parametrize("wrap", [False, True], ids=["direct", "memory"])
def test_one_read_takes_many_records_then_eof_after_data(server_ssl_context, ca_file, backend, wrap) -> None:
    """Venues send one message per TLS record; a read must batch them, and an EOF met while
    batching must not cost the bytes already read."""
    sent = threading.Event()
    messages = [f"message {i};".encode() for i in range(50)]

    def send_records(conn) -> None:
        conn.recv(1)
        for m in messages:
            conn.sendall(m)  # one record each
        sent.set()  # on loopback the bytes are in the client's receive queue once sendall returns

    with Peer(send_records, ssl_context=server_ssl_context) as peer:
        tcp = TcpStream.connect("127.0.0.1", peer.port)
        s = TlsStream(WrappingStream(tcp) if wrap else tcp, "localhost", ca_file=ca_file, backend=backend)
        wait_established(s)
        s.write(b"go")
        flush_all(s)
        assert sent.wait(5)
        peer.join()  # the server has closed too: the EOF sits behind the records
        buf = bytearray(65536)
        n = s.recv_into(buf)
        assert n > len(messages[0])  # more than one record in one call
        data = bytes(buf[:n]) + read_exactly_until_eof(s)
        assert data == b"".join(messages)
        s.close()


def read_exactly_until_eof(s: TlsStream) -> bytes:
    out = bytearray()
    buf = bytearray(65536)
    for _ in range(10_000):
        try:
            n = s.recv_into(buf)
        except ConnectionClosed:
            return bytes(out)
        out += buf[:n]
    raise AssertionError("no EOF")
