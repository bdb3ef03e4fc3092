"""RecordedStream: pass-through wrapper that records plaintext traffic for later replay.

Put it above TLS so the file holds plaintext. The hot path only appends to an in-memory buffer;
a full buffer (``flush_bytes``), or one older than ``flush_interval`` seconds, becomes a block that
a writer thread checksums and writes (both release the GIL). EOF and ``close()`` finish the file.
The file format is documented in :mod:`boomnet.stream.recording`.

Secrets. Every ``write()`` passes through ``redact`` (:data:`~boomnet.stream.redact.DEFAULT_REDACTOR`
unless told otherwise) before it is recorded: credentials are overwritten with ``*``, lengths kept
(see :mod:`boomnet.stream.redact` for the rules and what is guaranteed). With a
:class:`~boomnet.stream.redact.RuleRedactor` the stream carries the unfinished line (≤ 1 KiB)
from write to write, so a secret split across writes is still masked. ``redact=None`` records
clear text and logs a WARNING; never commit such a file. Inbound bytes are redacted only with
``redact_in=`` (off by default). The file is created ``0600`` (a fresh inode, renamed over any
old recording of the same name, so an existing file's wider mode or a symlink is never reused).

Disk trouble never reaches the feed. At most ``max_pending_blocks`` blocks wait for the writer
thread. When that queue is full (the disk is slower than the feed) or a write fails (ENOSPC,
EIO, ...), the *recording* is dropped: recording stops, one ERROR is logged with the reason and
what was lost, :attr:`RecordedStream.failure` says why, :func:`dropped_recordings` counts it, and
the file keeps the blocks already written (a truncated recording: replay it with
``allow_truncated=True``). ``recv_into`` / ``write`` go on passing traffic through, unrecorded;
nothing is raised into the caller. The last block (the one with the END record) is always taken,
so a file closed during a backlog still ends complete if the disk catches up. ``close()`` hands the END record to the writer thread and
returns without waiting; :meth:`RecordedStream.wait_closed` waits for a complete file (scripts,
tests), and :meth:`~boomnet.stream.ReplayStream.from_file` waits for a recording of the same path
this process is still finishing.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import ConnectionClosed, ConnectionReset, LocalError, RecordingError, TruncatedStream
from .base import Buffer, Stream
from .record_sink import BlockSink, dropped_recordings, wait_finishing
from .recording import END, EOF, GAP, GAP_COUNT, IN, OUT, REDACTED_IN, REDACTED_OUT, SUFFIX, RecordWriter, file_header
from .redact import DEFAULT_REDACTOR, InboundRedactor, Redactor, RuleRedactor
from .wrapper import WrappingStream

__all__ = ["RecordedStream", "recording_path", "create_private", "dropped_recordings", "wait_finishing"]

log = logging.getLogger(__name__)

_WithContext = Callable[[bytes, bytes], tuple[bytes, bytes]]  # (context, data) -> (redacted, context)


def _per_call(redact: Callable[[bytes], bytes]) -> _WithContext:
    return lambda _context, data: (redact(data), b"")


def recording_path(name: str, directory: str | os.PathLike[str] = "recordings") -> Path:
    """Where recording ``name`` lives: ``<directory>/<name>.bnrec``."""
    path = Path(directory) / name
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def create_private(path: Path) -> BinaryIO:
    """A new, empty file at ``path`` readable by its owner only (mode 0600).

    The file is created under a temporary name with ``O_EXCL`` and mode 0600, then renamed over
    ``path``: an older recording's wider mode, or a symlink planted at ``path``, is never reused.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")  # unguessable: O_EXCL never trips  # equivalent-mutant: 6 -> 7, 6 -> 5: the length only changes the temporary name, which O_EXCL creates fresh and the final rename replaces
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)  # equivalent-mutant: 0 -> 1, 0 -> -1: the defaults apply only where os lacks the flag; Linux (and every POSIX Python) has both
    fd = os.open(tmp, flags, 0o600)  # a fresh inode: the umask can only narrow this
    try:
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return os.fdopen(fd, "wb", buffering=0)

class RecordedStream(WrappingStream):
    """Records every read (with its boundary), write and empty-read gap of ``inner``.

    ``redact``: masks secrets in each write before it is recorded (``None``: clear text, with a
    WARNING). ``redact_in``: the same for reads (off by default). ``flush_bytes`` /
    ``flush_interval``: a block is handed to the writer thread when this many bytes are recorded
    or this many seconds passed. ``max_pending_blocks``: blocks that may wait for the disk before
    the recording is dropped (the stream goes on). ``opener``: creates the file (default
    :func:`create_private`; tests inject slow or failing files here).
    """

    __slots__ = (
        "_file_sink",
        "_gap_t",
        "_last_flush",
        "_in",
        "_in_ctx",
        "_out",
        "_out_ctx",
        "_sink",
        "_t0",
        "_writer",
        "_zero_reads",
        "flush_bytes",
        "flush_interval_ns",
        "path",
    )

    def __init__(
        self,
        inner: Stream,
        name: str,
        directory: str | os.PathLike[str] = "recordings",
        *,
        redact: Redactor | None = DEFAULT_REDACTOR,
        redact_in: InboundRedactor | None = None,
        flush_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
        max_pending_blocks: int = 8,
        opener: Callable[[Path], BinaryIO] = create_private,
    ):
        if flush_bytes < 1 or flush_interval < 0 or max_pending_blocks < 1:
            raise LocalError(
                f"RecordedStream needs flush_bytes >= 1, flush_interval >= 0, max_pending_blocks >= 1 "
                f"(got {flush_bytes}, {flush_interval}, {max_pending_blocks})"
            )
        super().__init__(inner)
        self.path = recording_path(name, directory)
        # a RuleRedactor carries the unfinished line from call to call (a secret split across
        # writes or reads is still found); another redactor is called per write / read
        self._out: _WithContext | None = None
        if isinstance(redact, RuleRedactor):
            self._out = redact.redact_out_after
        elif redact is not None:
            self._out = _per_call(redact.redact_out)
        self._in: _WithContext | None = None
        if isinstance(redact_in, RuleRedactor):
            self._in = redact_in.redact_in_after
        elif redact_in is not None:
            self._in = _per_call(redact_in.redact_in)
        self._out_ctx = self._in_ctx = b""
        if redact is None:
            log.warning(
                "recording %s WITHOUT redaction: credentials the client sends are stored in clear; "
                "never share or commit this file", self.path,
            )
        flags = (REDACTED_OUT if redact is not None else 0) | (REDACTED_IN if redact_in is not None else 0)
        try:
            file = opener(self.path)
        except OSError as e:
            raise RecordingError(f"cannot create recording {self.path}: {e}") from e
        sink = BlockSink(file, self.path, file_header(time.time_ns(), flags), max_pending_blocks)
        self._file_sink = sink
        self._sink: BlockSink | None = sink  # None once finished or dropped: nothing is recorded
        self._t0 = time.monotonic_ns()
        self._writer = RecordWriter(flush_bytes)
        self._zero_reads = 0
        self._gap_t = 0
        self._last_flush = self._t0
        self.flush_bytes = flush_bytes
        self.flush_interval_ns = int(flush_interval * 1e9)

    # --- the stream ---------------------------------------------------------------------------

    def recv_into(self, buf: Buffer) -> int:
        try:
            n = self.inner.recv_into(buf)
        except ConnectionClosed as e:
            self._finish(e)
            raise
        if self._sink is None:  # not recording (finished or dropped): pass through
            return n
        if n:
            now = time.monotonic_ns()
            if self._zero_reads:
                self._close_gap()
            payload: bytes | memoryview = memoryview(buf)[:n]
            if self._in is not None:
                payload, self._in_ctx = self._redacted(self._in, self._in_ctx, bytes(payload))
            self._add(IN, now, payload)
            if now - self._last_flush >= self.flush_interval_ns:  # equivalent-mutant: GtE -> Gt: at an elapsed time equal to the interval to the nanosecond, the hand-over only moves to the next read or write: the same blocks, in the same order
                self._hand_over(now)
        elif self._zero_reads:
            self._zero_reads += 1
        else:
            # Busy polling makes runs of empty reads; one GAP record stands for the whole run.
            self._zero_reads = 1
            self._gap_t = time.monotonic_ns()
        return n

    def write(self, data: bytes | bytearray | memoryview) -> None:
        now = 0
        if self._sink is not None:
            now = time.monotonic_ns()
            if self._zero_reads:
                self._close_gap()
            payload: bytes | bytearray | memoryview = data
            if self._out is not None:
                raw = data if isinstance(data, bytes) else bytes(data)
                payload, self._out_ctx = self._redacted(self._out, self._out_ctx, raw)
            self._add(OUT, now, payload)
        try:
            self.inner.write(data)
        except ConnectionClosed as e:
            self._finish(e)
            raise
        if now and now - self._last_flush >= self.flush_interval_ns:  # equivalent-mutant: GtE -> Gt: at an elapsed time equal to the interval to the nanosecond, the hand-over only moves to the next read or write: the same blocks, in the same order
            self._hand_over(now)

    def read_hint(self) -> int:
        return self.inner.read_hint()

    # --- recording ----------------------------------------------------------------------------

    def _redacted(self, redact: _WithContext, context: bytes, data: bytes) -> tuple[bytes, bytes]:
        """``redact(context, data)``, checked. A redactor that raises or changes the length drops
        the recording: recording the bytes unredacted is not an option, failing the stream neither."""
        try:
            out, context = redact(context, data)
        except Exception as e:
            self._drop(f"the redactor raised {type(e).__name__}: {e}")
            return b"", b""
        if len(out) != len(data):
            self._drop(f"the redactor returned {len(out)} bytes for {len(data)} (it must keep the length)")
            return b"", b""
        return out, context

    def _close_gap(self) -> None:
        count = min(self._zero_reads, 0xFFFFFFFF)
        self._zero_reads = 0
        self._add(GAP, self._gap_t, GAP_COUNT.pack(count))

    def _add(self, kind: int, t_ns: int, payload: bytes | bytearray | memoryview = b"") -> None:
        if self._sink is None:
            return  # dropped (possibly just now, by the redactor check)
        if not self._writer.add(kind, t_ns - self._t0, payload):
            self._hand_over(t_ns)
            if self._sink is not None:
                self._writer.add(kind, t_ns - self._t0, payload)

    def _hand_over(self, now: int, last: bool = False) -> None:
        self._last_flush = now
        sink = self._sink
        if sink is None:
            return
        if sink.failure is not None:  # the writer thread met a disk error
            self._drop(sink.failure)
        elif self._writer.pos and not sink.submit(self._writer.take(sink.fresh()), last):
            self._drop(f"the disk is too slow: {sink.limit} blocks were already waiting to be written")

    def _drop(self, reason: str) -> None:
        """Stop recording for good (logged once by the sink); the stream itself goes on."""
        sink = self._sink
        if sink is None:
            return
        self._sink = None
        self._zero_reads = 0
        self._writer = RecordWriter(0)  # release the block buffer  # equivalent-mutant: 0 -> 1: the writer is never used again (_add returns at once once _sink is None); only its buffer's size changes
        self._out_ctx = self._in_ctx = b""  # and the carried lines (they may hold secrets)
        sink.fail(reason)
        sink.close()

    @property
    def recording(self) -> bool:
        """``True`` while traffic is being recorded (``False`` once finished or dropped)."""
        return self._sink is not None

    @property
    def failure(self) -> str | None:
        """Why the recording was dropped; ``None`` while it is healthy (or finished cleanly)."""
        return self._file_sink.failure

    def flush_recording(self, timeout: float = 10.0) -> bool:
        """Write everything recorded so far and wait up to ``timeout`` for the disk (recording
        goes on); ``True`` if it is on disk. Blocks the caller: for scripts and tests, not for a
        poll loop."""
        self._hand_over(time.monotonic_ns())
        sink = self._sink
        return sink is not None and sink.sync(timeout)

    def _finish(self, eof: BaseException | None = None) -> None:
        """Record the end (EOF reason if any) and the END record; the writer thread closes the file."""
        if self._sink is None:
            return
        now = time.monotonic_ns()
        if self._zero_reads:
            self._close_gap()
        if eof is not None:
            how = b"\x01" if isinstance(eof, ConnectionReset) else b"\x02" if isinstance(eof, TruncatedStream) else b"\x00"
            self._add(EOF, now, how + str(eof).encode("utf-8", "replace"))
        self._add(END, now)
        self._hand_over(now, last=True)
        sink = self._sink
        if sink is not None:
            self._sink = None
            sink.close()

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """Wait until the file is complete, after ``close()`` or EOF: ``True`` once it is,
        ``False`` on timeout (or if still recording). RecordingError if the recording was dropped."""
        sink = self._file_sink
        done = self._sink is None and sink.done.wait(timeout)
        if sink.failure is not None:
            raise RecordingError(f"recording {self.path} was dropped: {sink.failure}")
        return done

    def close(self) -> None:
        """Finish the recording (without waiting for the disk) and close the inner stream. Idempotent."""
        try:
            self._finish()
        finally:
            self.inner.close()


atexit.register(wait_finishing, None, 10.0)  # let files closed just before exit reach the disk
