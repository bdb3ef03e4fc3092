"""Start and stop feed-server processes; TLS material from trustme in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TlsFiles:
    ca: str
    cert: str
    key: str


def make_tls_files(directory: str) -> TlsFiles:
    """A throwaway CA and a localhost/127.0.0.1 server certificate, written as PEM files."""
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    d = Path(directory)
    files = TlsFiles(str(d / "ca.pem"), str(d / "chain.pem"), str(d / "key.pem"))
    ca.cert_pem.write_to_path(files.ca)
    leaf.private_key_pem.write_to_path(files.key)
    with open(files.cert, "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    return files


@dataclass
class FeedServer:
    """A running ``perf.feed_server`` process."""

    proc: subprocess.Popen
    port: int
    tls: bool
    host: str = "127.0.0.1"
    _stderr: object = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._stderr is not None:
            self._stderr.close()

    def __enter__(self) -> "FeedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_feed_server(tls: TlsFiles | None = None, cpu: int | None = None) -> FeedServer:
    cmd = [sys.executable, "-m", "perf.feed_server"]
    if tls is not None:
        cmd += ["--tls", tls.cert, tls.key]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, env=_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        err.seek(0)
        raise RuntimeError(f"feed server did not start: {line!r} {err.read().decode(errors='replace')}")
    return FeedServer(proc, int(line.split()[1]), tls is not None, _stderr=err)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
