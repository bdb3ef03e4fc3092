"""Fixtures shared by every test package: real TLS material from trustme, loopback helpers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
import socket
import ssl
from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority (session-wide)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for localhost, 127.0.0.1 and ::1, signed by ``tls_ca``."""
    return tls_ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a PEM file holding ``tls_ca`` — what a client passes as ``ca_file``."""
    path: Path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_ssl_context(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    """A stdlib server-side SSLContext presenting ``server_cert`` (for asyncio/peer servers)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def cert_files(server_cert: trustme.LeafCert, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cert chain PEM path, private key PEM path) of ``server_cert`` — for nginx and friends."""
    d = tmp_path_factory.mktemp("cert")
    chain, key = d / "chain.pem", d / "key.pem"
    server_cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as f:
        for blob in server_cert.cert_chain_pems:
            f.write(blob.bytes())
    return str(chain), str(key)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (racy by nature; fine for loopback tests)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    return free_port()


# --- strict mode: no silent skips in CI ---------------------------------------------------------
#
# CI runs with BOOMNET_STRICT=1. There a skip is a *failure* unless its reason starts with
# "n/a:" (the combination does not apply, e.g. a peer library that cannot produce a fault): a
# missing nginx, a C fast path that did not build, a refused io_uring or a missing QuickFIX must
# turn CI red instead of quietly shrinking what was tested. Locally they still skip, with a reason.

STRICT = os.environ.get("BOOMNET_STRICT") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not (STRICT and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: "):]
    if reason.startswith("n/a:"):
        return
    report.outcome = "failed"
    report.longrepr = f"BOOMNET_STRICT=1: a skip here hides missing coverage: {reason}"


def spin(io: Any, cond: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``io`` (an IOService) until ``cond()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        io.poll()
        if cond():
            return
    raise AssertionError(f"{what} not reached within {timeout}s")
