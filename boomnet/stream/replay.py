"""ReplayStream: plays a recording back as a stream, read for read, gap for gap.

Each recorded read comes back with the same size (split only if the caller's buffer is smaller),
each GAP record as one read returning 0, and the recorded end as what the stream raised
(``ConnectionClosed``, ``ConnectionReset`` or ``TruncatedStream``). Writes are accepted and
discarded, or compared with the recorded outbound bytes when ``compare_writes=True``. If the recording's outbound side was redacted (its header
says so), a recorded ``wildcard`` byte (``*``, the redactors' fill) matches any written byte, so
a request carrying a credential still matches its masked recording (and boundaries may still
differ). Masked WebSocket client frames never compare: their masks are random.

The recording is a :class:`RecordSource`: :meth:`ReplayStream.from_file`
validates the whole file up front by streaming it (RecordingError for a missing, truncated or
corrupt file before any byte is delivered) and keeps only its index; the bytes are read again
from the open file while the replay runs, through one reused window or straight into the
caller's buffer for large reads, so memory stays bounded whatever the file's size. A change to
the file after validation is a RecordingError, never wrong bytes (what is detected, and when:
:mod:`boomnet.stream.recording_file`). An in-memory :class:`~boomnet.stream.recording.Recording`
(from :func:`~boomnet.stream.recording.parse`) replays the same way, any number of times. The
file is closed when the replay ends (its recorded end, or an error) and by :meth:`close`; after
that, reads report the end (``ConnectionClosed``) and the recording's bytes
(``recording.writes()``, ``payload(i)``) can no longer be read: read them before, or open the
file again.

A replay has no descriptor to wait on (``fileno() == -1``) and ``read_hint()`` is always
non-zero: a selector polls it on every pass until it reports its end.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Iterator
from typing import Protocol

from ..errors import ConnectionClosed, ConnectionReset, LocalError, RecordingError, TruncatedStream
from .base import Buffer, Stream
from .recorded import recording_path, wait_finishing
from .recording import GAP, IN, OUT, Recording
from .recording_file import DIRECT, RecordingFile

__all__ = ["ReplayStream", "RecordSource"]

#: the EOF record's first byte -> what the recorded stream raised
_ENDS: dict[bytes, type[ConnectionClosed]] = {
    b"\x00": ConnectionClosed, b"\x01": ConnectionReset, b"\x02": TruncatedStream,
}


class RecordSource(Protocol):
    """What a replay reads: the index of a validated recording and its bytes, by file offset.

    Two sources: :class:`~boomnet.stream.recording.Recording` (the whole file in memory, from
    :func:`~boomnet.stream.recording.parse`) and :class:`~boomnet.stream.recording_file.RecordingFile`
    (validated by streaming the file, read through one reused window while the replay runs).
    Offsets are file offsets (``offsets[i]`` is where record ``i``'s payload starts); every span a
    replay asks for lies inside one record. Reads of a closed file source raise RecordingError.
    """

    @property
    def start_ns(self) -> int: ...
    @property
    def kinds(self) -> array[int]: ...
    @property
    def times(self) -> array[int]: ...
    @property
    def offsets(self) -> array[int]: ...
    @property
    def lengths(self) -> array[int]: ...
    @property
    def complete(self) -> bool: ...
    @property
    def version(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def redacted_out(self) -> bool: ...
    @property
    def redacted_in(self) -> bool: ...

    def writes(self) -> Iterator[bytes]: ...

    def payload(self, i: int) -> bytes:
        """Record ``i``'s payload (a copy)."""
        ...

    def span(self, start: int, n: int) -> bytes:
        """The ``n`` bytes at file offset ``start`` (a copy)."""
        ...

    def window(self, start: int, n: int) -> tuple[bytes | bytearray, int, int]:
        """``(buffer, base, end)``: ``buffer[k]`` is the byte at file offset ``base + k`` for
        ``k < end - base``, and ``[start, start + n)`` is inside. Valid until the next call."""
        ...

    def held(self) -> tuple[bytes | bytearray, int, int]:
        """:meth:`window` as it is now, without reading anything."""
        ...

    def read_into(self, start: int, view: memoryview) -> None:
        """Fill ``view`` with the bytes at file offset ``start`` (large reads, no window)."""
        ...

    def attach(self) -> None:
        """A replay starts on this source (a file-backed one replays once)."""
        ...

    def finish(self) -> None:
        """The replay reached its recorded end: RecordingError if the source changed; release it."""
        ...

    def close(self) -> None:
        """Release the source (idempotent)."""
        ...


class ReplayStream(Stream):
    """A stream that replays a recording (any :class:`RecordSource`). Build it with :meth:`from_file`.

    ``speed``: ``None`` replays as fast as it is read; ``1.0`` paces reads at recorded times
    (``2.0`` twice as fast): before its time a record reads as 0 bytes.
    """

    __slots__ = (
        "_closed",
        "_i",
        "_offset",
        "_out_i",
        "_out_offset",
        "_start",
        "_wbase",
        "_wend",
        "_win",
        "_wview",
        "compare_writes",
        "name",
        "recording",
        "speed",
        "wildcard",
    )

    def __init__(
        self,
        recording: RecordSource,
        *,
        speed: float | None = None,
        compare_writes: bool = False,
        wildcard: bytes = b"*",
        name: str = "replay",
    ):
        self.recording = recording
        self.speed = speed
        self.compare_writes = compare_writes
        if len(wildcard) != 1:
            raise LocalError(f"wildcard must be one byte, got {wildcard!r}")
        #: the recorded byte that matches any written byte (redacted recordings only)
        self.wildcard = wildcard[0] if recording.redacted_out else None  # equivalent-mutant: 0 -> -1: wildcard is exactly one byte (checked above), so [0] and [-1] are the same byte
        self.name = name
        self._i = 0  # next record to deliver
        self._offset = 0  # bytes of record _i already delivered
        self._out_i = 0  # next OUT record to compare writes against
        self._out_offset = 0
        self._start = 0  # monotonic ns of the first read (pacing)
        self._closed = False
        recording.attach()
        # the source's window: _win[k] is the byte at file offset _wbase + k, up to _wend (an
        # in-memory recording's is all of it; a file's, what validation read last)
        self._win: bytes | bytearray
        self._win, self._wbase, self._wend = recording.held()
        self._wview = memoryview(self._win)

    @classmethod
    def from_file(
        cls,
        name: str,
        directory: str | os.PathLike[str] = "recordings",
        *,
        allow_truncated: bool = False,
        **options: object,
    ) -> ReplayStream:
        """Validate ``<directory>/<name>.bnrec`` (all of it, streaming it: RecordingError if missing,
        truncated or corrupt) and replay it from the open file. A recording this process is still finishing (closed, its writer thread not done) is
        waited for, up to 10 s."""
        path = recording_path(name, directory)
        wait_finishing(path, 10.0)
        source: RecordSource = RecordingFile.open(path, allow_truncated=allow_truncated)
        try:
            return cls(source, name=name, **options)  # type: ignore[arg-type]
        except BaseException:
            source.close()
            raise

    def recv_into(self, buf: Buffer) -> int:
        rec = self.recording
        kinds = rec.kinds
        i, count = self._i, len(kinds)
        while i < count and kinds[i] == OUT:
            i += 1
        self._i = i
        if i == count:
            if not self._closed:
                self._closed = True
                rec.finish()  # RecordingError (instead of the end) if the file changed
            raise ConnectionClosed(f"replay {self.name!r} ended")
        kind = kinds[i]
        if self.speed is not None and not self._due(rec.times[i]):
            return 0
        if kind == IN:
            start = rec.offsets[i] + self._offset
            left = rec.lengths[i] - self._offset
            n: int = min(left, len(buf))
            pos = start - self._wbase
            if pos < 0 or start + n > self._wend:  # outside the window: never for a recording in memory  # equivalent-mutant: Lt -> LtE, Gt -> GtE, 0 -> 1: a refill of a span the window holds reads the same bytes again
                pos = self._refill(start, n, buf)
            if pos >= 0:
                buf[:n] = self._win[pos : pos + n] if n < 4096 else self._wview[pos : pos + n]  # equivalent-mutant: Lt -> LtE, 4096 -> 4097, 4096 -> 4095: both branches copy the same bytes; the threshold only picks the cheaper copy (a small slice, or a view for big reads)
            if n == left:
                self._i, self._offset = i + 1, 0
            else:
                self._offset += n
            return n
        self._i = i + 1
        if kind == GAP:
            return 0
        # EOF: parse() indexes IN, OUT, GAP and EOF records only, and the others are handled above
        self._closed, self._i = True, count  # the recorded end is the end: later reads report it
        try:
            payload = rec.payload(i)
            rec.finish()  # RecordingError (instead of the recorded end) if the file changed
        finally:
            rec.close()
        reason = payload[1:].decode("utf-8", "replace") or "peer closed"
        end = _ENDS.get(payload[:1])
        if end is None:
            raise RecordingError(f"replay {self.name!r}: unknown end of stream {payload[:1]!r}")
        raise end(f"replay {self.name!r}: {reason}")

    def _refill(self, start: int, n: int, buf: Buffer) -> int:
        """Bring file offset ``start`` into the window and return its window offset, or read a
        large span straight into ``buf`` and return -1. Any error ends the replay."""
        rec = self.recording
        try:
            if n >= DIRECT:  # equivalent-mutant: GtE -> Gt: a direct read and the window deliver the same bytes
                rec.read_into(start, memoryview(buf)[:n])
                return -1
            self._win, self._wbase, self._wend = rec.window(start, n)
        except BaseException:
            self._closed, self._i, self._offset = True, len(rec.kinds), 0  # later reads: ConnectionClosed
            rec.close()
            raise
        self._wview = memoryview(self._win)
        return start - self._wbase

    def _due(self, t_ns: int) -> bool:
        now = time.monotonic_ns()
        if not self._start:
            self._start = now
        return (now - self._start) * self.speed >= t_ns  # type: ignore[operator]

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ConnectionClosed(f"replay {self.name!r} ended")
        if self.compare_writes:
            self._compare(memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data)

    def _compare(self, data: bytes | bytearray | memoryview) -> None:
        rec = self.recording
        kinds, pos = rec.kinds, 0
        while pos < len(data):
            while self._out_i < len(kinds) and kinds[self._out_i] != OUT:
                self._out_i += 1
            if self._out_i == len(kinds):
                raise RecordingError(f"replay {self.name!r}: wrote {len(data) - pos} bytes more than were recorded")
            start = rec.offsets[self._out_i] + self._out_offset
            n = min(rec.lengths[self._out_i] - self._out_offset, len(data) - pos)
            recorded, written = rec.span(start, n), bytes(data[pos : pos + n])
            if recorded != written and not self._masked_equal(recorded, written):
                raise RecordingError(f"replay {self.name!r}: written bytes differ from the recording")
            pos += n
            self._out_offset += n
            if self._out_offset == rec.lengths[self._out_i]:
                self._out_i, self._out_offset = self._out_i + 1, 0

    def _masked_equal(self, recorded: bytes, written: bytes) -> bool:
        """Equal but where the recording holds the wildcard (a redacted byte)."""
        wildcard = self.wildcard
        if wildcard is None:
            return False
        return all(r in (w, wildcard) for r, w in zip(recorded, written, strict=True))

    def flush(self) -> bool:
        return True

    @property
    def pending(self) -> int:  # type: ignore[override]
        return 0

    def buffered(self) -> int:
        """Bytes of the next recorded read; 1 if a gap or the end is next (so pollers keep asking)."""
        kinds, i = self.recording.kinds, self._i
        while i < len(kinds) and kinds[i] == OUT:
            i += 1
        if i < len(kinds) and kinds[i] == IN:
            return int(self.recording.lengths[i]) - self._offset
        return 0 if self._closed else 1

    def read_hint(self) -> int:
        """Always ``1``: a replay has no descriptor to wait on, so it is polled on every pass."""
        return 1

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._i, self._offset = len(self.recording.kinds), 0  # later reads report the end
        self.recording.close()

    def __repr__(self) -> str:
        return f"<ReplayStream {self.name!r} record {self._i}/{len(self.recording.kinds)}>"


def _sources(memory: Recording, file: RecordingFile) -> tuple[RecordSource, RecordSource]:
    return memory, file  # mypy checks here that both are RecordSources
