"""The recording file format (sans-I/O encoder and parser) behind RecordedStream / ReplayStream.

A recording is the *plaintext* traffic of one stream: every inbound read with its boundary, every
outbound write, and the gaps where a read found nothing. All integers are little-endian.

File header (24 bytes, version 3)::

    magic     8s   b"BOOMREC\\x01"
    version   u16  3
    flags     u16  bit 0: outbound bytes were redacted; bit 1: inbound bytes were redacted;
                   any other bit set is an error (a newer writer)
    start_ns  u64  wall-clock time (time.time_ns) when recording began
    crc32     u32  zlib.crc32 of the 20 bytes above

The header checksum covers the one part no block checksum covers. The magic changed with it
(``\\x00`` -> ``\\x01`` in its last byte) so that no single flipped byte turns a version 3
header into a well-formed older one.

Then blocks, each a batch of records written in one go::

    length    u32  bytes of records that follow
    crc32     u32  zlib.crc32 of those bytes
    records   length bytes

A record::

    kind      u8   1 IN   payload = the bytes one recv_into returned
                   2 OUT  payload = the bytes handed to write()
                   3 GAP  payload = u32 count of consecutive reads that returned 0 (replayed as one)
                   4 EOF  payload = u8 how (0 closed, 1 reset, 2 truncated: a TLS stream's TCP
                          connection ended without close_notify) + UTF-8 reason
                   255 END payload empty; the last record of a complete file
    length    u32  payload length
    t_ns      u64  monotonic nanoseconds since recording began (replay pacing, latency studies)
    payload   length bytes

Checksums are per block, not per record, so the recording thread only appends bytes; the block's
checksum and file write happen on a writer thread (both release the GIL). A file that ends before
an END record is *truncated*; a bad magic, version, kind, length or checksum is *corrupt*. Both
raise :class:`~boomnet.errors.RecordingError`.

A replay reads a recording through :class:`~boomnet.stream.replay.RecordSource`: a
:class:`Recording` is a whole file in memory, validated and indexed by :func:`parse` (tests,
tools, small files); :class:`~boomnet.stream.recording_file.RecordingFile` (what
``ReplayStream.from_file`` uses) checks exactly what :func:`parse` checks while streaming the file
through one reused buffer, and keeps only the index. Checksums are zlib's CRC-32, computed with
zlib-ng's implementation when the ``zlib-ng`` package is installed (same values, several times
faster), else with :func:`zlib.crc32`.

Older files are still read: both start with the 20-byte header ``magic b"BOOMREC\\x00", version
u16, flags u16 (0), start_ns u64`` and have **no header checksum** (a flipped byte in their
start time goes unnoticed). Version 2 has the blocks above; version 1 has no blocks, each
record being followed by its own ``crc32`` u32 of kind..payload. Files are written in version 3
only.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from ..errors import RecordingError

__all__ = [
    "MAGIC", "VERSION", "IN", "OUT", "GAP", "EOF", "END", "REDACTED_OUT", "REDACTED_IN",
    "RecordWriter", "Recording", "crc32", "parse", "seal_block",
]

MAGIC = b"BOOMREC\x01"  # version 3 and later
MAGIC_V1 = b"BOOMREC\x00"  # versions 1 and 2 (no header checksum)
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
IN, OUT, GAP, EOF, END = 1, 2, 3, 4, 255
KINDS = frozenset((IN, OUT, GAP, EOF, END))
REDACTED_OUT, REDACTED_IN = 0x1, 0x2
KNOWN_FLAGS = REDACTED_OUT | REDACTED_IN

FILE_HEADER = struct.Struct("<8sHHQ")  # versions 1 and 2; the first 20 bytes of version 3
HEADER_CRC = struct.Struct("<I")
HEADER_SIZE = FILE_HEADER.size + HEADER_CRC.size  # version 3
BLOCK_HEADER = struct.Struct("<II")
V1_CRC = struct.Struct("<I")
RECORD_HEADER = struct.Struct("<BIQ")
GAP_COUNT = struct.Struct("<I")
SUFFIX = ".bnrec"

#: what the parsers index: a whole file in memory, or a window of one
Data = bytes | bytearray | memoryview


def _crc32() -> Callable[[Data, int], int]:
    """zlib-ng's crc32 when installed: the same checksum as ``zlib.crc32`` (checked here on the
    standard check value), several times faster (SIMD): validating a file is mostly checksumming."""
    try:
        module = importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:
        return zlib.crc32
    fast: Callable[[Data, int], int] = module.crc32
    return fast if fast(b"123456789", 0) == zlib.crc32(b"123456789") == 0xCBF43926 else zlib.crc32


#: ``crc32(data, value=0)``: every checksum of the format (writing and validating)
crc32 = _crc32()


def file_header(start_ns: int, flags: int = 0) -> bytes:
    """The version 3 file header: 20 bytes and their checksum."""
    if flags & ~KNOWN_FLAGS:
        raise ValueError(f"unknown recording flags {flags:#x}")
    head = FILE_HEADER.pack(MAGIC, VERSION, flags, start_ns)
    return head + HEADER_CRC.pack(crc32(head, 0))


def seal_block(records: bytes | bytearray | memoryview) -> bytes:
    """The block header for ``records`` (length + checksum)."""
    return BLOCK_HEADER.pack(len(records), crc32(records, 0))


class RecordWriter:
    """Encodes records into a preallocated buffer (no regrowth, no fresh pages on the hot path).

    ``add`` returns ``False`` when the record does not fit: the owner hands the block over with
    ``take`` and adds again (a record larger than the whole buffer gets a block of its own).
    """

    __slots__ = ("buf", "capacity", "pos")

    def __init__(self, capacity: int, buf: bytearray | None = None):
        self.capacity = capacity
        self.buf = buf if buf is not None else bytearray(capacity)
        self.pos = 0

    def add(self, kind: int, t_ns: int, payload: bytes | bytearray | memoryview = b"") -> bool:
        pos = self.pos
        body = pos + RECORD_HEADER.size
        end = body + len(payload)
        buf = self.buf
        if end > len(buf):
            if pos:  # hand this block over first (an empty buffer is always >= capacity here)
                return False
            self.buf = buf = bytearray(end)  # oversized record: a one-off block
        RECORD_HEADER.pack_into(buf, pos, kind, len(payload), t_ns)
        buf[body:end] = payload
        self.pos = end
        return True

    def take(self, fresh: bytearray | None = None) -> tuple[bytearray, int]:
        """Hand over ``(buffer, used length)`` and continue in ``fresh`` (or a new buffer)."""
        block = (self.buf, self.pos)
        self.buf = fresh if fresh is not None and len(fresh) >= self.capacity else bytearray(self.capacity)
        self.pos = 0
        return block


class Indexed:
    """What a recording source derives from its flags and index alone, once for both sources
    (:class:`Recording` in memory, :class:`~boomnet.stream.recording_file.RecordingFile` on disk):
    each supplies the fields and :meth:`span`."""

    __slots__ = ()
    if TYPE_CHECKING:  # the sources' own fields (a NamedTuple's, or slots)
        flags: int
        kinds: array[int]
        offsets: array[int]
        lengths: array[int]

    def span(self, start: int, n: int) -> bytes:  # pragma: no cover - every source has its own
        raise NotImplementedError

    @property
    def redacted_out(self) -> bool:
        """The outbound bytes were redacted when recorded (secrets overwritten)."""
        return bool(self.flags & REDACTED_OUT)

    @property
    def redacted_in(self) -> bool:
        """The inbound bytes were redacted when recorded."""
        return bool(self.flags & REDACTED_IN)

    def writes(self) -> Iterator[bytes]:
        """The outbound chunks (each ``write()`` call's bytes, as recorded), in order."""
        span = self.span
        for kind, offset, length in zip(self.kinds, self.offsets, self.lengths, strict=True):
            if kind == OUT:
                yield span(offset, length)

    def payload(self, i: int) -> bytes:
        """Record ``i``'s payload (a copy)."""
        return self.span(self.offsets[i], self.lengths[i])


class _Fields(NamedTuple):
    start_ns: int
    data: bytes
    kinds: array[int]
    times: array[int]
    offsets: array[int]
    lengths: array[int]
    complete: bool  # an END record was found
    version: int = VERSION
    flags: int = 0  # REDACTED_OUT / REDACTED_IN


class Recording(_Fields, Indexed):
    """A parsed in-memory recording: parallel arrays of kind, time and payload span into ``data``.

    A :class:`~boomnet.stream.replay.RecordSource` whose window is all of ``data`` (``data[k]`` is
    the file's byte ``k``).
    """

    __slots__ = ()

    def span(self, start: int, n: int) -> bytes:
        return self.data[start : start + n]

    def window(self, start: int, n: int) -> tuple[bytes, int, int]:
        return self.data, 0, len(self.data)

    def held(self) -> tuple[bytes, int, int]:
        return self.data, 0, len(self.data)

    def read_into(self, start: int, view: memoryview) -> None:  # never needed: the window is all
        view[:] = memoryview(self.data)[start : start + len(view)]

    def attach(self) -> None:
        """Nothing to do: an in-memory recording may be replayed any number of times."""

    def finish(self) -> None:
        """Nothing to release."""

    def close(self) -> None:
        """Nothing to release."""


def _header(data: Data, source: str) -> tuple[int, int, int, int]:
    """``(version, flags, start_ns, header size)``; RecordingError for any damage."""
    if len(data) < FILE_HEADER.size:
        raise RecordingError(f"{source}: truncated (no file header)")
    magic, version, flags, start_ns = FILE_HEADER.unpack_from(data, 0)
    if magic == MAGIC_V1:
        if version not in (1, 2):
            raise RecordingError(f"{source}: corrupt or unsupported header (version {version} with the version 1-2 magic)")
        if flags:
            raise RecordingError(f"{source}: corrupt header (flags {flags:#x} in a version {version} file)")
        return version, 0, start_ns, FILE_HEADER.size
    if magic != MAGIC:
        raise RecordingError(f"{source}: corrupt (not a boomnet recording: bad magic {magic!r})")
    if len(data) < HEADER_SIZE:
        raise RecordingError(f"{source}: truncated (no file header)")
    (crc,) = HEADER_CRC.unpack_from(data, FILE_HEADER.size)
    if crc != crc32(memoryview(data)[: FILE_HEADER.size], 0):
        raise RecordingError(f"{source}: corrupt (file header checksum mismatch)")
    if version != VERSION:
        raise RecordingError(f"{source}: unsupported recording version {version} (reads {READABLE_VERSIONS})")
    if flags & ~KNOWN_FLAGS:
        raise RecordingError(f"{source}: unsupported recording flags {flags:#x} (written by a newer boomnet?)")
    return version, flags, start_ns, HEADER_SIZE


def parse(data: bytes, *, allow_truncated: bool = False, source: str = "recording") -> Recording:
    """Validate and index a whole recording. Raises RecordingError if truncated or corrupt.

    With ``allow_truncated`` a missing END record or an incomplete last block only ends the replay
    early (the incomplete block is dropped: it cannot be verified).
    """
    version, flags, start_ns, pos = _header(data, source)
    kinds, times, offsets, lengths = array("B"), array("Q"), array("Q"), array("I")
    view = memoryview(data)
    size = len(data)
    if version == 1:
        return _parse_v1(data, start_ns, allow_truncated, source, kinds, times, offsets, lengths)
    while pos + BLOCK_HEADER.size <= size:  # else the end, or a truncated block header
        block_len, crc = BLOCK_HEADER.unpack_from(data, pos)
        start = pos + BLOCK_HEADER.size
        end = start + block_len
        if end > size:
            break  # truncated block
        if crc32(view[start:end], 0) != crc:
            raise RecordingError(f"{source}: corrupt (checksum mismatch in block at offset {pos})")
        if _index_block(data, start, end, 0, source, kinds, times, offsets, lengths):
            if end != size:
                raise RecordingError(f"{source}: corrupt ({size - end} bytes after the END record)")
            return Recording(start_ns, data, kinds, times, offsets, lengths, True, version, flags)
        pos = end
    if not allow_truncated:
        raise RecordingError(f"{source}: truncated at offset {pos} (no END record; was the stream closed?)")
    return Recording(start_ns, data, kinds, times, offsets, lengths, False, version, flags)


def end_of_block(kind: int, length: int, body: int, end: int, source: str, at: int) -> bool:
    """The checks of one record whose payload starts at ``body`` in a block ending at ``end``
    (``at``: the record's file offset, for the message): ``True`` for the END record that ends
    the block, ``False`` for a record to index; raises :class:`RecordingError` if it is corrupt.
    The one place these checks live (the in-memory and the file indexers call it)."""
    if kind not in KINDS:
        raise RecordingError(f"{source}: corrupt (unknown record kind {kind} at offset {at})")
    if body + length > end:
        raise RecordingError(f"{source}: corrupt (record overruns its block at offset {at})")
    if kind != END:
        return False
    if length:
        raise RecordingError(f"{source}: corrupt (END record with a payload at offset {at})")
    if body != end:
        raise RecordingError(f"{source}: corrupt (records after END at offset {at})")
    return True


def end_of_v1(kind: int, length: int, after: int, size: int, source: str, at: int) -> bool:
    """Version 1's checks of a record (of a known kind, its crc32 verified) whose crc32 ends at
    ``after`` in a file of ``size`` bytes: ``True`` for the END record that ends the file,
    ``False`` for a record to index; raises :class:`RecordingError` if it is corrupt. The one
    place these checks live (the in-memory and the file parsers of version 1 call it)."""
    if kind != END:
        return False
    if length:
        raise RecordingError(f"{source}: corrupt (END record with a payload at offset {at})")
    if after != size:
        raise RecordingError(f"{source}: corrupt (bytes after the END record)")
    return True


def _index_block(data: Data, pos: int, end: int, base: int, source: str, *arrays: array[int]) -> bool:
    """Index the records of one verified block ``data[pos:end]``, where ``data[k]`` is the byte at
    file offset ``base + k``; ``True`` if it ends with the END record."""
    kinds, times, offsets, lengths = arrays
    hsize = RECORD_HEADER.size
    # bound once: this loop runs once per record of the file (hundreds of thousands)
    unpack, known = RECORD_HEADER.unpack_from, KINDS
    add_kind, add_time, add_offset, add_length = kinds.append, times.append, offsets.append, lengths.append
    while pos < end:
        if pos + hsize > end:
            raise RecordingError(f"{source}: corrupt (record header overruns its block at offset {pos + base})")
        kind, length, t_ns = unpack(data, pos)
        body = pos + hsize
        # one combined test on the common path; the exact verdict (and its message) is end_of_block's
        if (kind == END or kind not in known or body + length > end) and end_of_block(
                kind, length, body, end, source, pos + base):
            return True
        add_kind(kind)
        add_time(t_ns)
        add_offset(body + base)
        add_length(length)
        pos = body + length
    return False


def _parse_v1(data: bytes, start_ns: int, allow_truncated: bool, source: str, *arrays: array[int]) -> Recording:
    """Version 1: records back to back, each followed by its own crc32."""
    kinds, times, offsets, lengths = arrays
    view = memoryview(data)
    pos, size, hsize, csize = FILE_HEADER.size, len(data), RECORD_HEADER.size, V1_CRC.size
    while pos + hsize <= size:
        kind, length, t_ns = RECORD_HEADER.unpack_from(data, pos)
        if kind not in KINDS:
            raise RecordingError(f"{source}: corrupt (unknown record kind {kind} at offset {pos})")
        body = pos + hsize
        end = body + length
        if end + csize > size:
            break
        (crc,) = V1_CRC.unpack_from(data, end)
        if crc != crc32(view[body:end], crc32(view[pos:body], 0)):
            raise RecordingError(f"{source}: corrupt (checksum mismatch in record at offset {pos})")
        if end_of_v1(kind, length, end + csize, size, source, pos):
            return Recording(start_ns, data, kinds, times, offsets, lengths, True, 1)
        kinds.append(kind)
        times.append(t_ns)
        offsets.append(body)
        lengths.append(length)
        pos = end + csize
    if not allow_truncated:
        raise RecordingError(f"{source}: truncated at offset {pos} (no END record; was the stream closed?)")
    return Recording(start_ns, data, kinds, times, offsets, lengths, False, 1)
