"""The recording file format (sans-I/O writer and reader) used by RecordedStream / ReplayStream.

A recording is the *plaintext* traffic of one stream: every inbound read with its boundary, every
outbound write, and the gaps where a read found nothing. All integers are little-endian.

File header (20 bytes)::

    magic     8s   b"BOOMREC\\x00"
    version   u16  1
    flags     u16  0 (reserved)
    start_ns  u64  wall-clock time (time.time_ns) when recording began

Then records, each::

    kind      u8   1 IN   payload = the bytes one recv_into returned
                   2 OUT  payload = the bytes handed to write()
                   3 GAP  payload = u32 count of consecutive reads that returned 0 (replayed as one)
                   4 EOF  payload = u8 reset flag (1 = reset) + UTF-8 reason
                   255 END payload empty; the last record of a complete file
    length    u32  payload length
    t_ns      u64  monotonic nanoseconds since recording began (replay pacing, latency studies)
    payload   length bytes
    crc32     u32  zlib.crc32 of kind..payload

A file without an END record is *truncated*; a bad magic, version, kind or checksum is *corrupt*.
Both raise :class:`~boomnet.errors.RecordingError`.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from typing import NamedTuple

from ..errors import RecordingError

__all__ = ["MAGIC", "VERSION", "IN", "OUT", "GAP", "EOF", "END", "RecordWriter", "Recording", "parse"]

MAGIC = b"BOOMREC\x00"
VERSION = 1
IN, OUT, GAP, EOF, END = 1, 2, 3, 4, 255
KINDS = frozenset((IN, OUT, GAP, EOF, END))

FILE_HEADER = struct.Struct("<8sHHQ")
RECORD_HEADER = struct.Struct("<BIQ")
CRC = struct.Struct("<I")
GAP_COUNT = struct.Struct("<I")
SUFFIX = ".bnrec"

_crc32 = zlib.crc32


def file_header(start_ns: int) -> bytes:
    return FILE_HEADER.pack(MAGIC, VERSION, 0, start_ns)


class RecordWriter:
    """Encodes records into an in-memory bytearray; the owner moves ``data`` to a file in batches."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, kind: int, t_ns: int, payload: bytes | bytearray | memoryview = b"") -> None:
        head = RECORD_HEADER.pack(kind, len(payload), t_ns)
        data = self.data
        data += head
        data += payload
        data += CRC.pack(_crc32(payload, _crc32(head)))


class Recording(NamedTuple):
    """A parsed recording: parallel arrays of kind, time and payload span into ``data``."""

    start_ns: int
    data: bytes
    kinds: array
    times: array
    offsets: array
    lengths: array
    complete: bool  # an END record was found


def parse(data: bytes, *, allow_truncated: bool = False, source: str = "recording") -> Recording:
    """Validate and index a whole recording. Raises RecordingError if truncated or corrupt
    (with ``allow_truncated`` a missing END or a partial last record only ends the replay early)."""
    if len(data) < FILE_HEADER.size:
        raise RecordingError(f"{source}: truncated (no file header)")
    magic, version, _flags, start_ns = FILE_HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise RecordingError(f"{source}: corrupt (not a boomnet recording: bad magic {magic!r})")
    if version != VERSION:
        raise RecordingError(f"{source}: unsupported recording version {version} (expected {VERSION})")
    kinds, times, offsets, lengths = array("B"), array("Q"), array("Q"), array("I")
    pos, size, hsize = FILE_HEADER.size, len(data), RECORD_HEADER.size
    complete = False
    view = memoryview(data)
    while pos < size:
        if pos + hsize > size:
            return _truncated(allow_truncated, source, pos, start_ns, data, kinds, times, offsets, lengths)
        kind, length, t_ns = RECORD_HEADER.unpack_from(data, pos)
        if kind not in KINDS:
            raise RecordingError(f"{source}: corrupt (unknown record kind {kind} at offset {pos})")
        body = pos + hsize
        end = body + length
        if end + CRC.size > size:
            return _truncated(allow_truncated, source, pos, start_ns, data, kinds, times, offsets, lengths)
        (crc,) = CRC.unpack_from(data, end)
        if crc != _crc32(view[body:end], _crc32(view[pos:body])):
            raise RecordingError(f"{source}: corrupt (checksum mismatch in record at offset {pos})")
        pos = end + CRC.size
        if kind == END:
            complete = True
            if pos != size:
                raise RecordingError(f"{source}: corrupt ({size - pos} bytes after the END record)")
            break
        kinds.append(kind)
        times.append(t_ns)
        offsets.append(body)
        lengths.append(length)
    if not complete:
        return _truncated(allow_truncated, source, pos, start_ns, data, kinds, times, offsets, lengths)
    return Recording(start_ns, data, kinds, times, offsets, lengths, True)


def _truncated(allowed: bool, source: str, pos: int, start_ns: int, data: bytes, *arrays: array) -> Recording:
    if not allowed:
        raise RecordingError(f"{source}: truncated at offset {pos} (no END record; was the stream closed?)")
    return Recording(start_ns, data, *arrays, False)  # type: ignore[arg-type]
