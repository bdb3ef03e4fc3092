"""RecordedStream: pass-through wrapper that records plaintext traffic for later replay.

Put it above TLS so the file holds plaintext. The hot path only appends to an in-memory buffer;
the buffer goes to the file once it passes ``flush_bytes`` or ``flush_interval`` seconds, on EOF and
on ``close()``. The file format is documented in :mod:`boomnet.stream.recording`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import ConnectionClosed, ConnectionReset, RecordingError
from .base import Buffer, Stream
from .recording import END, EOF, GAP, GAP_COUNT, IN, OUT, SUFFIX, RecordWriter, file_header
from .wrapper import WrappingStream

__all__ = ["RecordedStream", "recording_path"]


def recording_path(name: str, directory: str | os.PathLike = "recordings") -> Path:
    """Where recording ``name`` lives: ``<directory>/<name>.bnrec``."""
    path = Path(directory) / name
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


class RecordedStream(WrappingStream):
    """Records every read (with its boundary), write and empty-read gap of ``inner``."""

    __slots__ = (
        "path",
        "_file",
        "_writer",
        "_t0",
        "_zero_reads",
        "_gap_t",
        "_last_flush",
        "flush_bytes",
        "flush_interval_ns",
    )

    def __init__(
        self,
        inner: Stream,
        name: str,
        directory: str | os.PathLike = "recordings",
        *,
        flush_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
    ):
        super().__init__(inner)
        self.path = recording_path(name, directory)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb", buffering=0)
        except OSError as e:
            raise RecordingError(f"cannot create recording {self.path}: {e}") from e
        self._t0 = time.monotonic_ns()
        self._writer = RecordWriter()
        self._writer.data += file_header(time.time_ns())
        self._zero_reads = 0
        self._gap_t = 0
        self._last_flush = self._t0
        self.flush_bytes = flush_bytes
        self.flush_interval_ns = int(flush_interval * 1e9)

    def recv_into(self, buf: Buffer) -> int:
        try:
            n = self.inner.recv_into(buf)
        except ConnectionClosed as e:
            self._finish(e)
            raise
        if n:
            now = time.monotonic_ns()
            if self._zero_reads:
                self._close_gap()
            self._writer.add(IN, now - self._t0, memoryview(buf)[:n])
            self._maybe_flush(now)
        elif not self._zero_reads:
            # Busy polling makes runs of empty reads; one GAP record stands for the whole run.
            self._zero_reads = 1
            self._gap_t = time.monotonic_ns()
        else:
            self._zero_reads += 1
        return n

    def write(self, data: bytes | bytearray | memoryview) -> None:
        now = time.monotonic_ns()
        if self._zero_reads:
            self._close_gap()
        if self._file is not None:
            self._writer.add(OUT, now - self._t0, data)
        try:
            self.inner.write(data)
        except ConnectionClosed as e:
            self._finish(e)
            raise
        self._maybe_flush(now)

    def _close_gap(self) -> None:
        count = min(self._zero_reads, 0xFFFFFFFF)
        self._zero_reads = 0
        if self._file is not None:
            self._writer.add(GAP, self._gap_t - self._t0, GAP_COUNT.pack(count))

    def _maybe_flush(self, now: int) -> None:
        if len(self._writer.data) >= self.flush_bytes or now - self._last_flush >= self.flush_interval_ns:
            self._write_out(now)

    def _write_out(self, now: int) -> None:
        f, data = self._file, self._writer.data
        if f is None:
            return
        self._last_flush = now
        if data:
            try:
                f.write(data)
            except OSError as e:
                raise RecordingError(f"cannot write recording {self.path}: {e}") from e
            data.clear()

    def _finish(self, eof: BaseException | None = None) -> None:
        """Record the end (EOF reason if any), write the END record and close the file."""
        if self._file is None:
            return
        now = time.monotonic_ns()
        if self._zero_reads:
            self._close_gap()
        if eof is not None:
            reset = b"\x01" if isinstance(eof, ConnectionReset) else b"\x00"
            self._writer.add(EOF, now - self._t0, reset + str(eof).encode("utf-8", "replace"))
        self._writer.add(END, now - self._t0)
        try:
            self._write_out(now)
        finally:
            f, self._file = self._file, None
            f.close()

    def flush_recording(self) -> None:
        """Write buffered records to the file now (the stream keeps recording)."""
        self._write_out(time.monotonic_ns())

    def close(self) -> None:
        """Finish the recording file and close the inner stream. Idempotent."""
        try:
            self._finish()
        finally:
            self.inner.close()
