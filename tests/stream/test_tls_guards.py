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
import trustme

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


# --- what is sent and checked as the peer's name ----------------------------------------------


def sni_recording_context(cert, seen: list[str | None]) -> ssl.SSLContext:
    ctx = server_context(cert)
    ctx.sni_callback = lambda sslobj, name, _ctx: seen.append(name)
    return ctx


@pytest.mark.parametrize("host,sni", [("localhost", "localhost"), ("127.0.0.1", None)])
def test_sni_carries_names_never_ip_literals(server_cert, ca_file, backend, host, sni) -> None:
    seen: list[str | None] = []
    with Peer(lambda c: c.sendall(recv_exactly(c, 1)), ssl_context=sni_recording_context(server_cert, seen)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls(host, ca_file=ca_file, backend=backend)
        wait_established(s)
        s.write(b"s")
        assert read_exactly(s, 1) == b"s"
        s.close()
    assert seen == [sni]


def test_internationalised_name_is_sent_and_checked_as_its_a_label(tls_ca, ca_file, backend) -> None:
    seen: list[str | None] = []
    cert = tls_ca.issue_cert("bücher.localhost")  # SAN DNS:xn--bcher-kva.localhost
    with Peer(lambda c: c.sendall(recv_exactly(c, 1)), ssl_context=sni_recording_context(cert, seen)) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("bücher.localhost", ca_file=ca_file, backend=backend)
        wait_established(s)
        s.write(b"i")
        assert read_exactly(s, 1) == b"i"
        s.close()
    assert seen == ["xn--bcher-kva.localhost"]


def test_name_with_a_nul_byte_is_refused_before_the_handshake(backend) -> None:
    a, b = socket.socketpair()
    try:
        s = TlsStream(UnixStream.from_socket(a), "localhost\0.evil.example", backend=backend)
        # pyOpenSSL: OpenSSL's own X509_VERIFY_PARAM_set1_host refuses it; stdlib: the C layer.
        reason = "expected peer name" if backend == "pyopenssl" else "without null bytes"
        with pytest.raises(TlsError, match=reason):
            s.establish()
        assert s.closed
        b.settimeout(5)
        assert b.recv(1) == b""  # the stream was closed without a ClientHello going out
    finally:
        a.close()
        b.close()


def test_engine_and_context_must_match(fresh_cache) -> None:
    from boomnet.stream.tls_engines import make_engine

    ctx = tls_context(TlsOptions())
    with pytest.raises(TypeError):
        make_engine("pyopenssl", ctx, "localhost", None, True)
    with pytest.raises(TypeError):
        make_engine("stdlib", tls_context(TlsOptions(backend="pyopenssl")), "localhost", None, True)


def test_short_memory_bio_write_is_an_error_not_lost_bytes(fresh_cache) -> None:
    from boomnet.stream.tls_engines import PyOpenSslEngine

    engine = PyOpenSslEngine(tls_context(TlsOptions(backend="pyopenssl")), "localhost", None, True)
    real = engine._bio_write
    engine._bio_write = lambda bio, buf, n: real(bio, buf, n - 1)
    with pytest.raises(TlsError, match="took 2 of 3 bytes"):
        engine.feed(memoryview(b"abc"))


def test_pyopenssl_shortcuts_are_in_use_on_this_install(fresh_cache) -> None:
    """The cffi shortcuts (zero-copy feed, cheap pending check, SSL_read into the caller's buffer)
    once went silently unused when a binding dropped one function: notice such a change here."""
    from boomnet.stream.tls_engines import PyOpenSslEngine

    engine = PyOpenSslEngine(tls_context(TlsOptions(backend="pyopenssl")), "localhost", None, True)
    assert engine._bio_write is not None and engine._bio_pending is not None
    assert engine.direct is False
    assert engine.read_into != engine._read_into
    assert not engine.has_outgoing()
    assert engine.handshake() is False  # wants the server's answer...
    assert engine.has_outgoing()  # ...after writing a ClientHello into the BIO
    hello = engine.outgoing()
    assert hello[:1] == b"\x16" and not engine.has_outgoing()  # a handshake record, all taken


def test_stdlib_engine_reports_outgoing_ciphertext_exactly(fresh_cache) -> None:
    from boomnet.stream.tls_engines import StdlibEngine

    engine = StdlibEngine(tls_context(TlsOptions()), "localhost", None)  # memory mode
    assert engine.direct is False
    assert not engine.has_outgoing()
    assert engine.handshake() is False
    assert engine.has_outgoing()
    assert engine.outgoing()[:1] == b"\x16" and not engine.has_outgoing()
    assert engine.outgoing() == b""


def test_verify_false_never_blames_the_certificate(tls_ca, backend) -> None:
    """With verification off, a handshake that fails for another reason (here: the server demands
    a client certificate) is a TlsError, not a CertificateError about the (unchecked) server
    certificate, even though OpenSSL noted that certificate as untrusted."""
    untrusted = trustme.CA().issue_cert("localhost")
    ctx = server_context(untrusted)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # so the refusal happens inside the handshake
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=tls_ca.cert_pem.bytes().decode())
    with Peer(lambda c: c.recv(1), ssl_context=ctx) as peer:
        s = TcpStream.connect("127.0.0.1", peer.port).into_tls("localhost", verify=False, backend=backend)
        with pytest.raises(TlsError) as info:
            wait_established(s)
        assert not isinstance(info.value, CertificateError), info.value
    assert peer.handshake_error is not None
