"""Message stores: a session's sequence numbers and the messages it sent (for resends).

:class:`MemoryStore` lives as long as the process; :class:`FileStore` survives a restart, so a
reconnect (or a restarted process) resumes where the session left off.

FileStore format (one directory per store, files created mode 0600)::

    <name>.seqnums   22 ASCII bytes, rewritten in place with pwrite at offset 0:
                     "%010d %010d\\n" % (next_sender_seq, next_target_seq)
    <name>.session   the session's creation time: ASCII seconds since the epoch (float), "\\n"
    <name>.body      sent messages, appended: a record is b"%d %d\\n" % (seq, length) followed
                     by the ``length`` message bytes and b"\\n"

A record cut short by a crash (the last one) is ignored and truncated away on open. Messages are
kept in memory too (resends read from memory); the body file is re-read only on open.

fsync policy: every write goes to the kernel with ``os.write`` at once, so a killed process
loses nothing; ``fsync=True`` also fsyncs after each write (survives power loss; costs a disk
flush per message). ``reset()`` truncates the body, sets both sequence numbers to 1 and writes a
new creation time.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

from ..errors import LocalError, RecordingError

__all__ = ["MessageStore", "MemoryStore", "FileStore"]


class MessageStore(Protocol):
    """What a :class:`~boomnet.fix.session.FixSession` needs from a store."""

    next_sender_seq: int
    next_target_seq: int
    creation_time: float

    def set_next_sender_seq(self, seq: int) -> None: ...
    def set_next_target_seq(self, seq: int) -> None: ...
    def save(self, seq: int, message: bytes) -> None:
        """Remember sent message ``seq`` and advance next_sender_seq past it."""
    def get(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored messages with ``begin <= seq <= end``, ascending."""
    def reset(self, now: float | None = None) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """A store in memory: lost with the process."""

    def __init__(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time = time.time()
        self._messages: dict[int, bytes] = {}

    def set_next_sender_seq(self, seq: int) -> None:
        self.next_sender_seq = _check_seq(seq)

    def set_next_target_seq(self, seq: int) -> None:
        self.next_target_seq = _check_seq(seq)

    def save(self, seq: int, message: bytes) -> None:
        self._messages[seq] = message
        if seq >= self.next_sender_seq:
            self.next_sender_seq = seq + 1

    def get(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        msgs = self._messages
        if end - begin > len(msgs):
            return sorted((s, m) for s, m in msgs.items() if begin <= s <= end)
        return [(s, msgs[s]) for s in range(begin, end + 1) if s in msgs]

    def reset(self, now: float | None = None) -> None:
        self.next_sender_seq = self.next_target_seq = 1
        self._messages.clear()
        self.creation_time = time.time() if now is None else now

    def close(self) -> None:
        pass


def _check_seq(seq: int) -> int:
    if not isinstance(seq, int) or seq < 1:
        raise LocalError(f"a sequence number must be an int >= 1, not {seq!r}")
    return seq


class FileStore(MemoryStore):
    """A store in ``directory`` under ``name`` (e.g. ``"FIX.4.4-CLIENT-SERVER"``); see the module
    docstring for the format and the fsync policy."""

    def __init__(self, directory: str | os.PathLike[str], name: str, *, fsync: bool = False) -> None:
        super().__init__()
        if not name or "/" in name or name.startswith("."):
            raise LocalError(f"store name {name!r} must be a plain file name")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        base = os.path.join(os.fspath(directory), name)
        self.fsync = fsync
        self._seq_fd = self._open(base + ".seqnums")
        self._body_fd = self._open(base + ".body")
        self._session_path = base + ".session"
        self._load(base)

    @staticmethod
    def _open(path: str) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)  # also tighten a file an older version created
        return fd

    def _load(self, base: str) -> None:
        raw = os.pread(self._seq_fd, 64, 0)
        if raw:
            try:
                sender, target = raw.split()
                self.next_sender_seq, self.next_target_seq = int(sender), int(target)
            except ValueError:
                raise RecordingError(f"corrupt FIX sequence file {base}.seqnums: {raw[:40]!r}") from None
        else:
            self._write_seqnums()
        try:
            with open(self._session_path, "rb") as f:
                self.creation_time = float(f.read().strip() or b"0") or time.time()
        except FileNotFoundError:
            self._write_creation_time()
        except ValueError:
            raise RecordingError(f"corrupt FIX session file {self._session_path}") from None
        size = os.fstat(self._body_fd).st_size
        data = os.pread(self._body_fd, size, 0) if size else b""
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos, pos + 32)
            if nl < 0:
                break
            try:
                seq_s, len_s = data[pos:nl].split()
                seq, length = int(seq_s), int(len_s)
            except ValueError:
                break
            end = nl + 1 + length
            if end + 1 > len(data) or data[end] != 10:
                break  # cut short by a crash: drop it
            self._messages[seq] = data[nl + 1 : end]
            pos = end + 1
        if pos < len(data):
            os.ftruncate(self._body_fd, pos)
        self._body_end = pos

    def _write_seqnums(self) -> None:
        os.pwrite(self._seq_fd, b"%010d %010d\n" % (self.next_sender_seq, self.next_target_seq), 0)
        if self.fsync:
            os.fsync(self._seq_fd)

    def _write_creation_time(self) -> None:
        fd = self._open(self._session_path)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"%.6f\n" % self.creation_time, 0)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def set_next_sender_seq(self, seq: int) -> None:
        super().set_next_sender_seq(seq)
        self._write_seqnums()

    def set_next_target_seq(self, seq: int) -> None:
        super().set_next_target_seq(seq)
        self._write_seqnums()

    def save(self, seq: int, message: bytes) -> None:
        record = b"%d %d\n%s\n" % (seq, len(message), message)
        os.pwrite(self._body_fd, record, self._body_end)
        self._body_end += len(record)
        if self.fsync:
            os.fsync(self._body_fd)
        super().save(seq, message)
        self._write_seqnums()

    def reset(self, now: float | None = None) -> None:
        super().reset(now)
        os.ftruncate(self._body_fd, 0)
        self._body_end = 0
        self._write_seqnums()
        self._write_creation_time()

    def close(self) -> None:
        for fd in (self._seq_fd, self._body_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._seq_fd = self._body_fd = -1
