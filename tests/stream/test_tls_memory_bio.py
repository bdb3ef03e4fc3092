"""``TlsOptions(memory_bio=True)`` (the default): TLS over memory BIOs on a socket (one ``recv``
per burst of records, up to 256 KiB of ciphertext), and ``memory_bio=False``, the direct path.
Against a stdlib ``ssl`` server in a thread; both backends. The same guarantees in both modes:
every byte in order, then how the stream ended."""

from __future__ import annotations

import array
import fcntl
import hashlib
import os
import socket
import ssl
import termios
import threading
import time

import pytest

from boomnet.errors import ConnectionClosed, TruncatedStream
from boomnet.stream import TcpStream, TlsStream
from boomnet.stream.ktls import KtlsStream
from boomnet.stream.options import TlsOptions

from .helpers import Peer, read_to_end, wait_established

BULK = os.urandom(3 * 1024 * 1024 + 12_345)  # hundreds of records; reads end mid-record


def _connect(peer: Peer, ca_file: str, backend: str, memory_bio: bool) -> TlsStream:
    s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", ca_file=ca_file, backend=backend,
                                                            memory_bio=memory_bio)
    wait_established(s)
    return s


def test_the_default_is_memory_bios_and_ktls_stays_on_the_socket(server_ssl_context: ssl.SSLContext,
                                                                   ca_file: str) -> None:
    assert TlsOptions().memory_bio is True
    assert TcpStream.connect("127.0.0.1", 9).into_tls("localhost").options.memory_bio is True

    def echo_once(conn: ssl.SSLSocket) -> None:
        conn.sendall(conn.recv(16))

    for make in (lambda t: t.into_tls("localhost", ca_file=ca_file),
                 lambda t: KtlsStream(t, "localhost", ca_file=ca_file)):
        with Peer(echo_once, ssl_context=server_ssl_context) as peer:
            s = make(TcpStream.connect("127.0.0.1", peer.port))
            wait_established(s)
            # kTLS needs the TLS object on the socket: it runs direct whatever memory_bio says
            assert s.direct is isinstance(s, KtlsStream)
            s.write(b"ping")
            s.flush()
            buf, deadline = bytearray(64), time.monotonic() + 5
            got = bytearray()
            while len(got) < 4 and time.monotonic() < deadline:
                got += buf[: s.recv_into(buf)]
            assert got == b"ping"
            s.close()


def test_the_ciphertext_buffer_starts_small_and_grows_for_a_bulk_transfer(server_ssl_context: ssl.SSLContext,
                                                                        ca_file: str) -> None:
    def send_on_request(conn: ssl.SSLSocket) -> None:
        conn.recv(1)  # the client made room for the burst first
        conn.sendall(BULK)
        conn.unwrap()

    with Peer(send_on_request, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, "stdlib", True)
        assert len(s._cipher_view) == 32 * 1024  # an idle or small-message connection holds 32 KiB
        sock = s.inner.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.write(b"g")
        s.flush()
        queued, deadline = array.array("i", [0]), time.monotonic() + 5
        while queued[0] < 600 * 1024 and time.monotonic() < deadline:  # a burst the kernel holds at once
            fcntl.ioctl(sock, termios.FIONREAD, queued)
            time.sleep(0.001)
        assert queued[0] >= 600 * 1024, queued[0]
        data, end = read_to_end(s)  # recvs that fill the buffer double it, up to its cap
        assert data == BULK and type(end) is ConnectionClosed
        assert len(s._cipher_view) == 256 * 1024
        s.close()


@pytest.mark.parametrize("backend", ["stdlib", "pyopenssl"])
@pytest.mark.parametrize("memory_bio", [False, True])
def test_bulk_bytes_then_close_notify(server_ssl_context: ssl.SSLContext, ca_file: str, backend: str,
                                      memory_bio: bool) -> None:
    def send_then_unwrap(conn: ssl.SSLSocket) -> None:
        conn.sendall(BULK)
        conn.unwrap()  # close_notify, then the client's answer

    with Peer(send_then_unwrap, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, backend, memory_bio)
        assert s.direct is not memory_bio
        data, end = read_to_end(s)
        assert hashlib.sha256(data).digest() == hashlib.sha256(BULK).digest()
        assert type(end) is ConnectionClosed and "close_notify" in str(end)
        s.close()
        peer.join()


@pytest.mark.parametrize("backend", ["stdlib", "pyopenssl"])
def test_a_cut_without_close_notify_is_truncated_after_every_byte(server_ssl_context: ssl.SSLContext, ca_file: str,
                                                                  backend: str) -> None:
    def send_then_cut(conn: ssl.SSLSocket) -> None:
        conn.sendall(BULK)
        conn.shutdown(socket.SHUT_RDWR)  # TCP FIN, no TLS alert

    with Peer(send_then_cut, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, backend, True)
        data, end = read_to_end(s, 7_000)  # small reads: the end is found inside a later call
        assert data == BULK
        assert isinstance(end, TruncatedStream)
        with pytest.raises(TruncatedStream):
            s.recv_into(bytearray(10))
        s.close()
        peer.join()


def test_requests_and_answers_go_both_ways(server_ssl_context: ssl.SSLContext, ca_file: str) -> None:
    def echo(conn: ssl.SSLSocket) -> None:
        for _ in range(200):
            data = conn.recv(100)
            if not data:
                return
            conn.sendall(data * 50)

    with Peer(echo, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, "stdlib", True)
        buf = bytearray(65536)
        for i in range(200):
            msg = b"%05d" % i
            s.write(msg)
            got = bytearray()
            deadline = time.monotonic() + 5
            while len(got) < 250 and time.monotonic() < deadline:
                n = s.recv_into(buf)
                got += buf[:n]
            assert bytes(got) == msg * 50
        s.close()
        peer.join()


@pytest.mark.parametrize("backend", ["stdlib", "pyopenssl"])
def test_close_notify_then_fin_at_once_is_still_a_clean_close(server_ssl_context: ssl.SSLContext, ca_file: str,
                                                              backend: str) -> None:
    # the server sends its close_notify and closes TCP without waiting for ours: the data, the
    # close_notify and the FIN can come in one read; the end is the clean one (not a truncation)
    def send_notify_close(conn: ssl.SSLSocket) -> None:
        conn.sendall(BULK)
        conn.setblocking(False)
        try:
            conn.unwrap()  # sends close_notify; would wait for ours
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass

    with Peer(send_notify_close, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, backend, True)
        peer.join()  # the server's socket is closed: on loopback its FIN is already queued to us
        data, end = read_to_end(s)
        assert data == BULK
        assert type(end) is ConnectionClosed and "close_notify" in str(end)
        s.close()


@pytest.mark.parametrize("backend", ["stdlib", "pyopenssl"])
@pytest.mark.parametrize("memory_bio", [False, True])
@pytest.mark.parametrize("how", ["close_notify", "cut"])
def test_the_end_is_known_by_the_call_that_finds_it(server_ssl_context: ssl.SSLContext, ca_file: str, backend: str,
                                                    memory_bio: bool, how: str) -> None:
    small = os.urandom(50_000)

    def send_then_end(conn: ssl.SSLSocket) -> None:
        conn.sendall(small)
        if how == "cut":
            conn.shutdown(socket.SHUT_RDWR)  # TCP FIN, no close_notify
            return
        conn.setblocking(False)
        try:
            conn.unwrap()  # close_notify without waiting for ours
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass

    expected = TruncatedStream if how == "cut" else ConnectionClosed
    with Peer(send_then_end, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, backend, memory_bio)
        peer.join()  # the data and the end are all on their way
        buf = bytearray(256 * 1024)
        got = bytearray()
        deadline = time.monotonic() + 5
        while len(got) < len(small) and time.monotonic() < deadline:
            got += buf[: s.recv_into(buf)]
        assert bytes(got) == small
        # the end is behind the last bytes: the next call raises it, never a silent 0. Direct
        # mode reads until want-read, so the read that took the last bytes already found it (the
        # stream says so: a selector polls it again); memory mode does not recv again after a
        # recv that emptied the socket (that recv would cost a message ~1 us of latency)
        if not memory_bio:
            assert s.closed and s.read_hint()
        with pytest.raises(expected) as end:
            s.recv_into(buf)
        assert isinstance(end.value, expected) and (how == "cut" or type(end.value) is ConnectionClosed)
        s.close()


@pytest.mark.parametrize("backend", ["stdlib", "pyopenssl"])
@pytest.mark.parametrize("memory_bio", [False, True])
def test_a_later_close_notify_is_raised_never_returned_as_nothing(server_ssl_context: ssl.SSLContext, ca_file: str,
                                                                  backend: str, memory_bio: bool) -> None:
    def send_wait_notify(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"data")
        conn.recv(1)  # the client has read the data: the close_notify comes on its own
        conn.setblocking(False)
        try:
            conn.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass

    with Peer(send_wait_notify, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, backend, memory_bio)
        buf = bytearray(1024)
        got = bytearray()
        deadline = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < deadline:
            got += buf[: s.recv_into(buf)]
        assert got == b"data"
        s.write(b"!")
        s.flush()
        with pytest.raises(ConnectionClosed) as end:
            while time.monotonic() < deadline:
                assert s.recv_into(buf) == 0
                assert not s.closed  # 0 means "nothing now": the end is raised by the call that finds it
                time.sleep(0.0005)
        assert type(end.value) is ConnectionClosed
        peer.join()
        s.close()


@pytest.mark.parametrize("memory_bio", [True, False])
def test_a_client_that_only_sends_loses_nothing_at_close(server_ssl_context: ssl.SSLContext, ca_file: str,
                                                         memory_bio: bool) -> None:
    """A TLS 1.3 server's session tickets come after the handshake, and a client that only sends
    never reads them: closing a socket with unread input makes the kernel send RST and drop what
    it had not sent yet. Every byte written and flushed before close() must still arrive, then
    close_notify -- in both modes."""
    burst = os.urandom(1 << 20)
    closed = threading.Event()
    got = bytearray()
    ends: list[BaseException | None] = []

    def read_after_close(conn: ssl.SSLSocket) -> None:
        closed.wait(10)  # everything is in the kernel's buffers (or lost) by now
        conn.settimeout(10)
        try:
            while chunk := conn.recv(1 << 16):
                got.extend(chunk)
            ends.append(None)  # close_notify
        except (OSError, ssl.SSLError) as e:
            ends.append(e)

    with Peer(read_after_close, ssl_context=server_ssl_context) as peer:
        s = _connect(peer, ca_file, "stdlib", memory_bio)
        assert s.tls_version == "TLSv1.3"
        sock = s.inner.socket
        queued, deadline = array.array("i", [0]), time.monotonic() + 5
        while not queued[0] and time.monotonic() < deadline:  # the tickets have arrived, unread
            fcntl.ioctl(sock, termios.FIONREAD, queued)
            time.sleep(0.001)
        assert queued[0], "no session ticket came"
        s.write(burst)
        while not s.flush():
            assert time.monotonic() < deadline + 5
            time.sleep(0.001)
        s.close()
        closed.set()
        peer.join()
    assert ends == [None] and bytes(got) == burst
