"""How a TLS stream ends: close_notify is a clean ConnectionClosed, a cut without it a
TruncatedStream, a reset a ConnectionReset; always after every earlier byte. Both engines in
three modes -- direct (``memory_bio=False``: the engine owns the socket), socket (the default:
memory BIOs on a socket) and memory (over a wrapping stream) -- against a stdlib ``ssl`` server."""

from __future__ import annotations

import os
import socket
import ssl
import struct

import pytest

from boomnet.errors import ConnectionClosed, ConnectionReset, TlsError, TruncatedStream
from boomnet.stream import TcpStream, TlsStream, WrappingStream

from .helpers import Peer, read_to_end, wait_established

PAYLOAD = os.urandom(100_000)  # several TLS records, all of which must arrive before the end
CUT = 7000  # the read size: not a multiple of the record size, so reads end mid-record too


CASES = [
    ("stdlib", "direct"),  # memory_bio=False on a socket: the engine owns the descriptor
    ("stdlib", "socket"),  # the default on a socket: memory BIOs
    ("stdlib", "memory"),  # over a wrapping stream: memory BIOs whatever the option says
    ("pyopenssl", "direct"),
    ("pyopenssl", "socket"),
    ("pyopenssl", "memory"),
    ("pyopenssl", "public-api"),
    ("pyopenssl", "public-api-memory"),
]


@pytest.fixture(params=CASES, ids=["-".join(c) for c in CASES])
def case(request, monkeypatch) -> tuple[str, str]:
    """``public-api``: the pyOpenSSL engine without its cffi shortcuts (as if pyOpenSSL's
    internals moved): direct mode over ``Connection.recv_into``, no zero-copy BIO feeding."""
    if request.param[1].startswith("public-api"):
        from boomnet.stream.tls_engines import PyOpenSslEngine

        real_init = PyOpenSslEngine.__init__

        def public_only(self, *args, **kwargs) -> None:
            real_init(self, *args, **kwargs)
            self._bio_write = self._bio_pending = None
            self.read_into = self._read_into

        monkeypatch.setattr(PyOpenSslEngine, "__init__", public_only)
    return request.param


@pytest.fixture
def backend(case) -> str:
    return case[0]


@pytest.fixture
def mode(case) -> str:
    return case[1]


def make(tcp: TcpStream, mode: str, **options) -> TlsStream:
    """The TLS stream of ``mode`` over ``tcp`` (direct modes ask for ``memory_bio=False``)."""
    direct = mode in ("direct", "public-api")
    inner = WrappingStream(tcp) if mode.endswith("memory") else tcp
    return TlsStream(inner, "localhost", memory_bio=not direct, **options)


def connect(peer: Peer, ca_file: str, backend: str, mode: str) -> TlsStream:
    s = make(TcpStream.connect("127.0.0.1", peer.port), mode, ca_file=ca_file, backend=backend)
    wait_established(s)
    assert s.direct is (mode in ("direct", "public-api"))
    return s


def test_close_notify_is_a_clean_close_and_is_answered(server_ssl_context, ca_file, backend, mode) -> None:
    answered: list[socket.socket] = []

    def send_then_unwrap(conn: ssl.SSLSocket) -> None:
        conn.sendall(PAYLOAD)
        answered.append(conn.unwrap())  # sends close_notify, then waits for the client's

    with Peer(send_then_unwrap, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        data, end = read_to_end(s, CUT, timeout=5)
        assert data == PAYLOAD
        assert type(end) is ConnectionClosed and "close_notify" in str(end)
        assert s.closed
        with pytest.raises(ConnectionClosed) as again:  # every later call says the same
            s.recv_into(bytearray(10))
        assert type(again.value) is ConnectionClosed
        s.close()  # our close_notify completes the server's unwrap()
        peer.join()  # re-raises if unwrap() failed (e.g. no close_notify came back)
    assert answered


@pytest.mark.parametrize("cut", ["close", "shutdown"])
def test_tcp_cut_without_close_notify_is_truncated(server_ssl_context, ca_file, backend, mode, cut) -> None:
    def send_then_cut(conn: ssl.SSLSocket) -> None:
        conn.sendall(PAYLOAD)
        if cut == "shutdown":
            conn.shutdown(socket.SHUT_RDWR)  # TCP FIN, no TLS alert
        # close() of an SSLSocket does not send close_notify either

    with Peer(send_then_cut, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        data, end = read_to_end(s, CUT, timeout=5)
        assert data == PAYLOAD  # every byte before the cut was delivered first
        assert isinstance(end, TruncatedStream) and isinstance(end, ConnectionClosed)
        assert "without close_notify" in str(end)
        with pytest.raises(TruncatedStream):
            s.recv_into(bytearray(10))
        with pytest.raises(TruncatedStream):
            s.write(b"late")
        s.close()
        peer.join()


def test_reset_is_connection_reset(server_ssl_context, ca_file, backend, mode) -> None:
    def send_then_reset(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"last words")
        conn.recv(1)  # wait until the client has read them
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with Peer(send_then_reset, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        got = bytearray()
        buf = bytearray(100)
        import time

        end = time.monotonic() + 5
        while len(got) < 10 and time.monotonic() < end:
            got += buf[: s.recv_into(buf)]
        assert got == b"last words"
        s.write(b"!")
        s.flush()
        peer.join()
        _, how = read_to_end(s, CUT, timeout=5)
        if backend == "stdlib" and mode == "direct" or mode == "public-api":
            # CPython's _ssl reports ECONNRESET inside SSL_read as SSLEOFError ("EOF occurred in
            # violation of protocol"): a reset reads as a truncation, never as a clean close.
            assert isinstance(how, (ConnectionReset, TruncatedStream))
        else:
            assert isinstance(how, ConnectionReset) and not isinstance(how, TruncatedStream)
        s.close()


def test_writing_to_a_reset_peer_is_an_error_not_silent_loss(server_ssl_context, ca_file, backend, mode) -> None:
    def reset(conn: ssl.SSLSocket) -> None:
        conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with Peer(reset, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        s.write(b"x")
        s.flush()
        peer.join()
        chunk = b"y" * 65536
        with pytest.raises(ConnectionClosed):  # ConnectionReset / TruncatedStream are subclasses
            for _ in range(1000):
                s.write(chunk)
                s.flush()
                s.recv_into(bytearray(100))
        s.close()


def test_corrupted_record_is_a_tls_error_not_an_end(server_ssl_context, ca_file, backend, mode) -> None:
    alerts: list[str] = []

    def corrupt(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"good")
        conn.recv(1)
        # an application-data record of garbage, written under the TLS layer: it cannot decrypt
        os.write(conn.fileno(), bytes([0x17, 0x03, 0x03, 0x00, 0x20]) + os.urandom(32))
        try:
            conn.recv(1)  # hold the connection open until the client has seen the error
        except ssl.SSLError as e:  # the client's alert, e.g. bad_record_mac
            alerts.append(str(e))

    with Peer(corrupt, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        got = bytearray()
        buf = bytearray(100)
        import time

        end = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < end:
            got += buf[: s.recv_into(buf)]
        assert got == b"good"
        s.write(b"!")
        s.flush()
        with pytest.raises(TlsError) as info:
            while time.monotonic() < end:
                s.recv_into(buf)
        assert not isinstance(info.value, ConnectionClosed)
        s.close()
        peer.join()
    assert alerts and "ALERT" in alerts[0]  # the client told the server why it gave up


def test_our_close_sends_close_notify(server_ssl_context, ca_file, backend, mode) -> None:
    unwrapped: list[socket.socket] = []

    def wait_for_close_notify(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"hi")
        assert conn.recv(10) == b""  # the client closed (close_notify, or a bare EOF)
        unwrapped.append(conn.unwrap())  # succeeds only if the client's close_notify came

    with Peer(wait_for_close_notify, ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        got = bytearray()
        buf = bytearray(10)
        import time

        end = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < end:
            got += buf[: s.recv_into(buf)]
        assert got == b"hi" and not s.closed
        s.close()  # READY: close_notify goes out before the socket closes
        peer.join()
    assert unwrapped


def test_recv_before_the_handshake_drives_it(server_ssl_context, ca_file, backend, mode) -> None:
    with Peer(lambda c: (c.sendall(b"early"), c.recv(1)), ssl_context=server_ssl_context) as peer:
        s = make(TcpStream.connect("127.0.0.1", peer.port), mode, ca_file=ca_file, backend=backend)
        assert s.tls_version is None
        got = bytearray()
        buf = bytearray(10)
        import time

        end = time.monotonic() + 5
        while len(got) < 5 and time.monotonic() < end:  # never called establish() ourselves
            got += buf[: s.recv_into(buf)]
        assert got == b"early" and s.tls_version in ("TLSv1.2", "TLSv1.3")
        s.write(b"!")
        s.flush()
        s.close()


def test_a_full_buffer_hints_that_more_may_follow(server_ssl_context, ca_file, backend, mode) -> None:
    """A read that filled the buffer exactly may have left bytes behind (decrypted or not):
    buffered() says "poll again"; a read that did not fill it leaves no such hint."""
    with Peer(lambda c: (c.sendall(b"a" * 64), c.recv(1)), ssl_context=server_ssl_context) as peer:
        s = connect(peer, ca_file, backend, mode)
        import time

        end = time.monotonic() + 5
        n = 0
        while not n and time.monotonic() < end:  # until the record is readable
            n = s.recv_into(bytearray(16))
        assert n == 16
        assert s.buffered() >= 1  # the buffer was full
        rest = bytearray(200)
        total = 0
        while total < 48 and time.monotonic() < end:
            total += s.recv_into(memoryview(rest)[total:])
        assert total == 48
        assert s.buffered() == 0  # a short read: nothing held back
        s.write(b"!")
        s.flush()
        s.close()


def test_peer_closing_during_the_handshake_is_a_tls_error(backend, mode) -> None:
    with Peer(lambda c: c.recv(10)) as peer:  # takes part of the ClientHello, then closes
        s = make(TcpStream.connect("127.0.0.1", peer.port), mode, backend=backend)
        with pytest.raises(TlsError) as info:
            wait_established(s)
        assert not isinstance(info.value, ConnectionClosed)
        assert s.closed
