"""The outbound half of a message connection: the sender that code pushes to.

:meth:`Sender.push` encodes into a coalescing bytearray (no syscall); :meth:`Sender.flush`
writes everything queued — over a socket stream with **one** ``sendmsg`` (writev) of all queued
chunks, over any other stream (TLS, recorded, ...) through ``stream.write``. A partial write
keeps the unsent tail, in order: the kernel took the first ``n`` bytes, the rest goes next time,
never lost or sent twice (connect-rs drops it; this must not). Large payloads are queued as
``(header, payload)`` parts and sent vectored without being copied into the buffer.

Other threads use :meth:`Sender.push_threadsafe`: a deque append plus the ``wake`` hook; the
loop thread encodes those messages on its next ``flush`` / ``read_batch``. ``send_budget``
bounds what may wait (queued here + pending in the stream): beyond it a push raises
:class:`SendBufferFull` and queues nothing.
"""

from __future__ import annotations

import itertools
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from ..errors import ConnectionReset, InvalidState, SendBufferFull
from .codec import Buffer

if TYPE_CHECKING:  # pragma: no cover
    from ..stream.base import Stream
    from .codec import Codec
    from .observe import Observer

__all__ = ["Sender"]

M = TypeVar("M")

_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_MAX_IOV = 512  # per sendmsg; well under IOV_MAX (1024)


class Sender(Generic[M]):
    """Outbound state and methods of :class:`~boomnet.msg.Connection` (its base class)."""

    __slots__ = (
        "_budget",
        "_closed",
        "_chunks",
        "_encode",
        "_queued",
        "_sock",
        "_stream_pending",
        "_tail",
        "_xbudget",
        "_xq",
        "messages_out",
        "on_queued",
        "wake",
    )

    # set by Connection.__init__
    stream: Stream
    codec: Codec[M]
    name: str
    observers: list[Observer[M]]
    _ready: bool
    _error: BaseException | None

    def _init_sender(self, codec: Codec[M], send_budget: int, threadsafe_budget: int) -> None:
        self._encode = codec.encode
        self._tail = bytearray()  # encoded small messages, coalesced
        self._chunks: deque[Buffer] = deque()  # earlier chunks / vectored parts, before _tail
        self._queued = 0  # bytes in _chunks + _tail
        self._budget = send_budget
        self._stream_pending = 0  # stream.pending as of the last flush (read once per flush)
        self._sock: socket.socket | None = None  # set once established over a socket stream
        self._xq: deque[M] = deque()  # pushed by other threads
        self._xbudget = threadsafe_budget
        #: called (from any thread) after ``push_threadsafe``; set by the driver that owns the loop
        self.wake: Callable[[], object] | None = None
        self.messages_out = 0
        #: called when the send queue goes from empty to non-empty (an endpoint sets it to its
        #: control's ``poll_soon``, so a push from elsewhere is flushed by the next poll)
        self.on_queued: Callable[[], object] | None = None

    @property
    def pending(self) -> int:
        """Bytes waiting to be sent (queued here plus pending in the stream)."""
        return self._queued + self.stream.pending

    @property
    def queued(self) -> int:
        """Bytes queued here, not yet handed to the stream."""
        return self._queued

    def push(self, msg: M) -> None:
        """Queue ``msg`` (encoded now); it goes out at the next :meth:`flush` or ``read_batch``.

        Raises :class:`InvalidMessage` (cannot encode), :class:`SendBufferFull` (over
        ``send_budget``) or :class:`InvalidState` (closed); in each case nothing was queued."""
        if self._closed:
            raise InvalidState(f"{self.name}: cannot send on a closed connection") from self._error
        tail = self._tail
        before = len(tail)
        parts = self._encode(msg, tail)
        if parts is None:
            queued = self._queued + len(tail) - before
            if queued + self._stream_pending > self._budget:
                del tail[before:]
                raise self._full()
        else:
            queued = self._queued + sum(len(p) for p in parts)
            if queued + self._stream_pending > self._budget:
                raise self._full()
            chunks = self._chunks
            if tail:
                chunks.append(tail)
                self._tail = bytearray()
            chunks.extend(parts)
        if not self._queued and self.on_queued is not None:
            self.on_queued()
        self._queued = queued
        self.messages_out += 1
        if self.observers:
            for obs in self.observers:
                obs.on_send(self, msg)  # type: ignore[arg-type]  # self is a Connection

    def push_many(self, msgs: Sequence[M]) -> int:
        """Queue every message of ``msgs`` (encoded now), all or nothing: if one cannot be
        encoded, or together they exceed ``send_budget``, none is queued and the error is raised.
        Returns how many were queued. Cheaper per message than :meth:`push` (one budget check)."""
        if self._closed:
            raise InvalidState(f"{self.name}: cannot send on a closed connection") from self._error
        orig = tail = self._tail
        before = len(tail)
        chunks = self._chunks
        nchunks = len(chunks)
        encode = self._encode
        many = getattr(self.codec, "encode_many", None)  # a codec's batch fast path, if any
        added = 0
        count = len(msgs)
        i = 0
        try:
            while i < count:
                if many is not None:
                    b = len(tail)
                    i = many(msgs, i, tail)
                    added += len(tail) - b
                    if i >= count:
                        break
                b = len(tail)
                parts = encode(msgs[i], tail)
                i += 1
                if parts is None:
                    added += len(tail) - b
                else:
                    added += sum(len(p) for p in parts)
                    if tail:
                        chunks.append(tail)
                        self._tail = tail = bytearray()
                    chunks.extend(parts)
            if self._queued + added + self._stream_pending > self._budget:
                raise self._full()
        except BaseException:
            while len(chunks) > nchunks:  # restore the queue exactly as it was
                chunks.pop()
            del orig[before:]
            self._tail = orig
            raise
        if not self._queued and added and self.on_queued is not None:
            self.on_queued()
        self._queued += added
        self.messages_out += len(msgs)
        if self.observers:
            for msg in msgs:
                for obs in self.observers:
                    obs.on_send(self, msg)  # type: ignore[arg-type]  # self is a Connection
        return len(msgs)

    def _full(self) -> SendBufferFull:
        return SendBufferFull(
            f"{self.name}: {self.pending} bytes already wait to be sent (send_budget={self._budget}); the peer is not reading"
        )

    def send(self, msg: M) -> bool:
        """:meth:`push` then :meth:`flush`; ``True`` if everything queued went out now."""
        self.push(msg)
        return self.flush()

    def push_threadsafe(self, msg: M) -> None:
        """Queue ``msg`` from any thread; the loop thread encodes and sends it on its next poll.
        Raises :class:`SendBufferFull` when ``threadsafe_budget`` messages already wait."""
        xq = self._xq
        if len(xq) >= self._xbudget:
            raise SendBufferFull(f"{self.name}: {len(xq)} messages from other threads wait for the loop")
        xq.append(msg)  # deque.append is atomic: no lock
        wake = self.wake
        if wake is not None:
            wake()

    def _drain_threadsafe(self) -> None:
        xq = self._xq
        push = self.push
        while xq:
            try:
                push(xq[0])
            except SendBufferFull:
                break  # stays queued, in order, until the peer reads
            except Exception as e:  # an unencodable message from another thread: report it here
                xq.popleft()
                raise e
            xq.popleft()

    def flush(self) -> bool:
        """Write what is queued; ``True`` once nothing is waiting (here or in the stream)."""
        if self._xq:
            self._drain_threadsafe()
        stream = self.stream
        if not self._queued:
            if not self._stream_pending:
                return True
            done = stream.flush()
            self._stream_pending = stream.pending
            return done
        if not self._ready:
            return False
        if self._sock is not None and not self._stream_pending:
            return self._flush_socket(self._sock)
        chunks = self._chunks
        write = stream.write
        while chunks:
            write(chunks.popleft())  # the stream keeps (copies) what it cannot send now
        if self._tail:
            write(self._tail)
            self._tail.clear()
        self._queued = 0
        done = stream.flush()
        self._stream_pending = stream.pending
        return done

    def _flush_socket(self, sock: socket.socket) -> bool:
        # One sendmsg of every queued chunk (writev). After a partial write the unsent bytes stay
        # at the front of _chunks, in order; the coalescing bytearray is only ever appended to
        # while no memoryview of it is alive (it moves into _chunks when a view is taken).
        chunks = self._chunks
        tail = self._tail
        while self._queued:
            try:
                if chunks:
                    bufs = list(itertools.islice(chunks, _MAX_IOV))
                    if len(bufs) < _MAX_IOV and tail:
                        bufs.append(tail)
                    n = sock.sendmsg(bufs, (), _MSG_NOSIGNAL)
                else:
                    n = sock.send(tail, _MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as e:
                # No more sends; the stream stays open so read_batch can still drain what the
                # peer sent before it went away (Linux keeps it readable after a RST).
                self._closed = True
                raise ConnectionReset(f"{self.name}: {e.strerror or e}") from e
            if not n:
                return False
            self._queued -= n
            while n and chunks:
                head = chunks[0]
                size = len(head)
                if n < size:
                    chunks[0] = memoryview(head)[n:]
                    return False  # the kernel took part of a chunk: its buffer is full
                n -= size
                chunks.popleft()
            if n:
                if n < len(tail):
                    chunks.append(memoryview(tail)[n:])  # pins this bytearray: start a new one
                    self._tail = bytearray()
                    return False
                tail.clear()
        return True
