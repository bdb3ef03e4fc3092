"""TLS identity guards, both engines: IP-address SANs, "verification needs a host name", the
pyOpenSSL extra, and the context cache (boomnet.stream.tls.tls_context)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading

import pytest

from boomnet.errors import CertificateError, LocalError, MissingExtra, TlsError
from boomnet.stream import TcpStream, TlsStream, UnixStream
from boomnet.stream import tls_contexts as tls_context_module
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls import tls_context

from .helpers import Peer, read_exactly, recv_exactly, wait_established

BACKENDS = ["stdlib", "pyopenssl"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def server_context(cert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


# --- IP-address SANs --------------------------------------------------------------------------


def test_ip_literal_needs_an_ip_san(tls_ca, ca_file, backend) -> None:
    """A certificate naming only DNS:localhost must not pass for 127.0.0.1 (CN/DNS names are not
    IP identities), while one with IP:127.0.0.1 does."""
    dns_only = tls_ca.issue_cert("localhost")
    with Peer(lambda c: c.recv(1), ssl_context=server_context(dns_only)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("127.0.0.1", ca_file=ca_file, backend=backend)
        with pytest.raises(CertificateError, match=r"(?i)IP address mismatch"):
            wait_established(s)
        assert s.closed
    with_ip = tls_ca.issue_cert("localhost", "127.0.0.1")
    with Peer(lambda c: c.sendall(recv_exactly(c, 2)), ssl_context=server_context(with_ip)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("127.0.0.1", ca_file=ca_file, backend=backend)
        wait_established(s)
        s.write(b"ip")
        assert read_exactly(s, 2) == b"ip"
        s.close()


def test_ip_san_of_another_address_is_rejected(tls_ca, ca_file, backend) -> None:
    other_ip = tls_ca.issue_cert("127.0.0.2")
    with Peer(lambda c: c.recv(1), ssl_context=server_context(other_ip)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("127.0.0.1", ca_file=ca_file, backend=backend)
        with pytest.raises(CertificateError):
            wait_established(s)


# --- verification needs a host name -----------------------------------------------------------


@pytest.mark.parametrize("host", ["", None])
def test_verifying_without_a_host_name_fails_before_any_handshake(backend, host) -> None:
    a, b = socket.socketpair()
    try:
        inner = UnixStream.from_socket(a)
        with pytest.raises(LocalError, match="server_hostname is required"):
            TlsStream(inner, host, backend=backend)
        with pytest.raises(LocalError, match="server_hostname is required"):
            inner.into_tls(host, TlsOptions(backend=backend))
        b.setblocking(False)  # the peer received nothing: no ClientHello was sent
        with pytest.raises(BlockingIOError):
            b.recv(1)
    finally:
        a.close()
        b.close()


def test_host_name_from_options_is_used(server_ssl_context, ca_file, backend) -> None:
    with Peer(lambda c: c.sendall(recv_exactly(c, 1)), ssl_context=server_ssl_context) as peer:
        opts = TlsOptions(server_hostname="localhost", ca_file=ca_file, backend=backend)
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls(options=opts)
        assert s.server_hostname == "localhost"
        wait_established(s)
        s.write(b"o")
        assert read_exactly(s, 1) == b"o"
        s.close()


def test_an_empty_name_with_verify_false_is_allowed(server_ssl_context, backend) -> None:
    with Peer(lambda c: c.sendall(recv_exactly(c, 1)), ssl_context=server_ssl_context) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("", verify=False, backend=backend)
        wait_established(s)
        s.write(b"v")
        assert read_exactly(s, 1) == b"v"
        s.close()


# --- typos and values -------------------------------------------------------------------------


def test_misspelt_tls_option_is_a_type_error_at_construction() -> None:
    a, b = socket.socketpair()
    inner = UnixStream.from_socket(a)
    with pytest.raises(TypeError):
        TlsStream(inner, "localhost", handshake_timout=1)
    with pytest.raises(TypeError):
        inner.into_tls("localhost", ca_fille="x.pem")
    with pytest.raises(TypeError):
        inner.into_ktls("localhost", requre=True)
    with pytest.raises(LocalError):
        inner.into_tls("localhost", backend="nope")
    with pytest.raises(LocalError):
        inner.into_tls("localhost", handshake_timeout=0)
    opts = TlsOptions(ca_file="a.pem", alpn=["h2"])
    s = inner.into_tls("localhost", opts, handshake_timeout=3)  # options plus an override
    assert s.options == TlsOptions(ca_file="a.pem", alpn=("h2",), handshake_timeout=3)
    a.close()
    b.close()


# --- the pyOpenSSL extra ----------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_importing_boomnet_does_not_import_pyopenssl() -> None:
    done = run_python(
        """
        import sys
        import boomnet, boomnet.stream, boomnet.stream.tls, boomnet.ws, boomnet.http, boomnet.service
        from boomnet.stream import TcpStream
        loaded = sorted(m for m in ("OpenSSL", "cryptography") if m in sys.modules)
        print("LOADED", loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout


def test_pyopenssl_backend_without_the_extra_names_it() -> None:
    done = run_python(
        """
        import socket, sys
        sys.modules["OpenSSL"] = None  # as if pyOpenSSL were not installed
        from boomnet.errors import MissingExtra
        from boomnet.stream import UnixStream
        from boomnet.stream.options import TlsOptions
        from boomnet.stream.tls import tls_context
        a, b = socket.socketpair()
        try:
            UnixStream.from_socket(a).into_tls("localhost", backend="pyopenssl")
        except MissingExtra as e:
            print("STREAM", e)
        try:
            tls_context(TlsOptions(backend="pyopenssl"))
        except MissingExtra as e:
            print("CONTEXT", isinstance(e, ImportError))
        print("STDLIB", type(tls_context(TlsOptions())).__name__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "STREAM" in done.stdout and "pip install boomnet[pyopenssl]" in done.stdout
    assert "CONTEXT True" in done.stdout
    assert "STDLIB SSLContext" in done.stdout


# --- the context cache ------------------------------------------------------------------------


@pytest.fixture
def fresh_cache():
    tls_context_module.clear_cache()
    yield
    tls_context_module.clear_cache()


def test_contexts_are_shared_per_configuration(fresh_cache, ca_file, backend) -> None:
    base = TlsOptions(ca_file=ca_file, backend=backend)
    ctx = tls_context(base)
    assert tls_context(base) is ctx
    # Only the context-relevant fields count: host name and handshake timeout do not.
    assert tls_context(base.replace(server_hostname="other", handshake_timeout=1)) is ctx
    for different in (base.replace(alpn=("h2",)), base.replace(verify=False), base.replace(ca_file=None)):
        assert tls_context(different) is not ctx
    assert tls_context(base, ktls=True) is not ctx


def test_streams_use_the_cached_context(fresh_cache, server_ssl_context, ca_file, backend, monkeypatch) -> None:
    builds: list[object] = []
    real = tls_context_module._build
    monkeypatch.setattr(tls_context_module, "_build", lambda key: builds.append(key) or real(key))
    for _ in range(3):
        with Peer(lambda c: c.sendall(recv_exactly(c, 1)), ssl_context=server_ssl_context) as peer:
            s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", ca_file=ca_file, backend=backend)
            wait_established(s)
            s.write(b"c")
            assert read_exactly(s, 1) == b"c"
            s.close()
    assert len(builds) == 1


def test_concurrent_first_use_builds_once(fresh_cache, ca_file, monkeypatch) -> None:
    builds: list[object] = []
    gate = threading.Event()
    real = tls_context_module._build

    def slow_build(key):
        builds.append(key)
        gate.wait(5)  # every other thread arrives while this build runs
        return real(key)

    monkeypatch.setattr(tls_context_module, "_build", slow_build)
    opts = TlsOptions(ca_file=ca_file)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(tls_context(opts))) for _ in range(8)]
    for t in threads:
        t.start()
    cached = TlsOptions(verify=False)
    monkeypatch.setattr(tls_context_module, "_build", real)
    tls_context(cached)  # another configuration is not held up by the slow build
    gate.set()
    for t in threads:
        t.join(5)
    assert len(builds) == 1 and len(got) == 8 and all(c is got[0] for c in got)


def test_a_failed_build_is_not_cached(fresh_cache, tmp_path, ca_file) -> None:
    path = tmp_path / "later.pem"
    opts = TlsOptions(ca_file=str(path))
    with pytest.raises(TlsError):
        tls_context(opts)
    shutil.copy(ca_file, path)
    assert isinstance(tls_context(opts), ssl.SSLContext)


@pytest.mark.parametrize("extra", [-1, 0, 1])  # MAX_CONTEXTS - 1, MAX_CONTEXTS, MAX_CONTEXTS + 1
def test_the_cache_is_bounded(fresh_cache, monkeypatch, extra) -> None:
    monkeypatch.setattr(tls_context_module, "_build", lambda key: object())
    limit = tls_context_module.MAX_CONTEXTS
    opts = [TlsOptions(ca_file=f"/nonexistent/{i}.pem") for i in range(limit + extra)]
    first = tls_context(opts[0])
    for o in opts[1:]:
        tls_context(o)
    assert len(tls_context_module._entries) == min(limit, limit + extra)
    assert (tls_context(opts[0]) is first) is (extra <= 0)  # evicted (and rebuilt) only past the limit


def test_cadata_context_is_cached_by_value(fresh_cache, tls_ca, backend) -> None:
    pem = tls_ca.cert_pem.bytes()
    a = tls_context(TlsOptions(cadata=pem, backend=backend))
    assert tls_context(TlsOptions(cadata=bytes(pem), backend=backend)) is a
    assert tls_context(TlsOptions(cadata=pem.decode(), backend=backend)) is not a  # str and bytes differ


def test_missing_ca_file_is_tls_error_at_context(fresh_cache, tmp_path, backend) -> None:
    with pytest.raises(TlsError):
        tls_context(TlsOptions(ca_file=str(tmp_path / "missing.pem"), backend=backend))


def test_missing_extra_is_an_import_error() -> None:
    assert issubclass(MissingExtra, ImportError)
