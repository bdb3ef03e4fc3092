"""KtlsStream: this machine has no ``tls`` kernel module, so the fallback and require=True are tested."""

from __future__ import annotations

import logging
import os
import socket

import pytest

from boomnet.errors import KtlsUnavailable
from boomnet.stream import KtlsStream, TcpStream, UnixStream, WrappingStream

from .helpers import Peer, read_exactly, recv_exactly, wait_established

KERNEL_TLS = os.path.exists("/sys/module/tls")


@pytest.fixture(params=["stdlib", "pyopenssl"])
def backend(request) -> str:
    return request.param


def test_fallback_to_user_space_tls(server_ssl_context, ca_file, backend, caplog, monkeypatch) -> None:
    monkeypatch.setattr(KtlsStream, "_fallback_logged", False)
    with Peer(lambda c: c.sendall(recv_exactly(c, 4)), ssl_context=server_ssl_context) as peer:
        with caplog.at_level(logging.INFO, logger="boomnet.stream.tls"):
            s = TcpStream.connect("127.0.0.1", peer.port).into_ktls("localhost", ca_file=ca_file, backend=backend)
            wait_established(s)
        if KERNEL_TLS and s.ktls_active:  # pragma: no cover - not on this machine
            pytest.skip("n/a: the kernel took TLS here; fallback not reachable")
        assert not s.ktls_active
        assert any("kernel TLS unavailable" in r.getMessage() for r in caplog.records)
        s.write(b"ktls")
        assert read_exactly(s, 4) == b"ktls"
        s.close()


def test_fallback_is_logged_once(server_ssl_context, ca_file, caplog, monkeypatch) -> None:
    monkeypatch.setattr(KtlsStream, "_fallback_logged", False)
    with caplog.at_level(logging.WARNING, logger="boomnet.stream.tls"):
        for _ in range(2):
            with Peer(lambda c: c.recv(1), ssl_context=server_ssl_context) as peer:
                s = TcpStream.connect("127.0.0.1", peer.port).into_ktls("localhost", ca_file=ca_file)
                wait_established(s)
                s.write(b"x")
                s.flush()
                peer.join()
                s.close()
    if KERNEL_TLS:  # pragma: no cover
        pytest.skip("n/a: kernel TLS present")
    assert sum("kernel TLS unavailable" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.skipif(KERNEL_TLS, reason="n/a: the kernel offers TLS offload here")
def test_require_raises_ktls_unavailable(server_ssl_context, ca_file, backend) -> None:
    with Peer(lambda c: c.recv(1), ssl_context=server_ssl_context) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_ktls("localhost", ca_file=ca_file, backend=backend, require=True)
        with pytest.raises(KtlsUnavailable, match="tls"):
            wait_established(s)
        assert s.closed


def test_require_over_non_socket_inner_fails_at_once() -> None:
    a, b = socket.socketpair()
    with pytest.raises(KtlsUnavailable, match="socket"):
        KtlsStream(WrappingStream(UnixStream.from_socket(a)), "localhost", require=True)
    a.close()
    b.close()
