"""A message connection over any boomnet stream: reactor in, sender out.

Inbound (here): :meth:`Connection.read_batch` makes one ``recv_into`` into the reusable receive
buffer, has the codec decode every whole message in it, and returns them as a list (messages may
be memoryviews into the buffer: valid until the next read). A malformed frame raises the codec's
:class:`FramingError` after the messages before it were returned, and closes the stream.

Outbound (:class:`~boomnet.msg.sender.Sender`, the base class): ``push`` (queue, no syscall),
``send`` (push + flush, for latency), ``push_many``, ``push_threadsafe`` from other threads, and
``flush`` (one writev of everything queued), bounded by ``send_budget``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import TypeVar

from ..errors import ConnectionClosed, InvalidState, PeerTimeout, ProtocolError
from ..stream.base import Stream
from ..stream.socket_stream import SocketStream
from ..buffer import ReceiveBuffer
from .codec import Codec
from .observe import Observer
from .options import MsgOptions
from .sender import Sender

__all__ = ["Connection"]

M = TypeVar("M")

_ids = itertools.count(1)


class Connection(Sender[M]):
    """Messages of codec ``codec`` over ``stream`` (already established, or establishing:
    call :meth:`establish` until ``True``). ``name`` identifies it to observers and logs.

    Implements the service's ``Target`` (``establish``, ``fileno``, ``read_hint``, ``close``), so
    an IOService endpoint can own it directly.
    """

    __slots__ = (
        "_decode",
        "_error",
        "_write_error",
        "_last_rx",
        "_max_read",
        "_rbuf",
        "_ready",
        "codec",
        "id",
        "messages_in",
        "name",
        "observers",
        "options",
        "stream",
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
        self._rbuf = ReceiveBuffer(opts.buffer_size)
        self._decode = codec.decode
        self._init_sender(codec, opts.send_budget, opts.threadsafe_budget)
        self._ready = False
        self._error: BaseException | None = None  # raised by the next read_batch
        self._write_error: ConnectionClosed | None = None  # raised once nothing is left to read
        self._closed = False
        self._last_rx = time.monotonic()
        self._max_read = opts.max_batch_bytes
        #: messages received (``messages_out``: sent), for observers and tests
        self.messages_in = 0

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

    # --- inbound (hot path) -----------------------------------------------------------------------

    def read_batch(self) -> list[M]:
        """Read once and return every whole message (possibly none); never blocks.

        Raises :class:`ConnectionClosed` at EOF (after every message before it was returned), and
        the codec's :class:`FramingError` on the call after the messages that preceded a
        malformed frame (at once if there were none).
        """
        if self._xq or self._queued:
            try:
                self.flush()
            except ConnectionClosed as e:
                # The peer is gone for writing (RST, EPIPE), but what it sent before is still in
                # the kernel: read on, and report the write failure once nothing is left.
                if self._write_error is None:
                    self._write_error = e
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
            if self._write_error is not None:
                self.stream.close()
                raise self._write_error
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

    def flush_or_defer(self) -> bool:
        """:meth:`flush`, but a write failure (the peer reset) is kept for the next
        :meth:`read_batch` to raise after it delivered what is still readable."""
        try:
            return self.flush()
        except ConnectionClosed as e:
            if self._write_error is None:
                self._write_error = e
            return False

    def check_liveness(self, now: float) -> None:
        """Raise :class:`PeerTimeout` if nothing arrived for ``idle_timeout`` seconds."""
        idle = self.options.idle_timeout
        if idle is not None and now - self._last_rx > idle:
            raise PeerTimeout(f"{self.name}: nothing received for {now - self._last_rx:.1f}s (idle_timeout={idle})")

    def __repr__(self) -> str:
        return f"<Connection {self.name} {type(self.codec).__name__} queued={self._queued}>"
