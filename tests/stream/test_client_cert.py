"""Client certificates (mutual TLS) on the client side: ``TlsOptions(certfile, keyfile, password)``.

For both client engines (stdlib ``ssl`` and pyOpenSSL): our ``Clt`` against our ``Svc`` that
requires client certificates (trusted cert accepted, none or an untrusted one refused with a clear
error on both sides), our ``Clt`` against an independent asyncio ``ssl`` server with
``CERT_REQUIRED`` written here, and an independent asyncio client presenting a certificate against
our ``Svc``. Certificates are real (trustme).
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from boomnet.errors import BoomnetError, CertificateError, ConnectionClosed, LocalError, TlsError, TruncatedStream
from boomnet.msg import Clt, LengthPrefixed, Svc
from boomnet.msg.clt import open_stream
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls_contexts import clear_cache, tls_context
from boomnet.stream.tls_server import TlsServerOptions

BACKENDS = ["stdlib", "pyopenssl"]
PASSWORD = "s3cret-pass"


def _write_pair(cert: trustme.LeafCert, d: Path, name: str, password: str | None = None) -> tuple[str, str]:
    chain, key = d / f"{name}-chain.pem", d / f"{name}-key.pem"
    chain.write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    if password is None:
        cert.private_key_pem.write_to_path(str(key))
    else:
        pkey = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
        key.write_bytes(pkey.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        ))
    return str(chain), str(key)


@pytest.fixture(scope="module")
def mtls(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("mtls")
    stranger_ca = trustme.CA()  # a CA the servers do not trust
    good = tls_ca.issue_cert("trader@example.test")
    return {
        "good": _write_pair(good, d, "good"),
        "good_encrypted": _write_pair(good, d, "good-enc", PASSWORD),
        "untrusted": _write_pair(stranger_ca.issue_cert("mallory@example.test"), d, "untrusted"),
        "other_key": _write_pair(tls_ca.issue_cert("other@example.test"), d, "other")[1],
        "good_leaf": good,
    }


@pytest.fixture(autouse=True)
def _fresh_contexts() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _client_tls(backend: str, ca_file: str, pair: tuple[str, str] | None, password: str | None = None) -> TlsOptions:
    cert, key = pair if pair is not None else (None, None)
    return TlsOptions(ca_file=ca_file, server_hostname="localhost", backend=backend, certfile=cert, keyfile=key,
                      password=password)


def _connect(svc: Svc[memoryview], tls: TlsOptions, timeout: float = 10.0) -> tuple[Clt[memoryview], Clt[memoryview] | BaseException]:
    """Drive our client and our server on this thread until the server accepted (its Clt) or
    refused it (the server's error)."""
    clt = Clt(open_stream("127.0.0.1", svc.address[1], tls=tls), LengthPrefixed())  # type: ignore[index]
    end = time.monotonic() + timeout
    while True:
        try:
            clt.conn.establish()
        except BoomnetError:
            pass  # a refusal during the handshake: the server side tells which below
        svc.poll()
        if svc.clients:
            return clt, svc.clients[0]
        if svc.disconnected:
            return clt, svc.disconnected[0][1]
        assert time.monotonic() < end, "no outcome from the TLS handshake"
        time.sleep(0.0002)


def _client_error(clt: Clt[memoryview], timeout: float = 10.0) -> BaseException:
    """What the refused client sees: TLS 1.3 finishes the client's handshake before the server
    checks its certificate, so the server's alert arrives on the first read."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if clt.conn.establish():
                clt.conn.read_batch()
        except BoomnetError as e:
            return e
        time.sleep(0.0002)
    raise AssertionError("the refused client saw no error")


# --- options ----------------------------------------------------------------------------------


def test_client_cert_options_are_validated() -> None:
    with pytest.raises(TypeError):
        TlsOptions(cert_file="c.pem")  # type: ignore[call-arg]
    with pytest.raises(LocalError):
        TlsOptions(keyfile="k.pem")  # a key without the certificate it belongs to
    with pytest.raises(LocalError):
        TlsOptions(password="x")
    with pytest.raises(LocalError):
        TlsOptions(certfile="")
    with pytest.raises(LocalError):
        TlsOptions(certfile="c.pem", keyfile="")
    opts = TlsOptions(certfile="c.pem", keyfile="k.pem", password=PASSWORD)
    assert PASSWORD not in repr(opts) and "c.pem" in repr(opts)
    assert TlsOptions().certfile is None and TlsOptions().keyfile is None and TlsOptions().password is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_client_cert_files_fail_when_the_context_is_built(backend: str, mtls: dict[str, Any], ca_file: str, tmp_path: Path) -> None:
    with pytest.raises(TlsError):
        tls_context(TlsOptions(ca_file=ca_file, backend=backend, certfile=str(tmp_path / "missing.pem")))
    cert, _ = mtls["good"]
    with pytest.raises(TlsError):  # a key that is not the certificate's
        tls_context(TlsOptions(ca_file=ca_file, backend=backend, certfile=cert, keyfile=mtls["other_key"]))
    enc_cert, enc_key = mtls["good_encrypted"]
    with pytest.raises(TlsError) as info:
        tls_context(TlsOptions(ca_file=ca_file, backend=backend, certfile=enc_cert, keyfile=enc_key, password="wrong"))
    assert "wrong" not in str(info.value)


def test_contexts_with_different_client_certs_are_not_shared(mtls: dict[str, Any], ca_file: str) -> None:
    plain = tls_context(TlsOptions(ca_file=ca_file))
    with_cert = tls_context(TlsOptions(ca_file=ca_file, certfile=mtls["good"][0], keyfile=mtls["good"][1]))
    other = tls_context(TlsOptions(ca_file=ca_file, certfile=mtls["untrusted"][0], keyfile=mtls["untrusted"][1]))
    assert len({id(plain), id(with_cert), id(other)}) == 3
    assert tls_context(TlsOptions(ca_file=ca_file, certfile=mtls["good"][0], keyfile=mtls["good"][1])) is with_cert


# --- our client against our server ------------------------------------------------------------


@pytest.fixture
def mtls_svc(cert_files: tuple[str, str], ca_file: str) -> Iterator[Svc[memoryview]]:
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*cert_files, client_ca_file=ca_file)) as svc:
        yield svc


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["good", "good_encrypted"])
def test_our_svc_accepts_our_clt_with_a_trusted_cert(backend: str, which: str, mtls: dict[str, Any], mtls_svc: Svc[memoryview], ca_file: str) -> None:
    password = PASSWORD if which == "good_encrypted" else None
    clt, server = _connect(mtls_svc, _client_tls(backend, ca_file, mtls[which], password))
    assert isinstance(server, Clt), server
    peer = server.conn.stream.peer_certificate()  # type: ignore[attr-defined]
    assert peer is not None and "trader@example.test" in str(peer)
    clt.send(b"order")
    assert bytes(server.recv(timeout=5)) == b"order"
    server.send(b"fill")
    assert bytes(clt.recv(timeout=5)) == b"fill"
    clt.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", [None, "untrusted"])
def test_our_svc_refuses_our_clt_without_a_trusted_cert(backend: str, which: str | None, mtls: dict[str, Any], mtls_svc: Svc[memoryview], ca_file: str) -> None:
    clt, server = _connect(mtls_svc, _client_tls(backend, ca_file, mtls[which] if which else None))
    assert isinstance(server, (CertificateError, TlsError)), server  # the server side: refused, and why
    text = str(server).lower()
    assert ("certificate" in text or "unknown ca" in text), text
    seen = _client_error(clt)  # the client side: a TLS error naming the alert, not a silent EOF
    assert isinstance(seen, TlsError) and not isinstance(seen, ConnectionClosed), repr(seen)
    expected = "certificate required" if which is None else "unknown ca"
    assert expected in str(seen).lower().replace("_", " "), str(seen)
    clt.close()
    assert not mtls_svc.clients


# --- our client against an independent server -------------------------------------------------


class AsyncioMtlsServer:
    """An asyncio ``ssl`` server with ``CERT_REQUIRED`` on its own thread: answers each
    length-prefixed frame with the client certificate's common name + the frame."""

    def __init__(self, server_cert: trustme.LeafCert, tls_ca: trustme.CA) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_cert.configure_cert(ctx)
        tls_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.errors: list[BaseException] = []
        self.handled = 0
        self.loop = asyncio.new_event_loop()
        # a failed server handshake never reaches _handle: asyncio reports it to the exception
        # handler, in debug mode only
        self.loop.set_debug(True)
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context.get("exception") or RuntimeError(str(context))))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="mtls-server")
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ctx), self.loop).result(10)
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.handled += 1
        try:
            cert = w.get_extra_info("peercert")
            name = dict(x[0] for x in cert["subject"]).get("commonName", "") if cert and cert.get("subject") else ""
            if not name:  # trustme puts the identity in the SAN
                name = ",".join(v for _, v in cert.get("subjectAltName", ())) if cert else ""
            while True:
                (n,) = struct.unpack(">I", await r.readexactly(4))
                body = await r.readexactly(n)
                reply = name.encode() + b":" + body
                w.write(struct.pack(">I", len(reply)) + reply)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as e:
            self.errors.append(e)
        finally:
            w.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@pytest.fixture
def asyncio_mtls(server_cert: trustme.LeafCert, tls_ca: trustme.CA) -> Iterator[AsyncioMtlsServer]:
    server = AsyncioMtlsServer(server_cert, tls_ca)
    yield server
    server.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_our_clt_presents_its_cert_to_an_asyncio_server(backend: str, mtls: dict[str, Any], asyncio_mtls: AsyncioMtlsServer, ca_file: str) -> None:
    with Clt.connect("127.0.0.1", asyncio_mtls.port, codec=LengthPrefixed(), timeout=10,
                     tls=_client_tls(backend, ca_file, mtls["good"])) as clt:
        clt.send(b"hello")
        assert bytes(clt.recv(timeout=10)) == b"trader@example.test:hello"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_asyncio_server_refuses_our_clt_without_a_cert(backend: str, asyncio_mtls: AsyncioMtlsServer, ca_file: str) -> None:
    clt = Clt(open_stream("127.0.0.1", asyncio_mtls.port, tls=_client_tls(backend, ca_file, None)), LengthPrefixed())
    try:
        seen = _client_error(clt)
        # asyncio's server drops the connection on a failed handshake without flushing its alert:
        # the client sees the EOF without close_notify (an error, never a silent end)
        assert isinstance(seen, (TlsError, TruncatedStream)), repr(seen)
        if isinstance(seen, TlsError):
            assert "certificate required" in str(seen).lower().replace("_", " "), str(seen)
        end = time.monotonic() + 10
        while not asyncio_mtls.errors:
            assert time.monotonic() < end
            time.sleep(0.001)
        assert isinstance(asyncio_mtls.errors[0], ssl.SSLError), asyncio_mtls.errors
        assert "certificate" in str(asyncio_mtls.errors[0]).lower() and asyncio_mtls.handled == 0
    finally:
        clt.close()


# --- an independent client against our server ------------------------------------------------


def test_an_asyncio_client_with_a_cert_against_our_svc(mtls: dict[str, Any], mtls_svc: Svc[memoryview], tls_ca: trustme.CA) -> None:
    async def ask(port: int) -> bytes:
        ctx = ssl.create_default_context()
        tls_ca.configure_trust(ctx)
        mtls["good_leaf"].configure_cert(ctx)
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
        try:
            w.write(struct.pack(">I", 4) + b"ping")
            await w.drain()
            (n,) = struct.unpack(">I", await r.readexactly(4))
            return await r.readexactly(n)
        finally:
            w.close()

    result: list[bytes | BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(ask(mtls_svc.address[1])))  # type: ignore[index]
        except BaseException as e:  # reported by the assertion below
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    end = time.monotonic() + 10
    while not result:
        for clt, msg in mtls_svc.poll():
            peer = clt.conn.stream.peer_certificate()  # type: ignore[attr-defined]
            clt.send(b"pong:" + (b"trader" if peer and "trader@example.test" in str(peer) else b"?") + b":" + bytes(msg))
        assert time.monotonic() < end
        time.sleep(0.0002)
    t.join(5)
    assert result == [b"pong:trader:ping"]
