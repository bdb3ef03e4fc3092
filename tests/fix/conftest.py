"""Fixtures for the FIX tests: a QuickFIX acceptor in a subprocess on a loopback port.

Where ``import quickfix`` fails the QuickFIX tests skip with the reason; ``BOOMNET_STRICT=1``
(CI) turns that skip into a failure.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def require_quickfix() -> None:
    try:
        import quickfix  # noqa: F401
    except ImportError as e:
        # a plain reason: tests/conftest.py turns this skip into a failure under BOOMNET_STRICT=1
        pytest.skip(f"QuickFIX (the reference FIX engine) is not installed: {e}; install the wheel from ../shared/wheels")


class QuickFixAcceptor:
    """``python -m tests.fix.qf_acceptor`` as a subprocess; ``lines`` collects its stdout."""

    def __init__(
        self, directory: Path, port: int | None = None, quiet: bool = False, tls: tuple[str, str] | None = None
    ) -> None:
        self.directory = directory
        self.tls = tls
        self.port = port or free_port()
        self.quiet = quiet
        self.lines: list[str] = []
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> QuickFixAcceptor:
        args = [sys.executable, "-m", "tests.fix.qf_acceptor", "--port", str(self.port), "--dir", str(self.directory)]
        if self.quiet:
            args.append("--quiet")
        if self.tls:
            args += ["--tls", *self.tls]
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        proc = self.proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._lines.put(line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()
        self.wait_for("READY", timeout=20)
        return self

    def wait_for(self, prefix: str, timeout: float = 10.0) -> str:
        """The next stdout line starting with ``prefix`` (AssertionError after ``timeout``)."""
        for line in self.lines:
            if line.startswith(prefix):
                self.lines.remove(line)
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"QuickFIX acceptor printed no {prefix!r} line within {timeout}s: {self.lines[-5:]}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line
            self.lines.append(line)

    def wait_line(self, pred: Callable[[str], bool], timeout: float = 10.0) -> str:
        """The first stdout line (seen or arriving) for which ``pred`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.drain():
                if pred(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching QuickFIX line within {timeout}s: {self.lines[-5:]}")
            time.sleep(0.01)

    def drain(self) -> list[str]:
        while True:
            try:
                self.lines.append(self._lines.get_nowait())
            except queue.Empty:
                return self.lines

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def restart(self) -> QuickFixAcceptor:
        self.stop()
        self.drain()
        return self.start()


@pytest.fixture
def quickfix_acceptor(tmp_path: Path) -> Iterator[QuickFixAcceptor]:
    require_quickfix()
    acceptor = QuickFixAcceptor(tmp_path / "qf").start()
    try:
        yield acceptor
    finally:
        acceptor.stop()


def wait_until(cond: object, timeout: float = 10.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(step)
