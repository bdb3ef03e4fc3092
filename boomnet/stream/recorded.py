"""RecordedStream: pass-through wrapper that records plaintext traffic for later replay.

Put it above TLS so the file holds plaintext. The hot path only appends to an in-memory buffer;
a full buffer (``flush_bytes``), or one older than ``flush_interval`` seconds, becomes a block that
a writer thread checksums and writes (both release the GIL). EOF and ``close()`` finish the file.
The file format is documented in :mod:`boomnet.stream.recording`.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import ConnectionClosed, ConnectionReset, RecordingError
from .base import Buffer, Stream
from .recording import END, EOF, GAP, GAP_COUNT, IN, OUT, SUFFIX, RecordWriter, file_header, seal_block
from .wrapper import WrappingStream

__all__ = ["RecordedStream", "recording_path"]


def recording_path(name: str, directory: str | os.PathLike = "recordings") -> Path:
    """Where recording ``name`` lives: ``<directory>/<name>.bnrec``."""
    path = Path(directory) / name
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


class _BlockSink:
    """Writes sealed blocks to the file on a daemon thread, in order, and recycles the buffers."""

    def __init__(self, file: BinaryIO, path: Path):
        self._file, self._path = file, path
        self._queue: queue.SimpleQueue[tuple[bytearray, int] | threading.Event | None] = queue.SimpleQueue()
        #: written buffers, ready for reuse (their pages are already mapped)
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"boomnet-recorder-{path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            buf, length = item
            if self.error is None:
                try:
                    with memoryview(buf) as view:
                        records = view[:length]
                        self._file.write(seal_block(records))
                        self._file.write(records)
                        records.release()
                except OSError as e:
                    self.error = e
            self.free.put(buf)

    def fresh(self) -> bytearray | None:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            return None

    def submit(self, block: tuple[bytearray, int]) -> None:
        if self.error is not None:
            raise RecordingError(f"cannot write recording {self._path}: {self.error}") from self.error
        self._queue.put(block)

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until every submitted block is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)  # after every block already queued
        self._thread.join(timeout)
        self._file.close()
        if self.error is not None:
            raise RecordingError(f"cannot write recording {self._path}: {self.error}") from self.error


class RecordedStream(WrappingStream):
    """Records every read (with its boundary), write and empty-read gap of ``inner``."""

    __slots__ = ("path", "_sink", "_writer", "_t0", "_zero_reads", "_gap_t", "_last_flush", "flush_bytes", "flush_interval_ns")

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
            file = open(self.path, "wb", buffering=0)
            file.write(file_header(time.time_ns()))
        except OSError as e:
            raise RecordingError(f"cannot create recording {self.path}: {e}") from e
        self._sink: _BlockSink | None = _BlockSink(file, self.path)
        self._t0 = time.monotonic_ns()
        self._writer = RecordWriter(flush_bytes)
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
            if not self._writer.add(IN, now - self._t0, memoryview(buf)[:n]):
                self._hand_over(now)
                self._writer.add(IN, now - self._t0, memoryview(buf)[:n])
            if now - self._last_flush >= self.flush_interval_ns:
                self._hand_over(now)
        elif self._zero_reads:
            self._zero_reads += 1
        else:
            # Busy polling makes runs of empty reads; one GAP record stands for the whole run.
            self._zero_reads = 1
            self._gap_t = time.monotonic_ns()
        return n

    def write(self, data: bytes | bytearray | memoryview) -> None:
        now = time.monotonic_ns()
        if self._zero_reads:
            self._close_gap()
        self._add(OUT, now, data)
        try:
            self.inner.write(data)
        except ConnectionClosed as e:
            self._finish(e)
            raise
        if now - self._last_flush >= self.flush_interval_ns:
            self._hand_over(now)

    def _close_gap(self) -> None:
        count = min(self._zero_reads, 0xFFFFFFFF)
        self._zero_reads = 0
        self._add(GAP, self._gap_t, GAP_COUNT.pack(count))

    def _add(self, kind: int, t_ns: int, payload: bytes | bytearray | memoryview = b"") -> None:
        if not self._writer.add(kind, t_ns - self._t0, payload):
            self._hand_over(t_ns)
            self._writer.add(kind, t_ns - self._t0, payload)

    def _hand_over(self, now: int) -> None:
        self._last_flush = now
        sink = self._sink
        if sink is not None and self._writer.pos:
            sink.submit(self._writer.take(sink.fresh()))

    def flush_recording(self) -> None:
        """Write everything recorded so far to the file now, and wait for it (recording goes on)."""
        self._hand_over(time.monotonic_ns())
        if self._sink is not None:
            self._sink.sync()

    def _finish(self, eof: BaseException | None = None) -> None:
        """Record the end (EOF reason if any), write the END record and close the file."""
        sink = self._sink
        if sink is None:
            return
        now = time.monotonic_ns()
        if self._zero_reads:
            self._close_gap()
        if eof is not None:
            reset = b"\x01" if isinstance(eof, ConnectionReset) else b"\x00"
            self._add(EOF, now, reset + str(eof).encode("utf-8", "replace"))
        self._add(END, now)
        self._hand_over(now)
        self._sink = None
        sink.close()

    def close(self) -> None:
        """Finish the recording file and close the inner stream. Idempotent."""
        try:
            self._finish()
        finally:
            self.inner.close()
