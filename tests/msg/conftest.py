"""Fixtures for the msg tests: one asyncio peer loop per session; client TLS material."""

from __future__ import annotations

import ssl
from pathlib import Path
import importlib
from typing import Iterator

import pytest
import trustme

from .peers import LoopThread


@pytest.fixture(scope="session")
def loops() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def client_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert("client@example.test")


@pytest.fixture(scope="session")
def client_cert_files(client_cert: trustme.LeafCert, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d: Path = tmp_path_factory.mktemp("clientcert")
    chain, key = d / "chain.pem", d / "key.pem"
    client_cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as f:
        for blob in client_cert.cert_chain_pems:
            f.write(blob.bytes())
    return str(chain), str(key)


@pytest.fixture(scope="session")
def client_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A stdlib client context trusting ``tls_ca`` (for asyncio peers talking to our server)."""
    ctx = ssl.create_default_context()
    tls_ca.configure_trust(ctx)
    return ctx


@pytest.fixture(params=["python", "c"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a codec test on the pure-Python path and on the C fast path, whatever
    BOOMNET_PURE_PYTHON says (the C module is imported directly and patched in)."""
    from boomnet.msg import codec as codec_mod
    from boomnet.msg import datagram as datagram_mod

    c = None
    if request.param == "c":
        try:
            c = importlib.import_module("boomnet.msg._speedups")
        except ImportError:
            pytest.skip("boomnet.msg._speedups is not built")  # a failure under BOOMNET_STRICT
    monkeypatch.setattr(codec_mod, "_split_lp", c and c.split_lp)
    monkeypatch.setattr(codec_mod, "_pack_lp", c and c.pack_lp)
    monkeypatch.setattr(datagram_mod, "_split_dg", c and c.split_dg)
    yield request.param
