"""The thin I/O driver of a WebSocket: a :class:`~boomnet.ws.protocol.Protocol` over a stream.

Reads go from the stream straight into the protocol's receive buffer, frames come back from the
protocol, and whatever the protocol wants sent is written to the stream; the close handshake,
deferred close/failure, pongs and liveness are all decided in ``protocol.py``. The client
(:class:`~boomnet.ws.WebSocket`, client.py) and the server (:class:`~boomnet.ws.ServerWebSocket`,
server.py) differ only in their opening handshake.

Hot path: :meth:`Driver.read_batch` inlines ``Protocol.receive`` (one read, one decode, the
control/violation branch only when the decoder flags one) and never reads the clock; liveness
runs from :meth:`check_liveness` (an endpoint timer) or, for blocking scripts, from
:meth:`wait_io` and every 256th empty read.

**Zero-copy contract.** ``read_batch()`` returns a reused list of pooled :class:`Frame` objects
whose ``payload`` views point into the receive buffer: all of it is valid only until the next
``read_batch()``. Copy (``frame.bytes()``, ``frame.text()``, ``orjson.loads(frame.payload)``)
what must live longer. ``WsOptions(debug_views=True)`` / ``BOOMNET_DEBUG_VIEWS=1`` releases
every handed-out payload at the next read so a held one raises ``ValueError``.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable

from ..errors import ConnectionClosed
from ..stream.base import Stream
from .frame import CLOSED, CLOSING, OPEN, STATE_NAMES, CloseCode, Frame
from .options import WsOptions
from .protocol import Protocol
from .sender import Sender

__all__ = ["Driver"]

log = logging.getLogger("boomnet.ws")

_NO_FRAMES: list[Frame] = []  # returned when a read found nothing; callers must not mutate it
_EMPTY_READS_PER_CHECK = 256  # blocking/busy scripts: liveness checked every this many empty reads


class Driver(Sender):
    """Common I/O driver; see the module docstring. Subclasses implement :meth:`establish`."""

    url: str = ""

    def __init__(self, stream: Stream, protocol: Protocol, clock: Callable[[], float]) -> None:
        self._stream = stream
        self._recv_into = stream.recv_into  # bound once: read_batch is the hot path
        self._proto = protocol
        self._dec = protocol.decoder
        self._clock = clock
        self._fresh = False  # frames arrived with the handshake and are not decoded yet
        self._write_error: ConnectionClosed | None = None
        #: False when an endpoint timer calls check_liveness (then reads never look at the clock)
        self.liveness_on_read = True
        self._reads_to_check = _EMPTY_READS_PER_CHECK
        self._handed: list[Frame] = []
        self._released = False  # the stream was flushed and closed after the protocol finished
        if protocol.options.debug_views:
            # an instance attribute shadows the method: the normal path pays nothing for the option
            setattr(self, "read_batch", self._read_batch_debug)  # noqa: B010

    # --- state -----------------------------------------------------------------------------------

    @property
    def stream(self) -> Stream:
        return self._stream

    @property
    def protocol(self) -> Protocol:
        """The sans-I/O connection state this driver runs."""
        return self._proto

    @property
    def options(self) -> WsOptions:
        return self._proto.options

    @property
    def open(self) -> bool:
        """True after the handshake and until a close frame is sent or received."""
        return self._proto.state == OPEN

    @property
    def closed(self) -> bool:
        """True once the close handshake is done, the connection failed, or the stream ended."""
        return self._proto.state == CLOSED

    @property
    def close_code(self) -> int | None:
        """The peer's close code (1005 if its close had none; 1006 if the connection just ended)."""
        return self._proto.close_code

    @property
    def close_reason(self) -> str:
        return self._proto.close_reason

    @property
    def auto_pong(self) -> bool:
        return self._proto.auto_pong

    @auto_pong.setter
    def auto_pong(self, value: bool) -> None:
        self._proto.auto_pong = value

    @property
    def pending(self) -> int:
        """Outbound bytes not yet taken by the transport."""
        return self._stream.pending

    def fileno(self) -> int:
        return self._stream.fileno()

    def read_hint(self) -> int:
        """Non-zero when this websocket must be polled again without new readiness: decodable
        bytes, a deferred close/failure, pending output, or closed with its reason unreported."""
        return self.buffered() or self._stream.pending or (1 if self._proto.state == CLOSED else 0)

    def buffered(self) -> int:
        """Inbound bytes that can be decoded without waiting for the descriptor (plus one while a
        deferred close/failure or our close's timeout awaits the next read: nothing will make
        the descriptor readable for them)."""
        proto = self._proto
        extra = self._dec.undecoded if self._fresh else 0
        if proto.deferred is not None or proto.state == CLOSING:
            extra += 1
        return self._stream.buffered() + extra

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url or self._proto.name} {STATE_NAMES[self._proto.state]}>"

    def establish(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _opened(self) -> None:
        """The handshake is done: bytes after its head are frames (decoded at the first read)."""
        self._fresh = self._dec.undecoded > 0
        self._proto.start(self._clock())

    def _abort(self) -> None:
        proto = self._proto
        proto.state = CLOSED
        proto.done = True
        self._stream.close()

    # --- reading (hot path) ------------------------------------------------------------------------

    def read_batch(self) -> list[Frame]:
        """Read what the stream has now and return every complete frame (possibly none).

        **The list, its frames and their payload views are reused: valid until the next call.**
        Copy what must outlive it (``frame.bytes()``); see the module docstring and
        ``WsOptions(debug_views=True)``. Raises :class:`WebSocketClosed` after the close
        handshake, the stream's :class:`ConnectionClosed` if it ended without one, and the
        :class:`WebSocketProtocolError` that failed the connection on the call after the frames
        that preceded the violation were returned. A CLOSE frame or a violation that arrives in
        the same batch as data frames takes effect on the *next* call, so the application can
        still answer the frames before it; alone in its batch it takes effect at once. Used
        without an endpoint timer (``liveness_on_read``), every 256th empty read also checks
        liveness, so this may raise :class:`~boomnet.errors.PeerTimeout`.
        """
        proto = self._proto
        if proto.state != OPEN or proto.deferred is not None:
            return self._read_not_open()
        stream = self._stream
        if stream.pending:
            self._flush_keep_reading()
        dec = self._dec
        if self._fresh:
            # Frames that came with the handshake response: decode them before touching the
            # stream, so an EOF right behind them cannot hide them.
            self._fresh = False
            return self._decoded(dec.decode())
        try:
            n = self._recv_into(dec.write_view())
        except ConnectionClosed as exc:
            self._lost(exc)
            raise
        if not n:
            if self._write_error is not None:
                self._lost(self._write_error)
                raise self._write_error
            if self.liveness_on_read:
                self._reads_to_check -= 1
                if self._reads_to_check <= 0:
                    self._reads_to_check = _EMPTY_READS_PER_CHECK
                    self.check_liveness(self._clock())
            return _NO_FRAMES
        dec.commit(n)
        # Protocol.receive, inlined: the control/violation branch only when the decoder flags one
        frames = dec.decode()
        if dec.control or dec.error is not None:
            self._after_batch(frames)
        return frames

    def _decoded(self, frames: list[Frame]) -> list[Frame]:
        dec = self._dec
        if dec.control or dec.error is not None:
            self._after_batch(frames)
        return frames

    def _read_not_open(self) -> list[Frame]:
        proto = self._proto
        if proto.deferred is not None:
            try:
                proto.run_deferred()
            finally:
                self._sync()
        if proto.state == CLOSING:
            if proto.close_expired(self._clock()):
                self._sync()
                return _NO_FRAMES
            stream = self._stream
            if stream.pending:
                self._flush_keep_reading()
            dec = self._dec
            try:
                n = self._recv_into(dec.write_view())
            except ConnectionClosed as exc:
                self._lost(exc)
                raise
            if not n:
                return _NO_FRAMES
            dec.commit(n)
            return self._decoded(dec.decode())
        proto.raise_not_open()

    def _flush_keep_reading(self) -> None:
        try:
            if self._stream.flush() and self._proto.owes_pongs:
                self._sync()  # the transport moved again: answer the latest ping held back
        except ConnectionClosed as exc:
            # Keep reading: bytes already in the kernel are still owed to the application.
            self._write_error = exc

    def _after_batch(self, frames: list[Frame]) -> None:
        try:
            self._proto.after_batch(frames)
        finally:
            self._sync()
        if self._write_error is not None and not frames:
            self._lost(self._write_error)
            raise self._write_error

    def _sync(self) -> None:
        """Write what the protocol produced (pongs first: they answer pings that came before any
        close), then drop the transport once the protocol is done with it."""
        proto = self._proto
        stream = self._stream
        try:
            if proto.owes_pongs:
                # One pong at a time while the transport takes them; once it is backed up only
                # the latest ping stays owed (answered at a later batch): the queue stays bounded.
                while proto.owes_pongs and not stream.pending:
                    stream.write(proto.next_pong())
                if proto.owes_pongs:
                    proto.keep_latest_pong()
            out = proto.outgoing
            if out:
                for data in out:
                    stream.write(data)
                out.clear()
        except ConnectionClosed as exc:
            # A write of our own (pong, close echo) must not cost the current batch.
            proto.outgoing.clear()
            self._write_error = exc
            if proto.state == CLOSING:
                proto.connection_lost(exc)
        if proto.done and not self._released:
            self._released = True
            try:
                stream.flush()
            except ConnectionClosed:
                pass
            stream.close()

    def _lost(self, exc: ConnectionClosed) -> None:
        self._proto.connection_lost(exc)
        self._stream.close()

    # --- debug views ---------------------------------------------------------------------------

    def _read_batch_debug(self) -> list[Frame]:
        """read_batch with the zero-copy contract enforced: the previous batch's payloads are
        released (a held view raises ``ValueError``) and frames are never reused (a fresh list,
        fresh Frame objects, fresh views: the C scan cannot re-aim a released view)."""
        for frame in self._handed:
            try:
                frame.payload.release()
            except BufferError:
                log.warning("debug_views: a payload of the previous batch is still exported (%r); not released", frame)
        self._dec._pool.clear()
        self._handed = []
        frames = list(Driver.read_batch(self))
        self._handed = frames
        return frames

    # --- closing and time ------------------------------------------------------------------------

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake; keep calling :meth:`read_batch` until :attr:`closed`. If the
        peer's close arrived already (held back behind data), this completes *its* handshake.

        Before the connection is open, or after it closed, this just releases the stream.
        """
        proto = self._proto
        if proto.state < OPEN:
            self._abort()
            return
        proto.close(self._clock(), code, reason)
        self._sync()
        if proto.state == CLOSING:
            try:
                self._stream.flush()
            except ConnectionClosed as exc:
                self._lost(exc)

    def flush(self) -> bool:
        """Retry pending outbound bytes; ``True`` once none are pending."""
        return self._stream.flush()

    def check_liveness(self, now: float) -> None:
        """Send the liveness ping when due; raise :class:`~boomnet.errors.PeerTimeout` (and close
        the stream) when the pong is overdue or the peer was silent for ``idle_timeout``; in
        CLOSING, end the wait for the peer's close answer after ``close_timeout``.
        ``WebsocketEndpoint`` calls this from a timer; blocking scripts get it from
        :meth:`wait_io` and from empty reads."""
        proto = self._proto
        if proto.state < OPEN:
            return
        try:
            proto.check_liveness(now)
        finally:
            self._sync()

    def deadline(self) -> float | None:
        """When :meth:`check_liveness` must next run (``None``: nothing is timed)."""
        return self._proto.deadline()

    # --- blocking helper for scripts and tests ---------------------------------------------------

    def wait_io(self, timeout: float) -> bool:
        """Block up to ``timeout`` s until :meth:`read_batch` may find data, or pending output can
        move; checks liveness first and never sleeps past the protocol's next deadline. The one
        blocking wait of ``boomnet.ws`` (``connect()``, tests and tools use it); an IOService loop
        never blocks."""
        now = self._clock()
        if self._proto.state >= OPEN:
            self.check_liveness(now)
        if self.buffered():
            return True
        fd = self.fileno()
        if fd < 0:
            return True
        deadline = self._proto.deadline()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - now))
        readable, writable, _ = select.select([fd], [fd] if self.pending else [], [], timeout)
        return bool(readable or writable)
