"""The server side of RPC: handlers for unary and streaming calls, cancellation, backpressure.

Sans-I/O like the client: an :class:`RpcSession` per connection is given the connection's
``send(bytes)`` (which raises :class:`~boomnet.errors.SendBufferFull` when the peer does not read)
and fed every REQUEST/CANCEL envelope.

* A **unary** handler ``fn(request) -> bytes | None`` answers by returning the payload, or
  returns ``None`` and answers later with ``request.reply(payload)`` / ``request.fail(message)``
  (e.g. after its own I/O on the same loop).
* A **streaming** handler ``fn(request) -> Iterator[bytes]`` yields items; the session pulls
  them in :meth:`RpcSession.pump` (called every poll) only while the connection takes them, so
  a slow reader stalls its own streams, never the loop and never the memory. A CANCEL from the
  client closes the generator (its ``finally`` runs).
* A handler that raises answers the call with ERROR (the exception's text) and is logged; the
  connection stays up. An unknown method is answered with ERROR too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from typing import Union

from ..msg.codec import Buffer
from ..errors import InvalidState, RpcProtocolError, SendBufferFull
from .protocol import Control, Envelope, encode

__all__ = ["RpcSession", "Request", "Unary", "Streaming", "Handlers", "streaming"]

log = logging.getLogger("boomnet.rpc")


class Request:
    """One call being served. ``payload`` is ``bytes`` (copied: handlers may keep it)."""

    __slots__ = ("id", "method", "payload", "_session", "answered")

    def __init__(self, call_id: int, method: str, payload: bytes, session: RpcSession) -> None:
        self.id = call_id
        self.method = method
        self.payload = payload
        self._session = session
        self.answered = False

    def reply(self, payload: bytes | bytearray | memoryview = b"") -> None:
        if self.answered:
            raise InvalidState(f"call {self.id} already answered")
        self.answered = True
        self._session._unary_done(self, encode(self.id, Control.REPLY, payload))

    def fail(self, message: str) -> None:
        if self.answered:
            raise InvalidState(f"call {self.id} already answered")
        self.answered = True
        self._session._unary_done(self, encode(self.id, Control.ERROR, message.encode()))


Unary = Callable[[Request], Union[bytes, bytearray, memoryview, None]]
Streaming = Callable[[Request], Generator[bytes, None, None]]


class _StreamingHandler:
    __slots__ = ("fn",)

    def __init__(self, fn: Streaming) -> None:
        self.fn = fn


def streaming(fn: Streaming) -> _StreamingHandler:
    """Mark ``fn`` as a streaming handler: ``handlers={"ticks": streaming(gen_fn)}``."""
    return _StreamingHandler(fn)


Handlers = Mapping[str, Union[Unary, _StreamingHandler]]


class RpcSession:
    """Serves the calls of one connection."""

    def __init__(self, handlers: Handlers, send: Callable[[Buffer], object], *,
                 flush: Callable[[], object] | None = None, name: str = "rpc") -> None:
        self.handlers = handlers
        self.send = send
        #: called after replies made outside the connection's own poll (deferred replies, pump)
        self.flush = flush
        self.name = name
        self._streams: dict[int, Generator[bytes, None, None]] = {}
        self._blocked: dict[int, bytes] = {}  # an item (or reply) the connection refused, per call
        self._open_unary: set[int] = set()
        self.served = 0
        self.cancelled = 0
        self.errors = 0
        self.unknown_cancels = 0

    def on_envelope(self, env: Envelope) -> None:
        if env.control == Control.REQUEST:
            self._request(env)
        elif env.control == Control.CANCEL:
            gen = self._streams.pop(env.id, None)
            self._blocked.pop(env.id, None)
            if gen is not None:
                self.cancelled += 1
                gen.close()  # runs the handler's finally
            elif env.id in self._open_unary:
                self._open_unary.discard(env.id)
                self.cancelled += 1  # its late reply will be dropped by the client
            else:
                self.unknown_cancels += 1
        else:
            raise RpcProtocolError(f"a client sent a {Control(env.control).name} envelope")

    def _request(self, env: Envelope) -> None:
        handler = self.handlers.get(env.method)
        req = Request(env.id, env.method, bytes(env.payload), self)
        if handler is None:
            self._send(env.id, encode(env.id, Control.ERROR, f"no such method {env.method!r}".encode()))
            return
        try:
            if isinstance(handler, _StreamingHandler):
                self._streams[env.id] = handler.fn(req)
                self._pump_one(env.id)
                return
            result = handler(req)
        except Exception as exc:
            self._error(req, exc)
            return
        if result is not None:
            req.answered = True
            self._send(env.id, encode(env.id, Control.REPLY, result))
            self.served += 1
        elif not req.answered:
            self._open_unary.add(env.id)

    def _unary_done(self, req: Request, data: bytes) -> None:
        self._open_unary.discard(req.id)
        self.served += 1
        if self._send(req.id, data) and self.flush is not None:
            self.flush()

    def _error(self, req: Request, exc: Exception) -> None:
        self.errors += 1
        log.warning("%s: handler for %s raised %s: %s", self.name, req.method, type(exc).__name__, exc)
        self._streams.pop(req.id, None)
        self._send(req.id, encode(req.id, Control.ERROR, f"{type(exc).__name__}: {exc}".encode()))

    def _send(self, call_id: int, data: bytes) -> bool:
        try:
            self.send(data)
            return True
        except SendBufferFull:
            self._blocked[call_id] = data
            return False

    def pump(self) -> None:
        """Retry refused replies and advance streams while the connection takes their items."""
        try:
            for call_id, data in list(self._blocked.items()):
                try:
                    self.send(data)
                except SendBufferFull:
                    return
                del self._blocked[call_id]
            for call_id in list(self._streams):
                if not self._pump_one(call_id):
                    return  # the connection is full: the rest wait for the next poll
        finally:
            if self.flush is not None:
                self.flush()

    def _pump_one(self, call_id: int, batch: int = 64) -> bool:
        """Send up to ``batch`` items of one stream; ``False`` when the connection refused one."""
        gen = self._streams.get(call_id)
        if gen is None or call_id in self._blocked:
            return call_id not in self._blocked
        for _ in range(batch):
            try:
                item = next(gen)
            except StopIteration:
                del self._streams[call_id]
                self.served += 1
                return self._send(call_id, encode(call_id, Control.END))
            except Exception as exc:
                self._error(Request(call_id, "stream", b"", self), exc)
                return True
            if not self._send(call_id, encode(call_id, Control.ITEM, item)):
                return False
        return True

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    @property
    def blocked(self) -> int:
        """Replies the connection refused (SendBufferFull), waiting for :meth:`pump`."""
        return len(self._blocked)

    def close(self) -> None:
        """The connection ended: stop every stream (their ``finally`` blocks run)."""
        for gen in self._streams.values():
            gen.close()
        self._streams.clear()
        self._blocked.clear()
        self._open_unary.clear()
