"""Limits and knobs of a message connection, in one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import LocalError

__all__ = ["MsgOptions"]


@dataclass(frozen=True, slots=True)
class MsgOptions:
    """How a :class:`~boomnet.msg.Connection` buffers and paces.

    ``buffer_size``: initial receive buffer (it grows to fit a validated frame, and shrinks back).
    ``send_budget``: bytes that may wait to be sent (queued here plus pending in the stream) —
    16 MiB by default; a ``send`` beyond it raises :class:`~boomnet.errors.SendBufferFull` and
    queues nothing, so a peer that stops reading cannot grow our memory without bound.
    ``threadsafe_budget``: messages other threads may have waiting for the loop thread.
    ``idle_timeout``: seconds without inbound bytes after which ``check_liveness`` raises
    :class:`~boomnet.errors.PeerTimeout` (``None``: off).
    ``max_batch_bytes``: read at most this much per ``read_batch`` (bounds a batch's latency).
    """

    buffer_size: int = 256 * 1024
    send_budget: int = 16 * 1024 * 1024
    threadsafe_budget: int = 100_000
    idle_timeout: float | None = None
    max_batch_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.buffer_size < 1024:
            raise LocalError(f"buffer_size must be at least 1024, not {self.buffer_size!r}")
        if self.send_budget < 1:
            raise LocalError(f"send_budget must be positive, not {self.send_budget!r}")
        if self.threadsafe_budget < 1:
            raise LocalError(f"threadsafe_budget must be positive, not {self.threadsafe_budget!r}")
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise LocalError(f"idle_timeout must be positive or None, not {self.idle_timeout!r}")
        if self.max_batch_bytes < 1:
            raise LocalError(f"max_batch_bytes must be positive, not {self.max_batch_bytes!r}")

    def replace(self, **changes: object) -> MsgOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
