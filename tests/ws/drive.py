"""Driving a boomnet WebSocket from a test: bounded read loops that copy frames out."""

from __future__ import annotations

import time
from collections.abc import Callable

from boomnet.ws import Opcode, WebSocket

WAIT = 5.0

#: a received frame, copied out of boomnet's reused buffer: (opcode, fin, payload)
Got = tuple[Opcode, bool, bytes]

DATA = (Opcode.TEXT, Opcode.BINARY)


def pump(
    ws: WebSocket,
    until: Callable[[list[Got]], bool],
    timeout: float = WAIT,
    batch_sizes: list[int] | None = None,
) -> list[Got]:
    """Call ``read_batch`` until ``until(frames so far)`` holds; fails after ``timeout`` s."""
    got: list[Got] = []
    end = time.monotonic() + timeout
    while not until(got):
        if time.monotonic() > end:
            raise AssertionError(f"timed out; received so far: {describe(got)}")
        ws.wait_io(0.02)
        frames = ws.read_batch()
        if frames and batch_sizes is not None:
            batch_sizes.append(len(frames))
        got.extend((f.opcode, f.fin, f.bytes()) for f in frames)
    return got


def data_messages(got: list[Got]) -> list[tuple[Opcode, bytes]]:
    return [(op, payload) for op, _, payload in got if op in DATA]


def until_data(count: int) -> Callable[[list[Got]], bool]:
    return lambda got: len(data_messages(got)) >= count


def until_opcode(opcode: Opcode) -> Callable[[list[Got]], bool]:
    return lambda got: any(op == opcode for op, _, _ in got)


def flush_all(ws: WebSocket, timeout: float = WAIT) -> None:
    """Push every pending outbound byte (reading meanwhile would be the caller's job)."""
    end = time.monotonic() + timeout
    while not ws.flush():
        if time.monotonic() > end:
            raise AssertionError(f"{ws.pending} bytes still pending")
        ws.wait_io(0.02)


def read_until_closed(ws: WebSocket, timeout: float = WAIT) -> list[Got]:
    """Read (collecting frames) until the close handshake completes; returns what arrived."""
    got: list[Got] = []
    end = time.monotonic() + timeout
    while not ws.closed:
        if time.monotonic() > end:
            raise AssertionError(f"not closed in time; received: {describe(got)}")
        ws.wait_io(0.02)
        got.extend((f.opcode, f.fin, f.bytes()) for f in ws.read_batch())
    return got


def describe(got: list[Got]) -> str:
    return ", ".join(f"{op.name}{'' if fin else '(more)'}[{len(p)}]" for op, fin, p in got[:20]) or "nothing"


def skip_without_c_path() -> None:
    """Skip a C-path variant when the fast path is off: ``n/a`` when BOOMNET_PURE_PYTHON forced
    pure Python on purpose; a plain reason (a failure in CI's strict mode) when it did not build
    or was gated off."""
    import pytest

    from boomnet.ws import _native

    if _native.speedups is None:
        if _native.reason == "disabled by BOOMNET_PURE_PYTHON":
            pytest.skip("n/a: pure Python forced by BOOMNET_PURE_PYTHON (the C variant does not apply)")
        pytest.skip(f"C fast path not in use: {_native.reason}")
