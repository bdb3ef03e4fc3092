"""The writer thread behind :class:`~boomnet.stream.RecordedStream`: a bounded queue of blocks.

Blocks go to the file in order on one thread per recording (checksum and write release the GIL).
The bound is a semaphore so the count is exact across threads; a full queue or a failed write
marks the recording dropped (logged once, counted process-wide) and never blocks or raises on the
loop thread. A registry of recordings still being finished lets a replay of the same path, and
interpreter exit, wait for the file.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import BinaryIO

from .recording import seal_block

__all__ = ["BlockSink", "dropped_recordings", "wait_finishing"]

log = logging.getLogger("boomnet.stream.recorded")

_lock = threading.Lock()
_finishing: dict[Path, BlockSink] = {}  # recordings whose writer thread has not finished
_dropped = 0


def dropped_recordings() -> int:
    """How many recordings this process dropped (queue full, disk error, broken redactor)."""
    return _dropped


def wait_finishing(path: Path | None = None, timeout: float = 10.0) -> bool:
    """Wait until the writer thread of the closed recording at ``path`` (every closed recording:
    ``None``) has finished its file; ``True`` if none is left unfinished. A recording still
    open is not waited for."""
    deadline = time.monotonic() + timeout
    with _lock:
        sinks = [s for p, s in _finishing.items() if s.closing and (path is None or p == Path(path))]
    return all(s.done.wait(max(0.0, deadline - time.monotonic())) for s in sinks)



class BlockSink:
    """The writer thread of one recording: writes sealed blocks in order, recycles their buffers.

    At most ``limit`` blocks wait (a semaphore, so the count is exact across threads); ``submit``
    says ``False`` instead of waiting. The first failure (:meth:`fail`, from either thread) is
    logged once and counted; after a disk error nothing more is written.
    """

    def __init__(self, file: BinaryIO, path: Path, header: bytes, limit: int):
        self._file, self.path, self.limit = file, path, limit
        self._queue: queue.SimpleQueue[tuple[bytearray, int, bool] | bytes | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._slots = threading.BoundedSemaphore(limit)
        #: written buffers, ready for reuse (their pages are already mapped)
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self.failure: str | None = None
        self._disk_error = False
        self.written = 0
        self.closing = False
        self.done = threading.Event()
        self._queue.put(header)  # first, and outside the bound: it is not a block
        with _lock:
            # the latest recording of a path (an older one writes to the inode this file replaced)
            _finishing[path] = self
        self._thread = threading.Thread(target=self._run, name=f"boomnet-recorder-{path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                if isinstance(item, bytes):
                    self._write_all((item,))
                    continue
                buf, length, counted = item
                try:
                    with memoryview(buf) as view, view[:length] as records:
                        self._write_all((seal_block(records), records))
                finally:
                    if counted:
                        self._slots.release()
                    self.free.put(buf)
            try:
                self._file.close()
            except Exception as e:
                self.fail(f"closing the file failed: {e}")
        finally:
            with _lock:
                if _finishing.get(self.path) is self:
                    del _finishing[self.path]
            self.done.set()

    def _write_all(self, parts: tuple[bytes | memoryview, ...]) -> None:
        if self._disk_error:
            return  # a failed disk: discard (the recording is already dropped)
        try:
            for part in parts:
                self._file.write(part)
                self.written += len(part)
        except Exception as e:  # OSError (ENOSPC, EIO, ...) or a broken file object
            self._disk_error = True
            self.fail(f"writing the file failed: {e}")

    def fail(self, reason: str) -> None:
        """Mark the recording dropped (the first reason wins) and log one ERROR."""
        global _dropped
        with _lock:
            if self.failure is not None:
                return
            self.failure = reason
            _dropped += 1
        log.error(
            "recording %s dropped: %s. Nothing more is recorded; the file ends after the %d bytes "
            "written so far or soon after (truncated: replay it with allow_truncated=True); "
            "the stream itself goes on",
            self.path, reason, self.written,
        )

    def fresh(self) -> bytearray | None:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            return None

    def submit(self, block: tuple[bytearray, int], last: bool = False) -> bool:
        """Queue ``block``; ``False`` (nothing queued) if ``limit`` blocks are waiting. The
        ``last`` block of a recording (the one with END) is always taken: it is one block more at
        most, and a file closed during a backlog should still end complete. (After a disk error
        the writer discards what it is given.)"""
        counted = not last
        if counted and not self._slots.acquire(blocking=False):
            return False
        self._queue.put((block[0], block[1], counted))
        return True

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait until every block submitted so far is written."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout) and not self._disk_error

    def close(self) -> None:
        """Finish after the blocks already queued; never waits (see :attr:`done`)."""
        self.closing = True
        self._queue.put(None)
