"""NATS servers for the bus tests: real ``nats-server`` processes on loopback ports, one or a
cluster of three (routes between them), each stopped by the fixture that started it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import free_port

NATS = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)


def wait_for(cond, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError(f"{what} not reached within {timeout}s")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nats-server did not listen on {port} within {timeout}s")


class NatsServer:
    """One nats-server process; ``stop()`` kills it (as a crash would), ``restart()`` brings it back."""

    def __init__(self, tmp: Path, name: str = "n1", *, cluster_port: int | None = None,
                 routes: Sequence[int] = (), jetstream: bool = False) -> None:
        if NATS is None:
            pytest.skip("nats-server not found: apt-get install nats-server")
        self.port = free_port()
        self.name = name
        args = [NATS, "-a", "127.0.0.1", "-p", str(self.port), "-n", name]
        if cluster_port is not None:
            args += ["--cluster_name", "boomnet", "--cluster", f"nats://127.0.0.1:{cluster_port}"]
            if routes:
                args += ["--routes", ",".join(f"nats://127.0.0.1:{r}" for r in routes)]
        if jetstream:
            store = tmp / f"js-{name}"
            store.mkdir(exist_ok=True)
            args += ["-js", "-sd", str(store)]
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(self.port, self.proc)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, graceful: bool = True) -> None:
        """Restart; graceful (SIGTERM) lets JetStream write its consumer state first."""
        if graceful and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.stop()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(self.port, self.proc)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def nats_js(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path, jetstream=True)
    yield server
    server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[list[NatsServer]]:
    ports = [free_port() for _ in range(3)]
    servers: list[NatsServer] = []
    try:
        for i, cport in enumerate(ports):
            servers.append(NatsServer(tmp_path, f"n{i + 1}", cluster_port=cport, routes=[p for p in ports if p != cport]))
        yield servers
    finally:
        for s in servers:
            s.stop()
