"""RecordingFile: a recording validated by streaming its file, then replayed from the open file.

:meth:`RecordingFile.open` checks the whole file before a replay starts, exactly what
:func:`~boomnet.stream.recording.parse` checks (header and its checksum, every block's checksum,
every record's kind and bounds, the END record and nothing after it; versions 1, 2 and 3), and
raises :class:`~boomnet.errors.RecordingError` for a missing, truncated or corrupt file. It reads
the file once, in large reads into one reused buffer (the *window*), and keeps only the index:
kind, time, payload offset and length per record (21 bytes a record), never the data. Memory is
the index plus the window (:data:`WINDOW`), whatever the file's size.

The replay then reads the bytes again from the same open descriptor: through the window (one
large read serves many small records), or, for a read of at least :data:`DIRECT` bytes, straight
into the caller's buffer (one copy, one syscall per read). Never one syscall per small record.

The file can change under a replay. What is detected, and when:

* the descriptor is held from validation to the end, so a file replaced by ``rename`` or deleted
  is no change at all: the replay goes on reading the bytes it validated;
* every read from the file (validation's, each window refill, each direct read) is followed by an
  ``os.fstat``: a different size or ``st_mtime_ns`` than at validation's start raises
  RecordingError naming the file, before any byte of that read is delivered; so does a different
  ``st_ctime_ns`` (a write whose mtime was set back with ``utime``) unless the link count, mode
  or owner changed too (a rename over the file, its deletion, chmod/chown also move ctime and
  leave the bytes alone). The same check runs when the replay reaches its recorded end
  (:meth:`finish`), before that end is raised;
* a read that comes back short (the file was truncated) raises RecordingError naming the file.

Not detected: an in-place rewrite that leaves the size and the timestamps as they were. The
kernel stamps times with a coarse clock (commonly a scheduler tick, a few ms), so a same-size
write in the same tick as the file's previous change goes unnoticed; writes through a shared
``mmap`` update the times only when written back; a rewrite together with a chmod hides behind
the chmod's ctime. Bytes are not re-checksummed during the replay: the stamps are the guard.
Bytes held in the window since validation (all of a file smaller than the window) are the
validated bytes whatever happens to the file; a change is still reported at the end.

The descriptor is closed by :meth:`close`, by :meth:`finish`, and on any error. A RecordingFile
replays once, in one stream (it owns the window): open the file again for a second replay.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

from ..errors import LocalError, RecordingError
from .recording import (
    BLOCK_HEADER, HEADER_SIZE, KINDS, RECORD_HEADER, V1_CRC,
    Indexed, _header, _index_block, crc32, end_of_block, end_of_v1,
)

__all__ = ["RecordingFile", "WINDOW", "DIRECT"]

#: the reused buffer: validation reads the file through it, the replay reads small records
#: through it. A default block (at most 1 MiB, the recorder's ``flush_bytes``) and its header fit.
WINDOW = (1 << 20) + (64 << 10)  # equivalent-mutant: Add -> Sub, 1 -> 2, 20 -> 21, 20 -> 19, 64 -> 65, 64 -> 63, 10 -> 11, 10 -> 9: a tuning choice: any window of at least 2 * DIRECT reads the same bytes (the tests run several)
#: a replayed read of at least this many bytes goes straight into the caller's buffer
DIRECT = 32 << 10  # equivalent-mutant: 32 -> 33, 32 -> 31, 10 -> 11, 10 -> 9: a tuning choice: a direct read and the window deliver the same bytes


class RecordingFile(Indexed):
    """The index of a validated recording file and the open descriptor it replays from.

    A :class:`~boomnet.stream.replay.RecordSource`; build it with :meth:`open`.
    """

    __slots__ = (
        "_attached", "_base", "_end", "_file", "_size", "_stamp", "_stop", "_view", "_win",
        "complete", "flags", "kinds", "lengths", "offsets", "path", "start_ns", "times", "version",
    )

    def __init__(self, path: Path, window: int = WINDOW):
        if window < 2 * DIRECT:
            raise LocalError(f"a recording window must be at least {2 * DIRECT} bytes, got {window}")
        self.path = path
        self._win = bytearray(window)
        self._view = memoryview(self._win)
        self._base = self._end = 0  # the window holds file offsets [_base, _end)
        self._attached = False
        self.kinds, self.times, self.offsets, self.lengths = array("B"), array("Q"), array("Q"), array("I")
        self.start_ns = self.version = self.flags = self._stop = 0
        self.complete = False
        self._file = open(path, "rb", buffering=0)
        try:
            self._stamp = self._fstat()
        except BaseException:
            self._file.close()
            raise
        self._size = self._stamp[0]

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, allow_truncated: bool = False, window: int = WINDOW) -> RecordingFile:
        """Open and validate the recording at ``path``; RecordingError if missing, truncated or
        corrupt (the file is closed again then). ``window``: the reused buffer's size."""
        path = Path(path)
        try:
            rec = cls(path, window)
        except OSError as e:
            raise RecordingError(f"cannot read recording {path}: {e}") from e
        try:
            rec._validate(allow_truncated)
        except BaseException:
            rec.close()
            raise
        return rec

    # --- the RecordSource side ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._file.closed

    def span(self, start: int, n: int) -> bytes:
        off = start - self._base
        if off >= 0 and start + n <= self._end and not self._file.closed:  # equivalent-mutant: GtE -> Gt, LtE -> Lt, 0 -> 1: a span the window holds is read from the file just as well
            return bytes(self._view[off : off + n])
        out = bytearray(n)  # outside the window: read it without moving the window
        self.read_into(start, memoryview(out))
        return bytes(out)

    def window(self, start: int, n: int) -> tuple[bytearray, int, int]:
        self._ensure(start, n)
        return self._win, self._base, self._end

    def held(self) -> tuple[bytearray, int, int]:
        return self._win, self._base, self._end

    def read_into(self, start: int, view: memoryview) -> None:
        self._read(view, start)

    def attach(self) -> None:
        if self._attached:
            raise LocalError(f"{self.path} is already being replayed: open the file again for a second replay")
        self._attached = True

    def finish(self) -> None:
        """The replay reached its recorded end: RecordingError if the file changed; close it."""
        try:
            if not self._file.closed:
                self._check()
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        state = "closed" if self._file.closed else "open"
        return f"<RecordingFile {str(self.path)!r} {len(self.kinds)} records, {state}>"

    # --- reading ------------------------------------------------------------------------------

    def _fstat(self) -> tuple[int, ...]:
        st = os.fstat(self._file.fileno())
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, st.st_mode, st.st_uid, st.st_gid

    def _check(self) -> None:
        try:
            now = self._fstat()
        except OSError as e:
            self.close()
            raise RecordingError(f"{self.path}: cannot check the recording: {e}") from e
        was = self._stamp
        # ctime also moves when the file is renamed over, deleted, chmod-ed or chown-ed (no
        # change to its bytes): it counts only when none of that explains it
        if now[:2] != was[:2] or (now[2] != was[2] and now[3:] == was[3:]):
            self.close()
            raise RecordingError(
                f"{self.path}: the recording changed since it was validated "
                f"(size {was[0]} -> {now[0]}, mtime_ns {was[1]} -> {now[1]}, ctime_ns {was[2]} -> {now[2]})"
            )

    def _read(self, view: memoryview, at: int) -> None:
        """Fill ``view`` with the file's bytes from offset ``at``; RecordingError if it is shorter
        or changed since validation started. Closes the file on any error."""
        if self._file.closed:
            raise RecordingError(f"{self.path}: the recording is closed")
        fd, want, got = self._file.fileno(), len(view), 0
        try:
            while got < want:
                n = os.preadv(fd, [view[got:]], at + got)
                if not n:
                    self.close()
                    raise RecordingError(
                        f"{self.path}: the recording is shorter than when it was validated "
                        f"(ends at offset {at + got}, {self._size} bytes were validated)"
                    )
                got += n
        except OSError as e:
            self.close()
            raise RecordingError(f"cannot read recording {self.path}: {e}") from e
        self._check()

    def _ensure(self, pos: int, n: int) -> int:
        """The window offset of file offset ``pos``, with ``[pos, pos + n)`` in the window
        (``n <= WINDOW``, ``pos + n <= size``): refills from ``pos``, keeping the bytes already read."""
        off = pos - self._base
        if off >= 0 and pos + n <= self._end:  # equivalent-mutant: GtE -> Gt, 0 -> 1: refilling a span the window holds reads the same bytes again
            return off
        view, end = self._view, self._end
        keep = end - pos if self._base <= pos < end else 0  # equivalent-mutant: LtE -> Lt, Lt -> LtE: at pos == base nothing kept is re-read; at pos == end there is nothing to keep
        if keep:
            view[:keep] = view[off:off + keep]  # memoryview assignment moves (memmove): overlap is safe
        fill = min(len(view), self._size - pos)
        self._base, self._end = pos, pos  # nothing valid while reading (an error leaves it empty)
        self._read(view[keep:fill], pos + keep)
        self._end = pos + fill
        return 0

    # --- validation ---------------------------------------------------------------------------

    def _validate(self, allow_truncated: bool) -> None:
        source, size = str(self.path), self._size
        head = min(size, HEADER_SIZE)
        off = self._ensure(0, head)
        self.version, self.flags, self.start_ns, pos = _header(self._view[off : off + head], source)
        if self.version == 1:
            self._validate_v1(pos, source)
        else:
            self._validate_blocks(pos, source)
        if not self.complete and not allow_truncated:
            raise RecordingError(f"{source}: truncated at offset {self._stop} (no END record; was the stream closed?)")
        self._check()  # the file did not change while it was read

    def _validate_blocks(self, pos: int, source: str) -> None:
        size, hsize, win = self._size, BLOCK_HEADER.size, len(self._view)
        arrays = self.kinds, self.times, self.offsets, self.lengths
        unpack, ensure = BLOCK_HEADER.unpack_from, self._ensure
        while pos + hsize <= size:  # else the end, or a truncated block header  # equivalent-mutant: Add -> Sub: with under 8 bytes left any block length read ends past the size: the same `break` at the same offset
            off = ensure(pos, hsize)
            block_len, crc = unpack(self._win, off)
            start = pos + hsize
            end = start + block_len
            if end > size:
                break  # truncated block
            if hsize + block_len <= win:  # the usual case: the whole block in the window at once  # equivalent-mutant: LtE -> Lt: a block of exactly the window's size is then checked piece by piece: the same result
                off = ensure(pos, hsize + block_len) + hsize
                if crc32(self._view[off : off + block_len], 0) != crc:
                    raise RecordingError(f"{source}: corrupt (checksum mismatch in block at offset {pos})")
                done = _index_block(self._win, off, off + block_len, self._base, source, *arrays)
            else:  # a block larger than the window (one big record): checksum it piece by piece
                if self._crc(start, end) != crc:
                    raise RecordingError(f"{source}: corrupt (checksum mismatch in block at offset {pos})")
                done = self._index_large(start, end, source)
            if done:
                if end != size:
                    raise RecordingError(f"{source}: corrupt ({size - end} bytes after the END record)")
                self.complete = True
                return
            pos = end
        self._stop = pos

    def _crc(self, pos: int, end: int, crc: int = 0) -> int:
        """The crc32 of the file's bytes ``[pos, end)``, read through the window."""
        step = len(self._view)
        while pos < end:
            n = min(step, end - pos)
            off = self._ensure(pos, n)
            crc = crc32(self._view[off : off + n], crc)
            pos += n
        return crc

    def _index_large(self, pos: int, end: int, source: str) -> bool:
        """:func:`_index_block` (same checks, same messages) for a verified block larger than the
        window: each record header is brought into the window, the payloads are skipped."""
        hsize, unpack = RECORD_HEADER.size, RECORD_HEADER.unpack_from
        while pos < end:
            if pos + hsize > end:
                raise RecordingError(f"{source}: corrupt (record header overruns its block at offset {pos})")
            kind, length, t_ns = unpack(self._win, self._ensure(pos, hsize))
            body = pos + hsize
            if end_of_block(kind, length, body, end, source, pos):
                return True
            self._add(kind, t_ns, body, length)
            pos = body + length
        return False

    def _validate_v1(self, pos: int, source: str) -> None:
        """Version 1 (:func:`~boomnet.stream.recording._parse_v1`'s checks): records back to back,
        each followed by the crc32 of its header and payload."""
        size, hsize, csize, win = self._size, RECORD_HEADER.size, V1_CRC.size, len(self._view)
        unpack, ensure = RECORD_HEADER.unpack_from, self._ensure
        while pos + hsize <= size:
            kind, length, t_ns = unpack(self._win, ensure(pos, hsize))
            if kind not in KINDS:
                raise RecordingError(f"{source}: corrupt (unknown record kind {kind} at offset {pos})")
            body = pos + hsize
            end = body + length
            if end + csize > size:
                break
            if end + csize - pos <= win:  # equivalent-mutant: LtE -> Lt, Sub -> Add: the record is then checked piece by piece: the same result
                off = ensure(pos, end + csize - pos)  # equivalent-mutant: Sub -> Add: asks for more than fits: a refill from pos, which holds the record just as well
                crc = crc32(self._view[off : off + hsize + length], 0)
                (recorded,) = V1_CRC.unpack_from(self._win, off + hsize + length)
            else:
                crc = self._crc(pos, end)
                (recorded,) = V1_CRC.unpack_from(self._win, ensure(end, csize))
            if crc != recorded:
                raise RecordingError(f"{source}: corrupt (checksum mismatch in record at offset {pos})")
            if end_of_v1(kind, length, end + csize, size, source, pos):
                self.complete = True
                return
            self._add(kind, t_ns, body, length)
            pos = end + csize
        self._stop = pos

    def _add(self, kind: int, t_ns: int, offset: int, length: int) -> None:
        self.kinds.append(kind)
        self.times.append(t_ns)
        self.offsets.append(offset)
        self.lengths.append(length)
