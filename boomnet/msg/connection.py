"""A message connection over any boomnet stream: reactor in, sender out.

Inbound: :meth:`Connection.read_batch` makes one ``recv_into`` into the reusable receive buffer,
has the codec decode every whole message in it, and returns them as a list (messages may be
memoryviews into the buffer: valid until the next read). Outbound: :meth:`Connection.push`
encodes into a coalescing bytearray (cheap: no syscall); :meth:`Connection.flush` writes
everything queued — over a socket stream with **one** ``sendmsg`` (writev) of all queued chunks,
over any other stream (TLS, recorded, ...) through ``stream.write``. :meth:`Connection.send` is
push + flush, for latency. A partial write keeps the unsent tail, in order (the kernel took the
first ``n`` bytes; the rest is sent next time, never lost or re-sent).

Other threads push with :meth:`Connection.push_threadsafe` (a deque append plus an optional wake
hook — the IOService's ``call_soon_threadsafe`` or a driver's eventfd — so a sleeping loop
notices at once); the loop thread moves those messages into the send queue on its next
``read_batch`` / ``flush``.

Limits: ``send_budget`` bytes may wait (queued here + pending in the stream): a push beyond it
raises :class:`SendBufferFull` and queues nothing. A malformed frame raises the codec's
:class:`FramingError` after the messages before it were returned, and closes the stream.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ..errors import (
    ConnectionClosed,
    ConnectionReset,
    InvalidState,
    PeerTimeout,
    ProtocolError,
    SendBufferFull,
)
from ..stream.base import Stream
from ..stream.socket_stream import SocketStream
from .buffer import RecvBuffer
from .codec import Buffer, Codec
from .observe import Observer
from .options import MsgOptions

__all__ = ["Connection"]

M = TypeVar("M")

_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_MAX_IOV = 512  # per sendmsg; well under IOV_MAX (1024)
_ids = itertools.count(1)


class Connection(Generic[M]):
    """Messages of codec ``codec`` over ``stream`` (already established, or establishing:
    call :meth:`establish` until ``True``). ``name`` identifies it to observers and logs.

    Implements the service's ``Target`` (``establish``, ``fileno``, ``read_hint``, ``close``), so
    an IOService endpoint can own it directly.
    """

    __slots__ = (
        "_stream_pending",
        "_budget",
        "_chunks",
        "_closed",
        "_decode",
        "_encode",
        "_error",
        "_last_rx",
        "_max_read",
        "_queued",
        "_rbuf",
        "_ready",
        "_sock",
        "_tail",
        "_xbudget",
        "_xq",
        "codec",
        "id",
        "messages_in",
        "messages_out",
        "name",
        "observers",
        "options",
        "stream",
        "wake",
    )

    def __init__(
        self,
        stream: Stream,
        codec: Codec[M],
        *,
        name: str | None = None,
        observers: Sequence[Observer[M]] = (),
        options: MsgOptions | None = None,
        **overrides: object,
    ) -> None:
        opts = options if options is not None else MsgOptions()
        if overrides:
            opts = opts.replace(**overrides)
        self.stream = stream
        self.codec = codec
        self.options = opts
        self.id = next(_ids)
        self.name = name or getattr(stream, "description", "") or f"conn-{self.id}"
        #: the observer chain (see :mod:`boomnet.msg.observe`); may be changed between batches
        self.observers: list[Observer[M]] = list(observers)
        self._rbuf = RecvBuffer(opts.buffer_size)
        self._decode = codec.decode
        self._encode = codec.encode
        self._tail = bytearray()  # encoded small messages, coalesced
        self._chunks: deque[Buffer] = deque()  # earlier chunks / vectored parts, before _tail
        self._queued = 0  # bytes in _chunks + _tail
        self._budget = opts.send_budget
        self._stream_pending = 0  # stream.pending as of the last flush (read once per flush)
        self._sock: socket.socket | None = None  # set once established over a socket stream
        self._ready = False
        self._error: BaseException | None = None  # raised by the next read_batch
        self._closed = False
        self._xq: deque[M] = deque()  # pushed by other threads
        self._xbudget = opts.threadsafe_budget
        #: called (from any thread) after ``push_threadsafe``; set by the driver that owns the loop
        self.wake: Callable[[], object] | None = None
        self._last_rx = time.monotonic()
        self._max_read = opts.max_batch_bytes
        #: counts, for observers and tests
        self.messages_in = 0
        self.messages_out = 0

    # --- Target ---------------------------------------------------------------------------------

    def establish(self) -> bool:
        """Advance the stream's connect/handshake; ``True`` once ready (queued sends go out)."""
        if self._ready:
            return True
        if self._closed:
            raise InvalidState(f"{self.name}: connection is closed")
        if not self.stream.establish():
            return False
        self._ready = True
        stream = self.stream
        if type(stream).write is SocketStream.write and isinstance(stream, SocketStream):
            self._sock = stream.socket  # our own writev path; see _flush_socket
        self._last_rx = time.monotonic()
        if self._queued or self._xq:
            self.flush()
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    def read_hint(self) -> int:
        """Non-zero when this connection must be polled without new readiness: bytes held in the
        stream, sends queued, messages from other threads, or an error to report."""
        return (
            self.stream.read_hint()
            or self._queued
            or len(self._xq)
            or (1 if self._error is not None or self._closed else 0)
        )

    def close(self) -> None:
        """Close the stream (queued, unsent messages are discarded: call :meth:`flush` first)."""
        self._closed = True
        self.stream.close()

    @property
    def closed(self) -> bool:
        return self._closed or self.stream.closed

    @property
    def pending(self) -> int:
        """Bytes waiting to be sent (queued here plus pending in the stream)."""
        return self._queued + self.stream.pending

    # --- inbound (hot path) -----------------------------------------------------------------------

    def read_batch(self) -> list[M]:
        """Read once and return every whole message (possibly none); never blocks.

        Raises :class:`ConnectionClosed` at EOF (after every message before it was returned), and
        the codec's :class:`FramingError` on the call after the messages that preceded a
        malformed frame (at once if there were none).
        """
        if self._xq:
            self._drain_threadsafe()
        if self._queued:
            self.flush()
        if self._error is not None:
            raise self._error
        if not self._ready and not self.establish():
            return []
        rbuf = self._rbuf
        view = rbuf.write_view()
        if len(view) > self._max_read:
            view = view[: self._max_read]
        try:
            n = self.stream.recv_into(view)
        except ConnectionClosed as e:
            self._closed = True
            if rbuf.undecoded:
                raise ConnectionClosed(f"{self.name}: closed mid-frame ({rbuf.undecoded} bytes of a partial message)") from e
            raise
        if not n:
            return []
        rbuf.commit(n)
        out: list[M] = []
        data = rbuf.peek()
        try:
            used = self._decode(data, out)
        except ProtocolError as e:
            self._error = e
            self.close()
            if not out:
                raise
            used = 0
        else:
            rbuf.consume(used)
            rbuf.need = self.codec.frame_size(data[used:]) if rbuf.undecoded else 0
        if self.options.idle_timeout is not None:
            self._last_rx = time.monotonic()
        if out:
            self.messages_in += len(out)
            if self.observers:
                for obs in self.observers:
                    obs.on_recv(self, out)
        return out

    def check_liveness(self, now: float) -> None:
        """Raise :class:`PeerTimeout` if nothing arrived for ``idle_timeout`` seconds."""
        idle = self.options.idle_timeout
        if idle is not None and now - self._last_rx > idle:
            raise PeerTimeout(f"{self.name}: nothing received for {now - self._last_rx:.1f}s (idle_timeout={idle})")

    # --- outbound -------------------------------------------------------------------------------

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
        self._queued = queued
        self.messages_out += 1
        if self.observers:
            for obs in self.observers:
                obs.on_send(self, msg)

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
        added = 0
        try:
            for msg in msgs:
                b = len(tail)
                parts = encode(msg, tail)
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
        self._queued += added
        self.messages_out += len(msgs)
        if self.observers:
            for msg in msgs:
                for obs in self.observers:
                    obs.on_send(self, msg)
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
                self._closed = True
                self.stream.close()
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

    def __repr__(self) -> str:
        return f"<Connection {self.name} {type(self.codec).__name__} queued={self._queued}>"
