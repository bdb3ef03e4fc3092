"""The client side of RPC as data: ids, completions, deadlines, cancellation, streams.

Sans-I/O: the :class:`RpcClient` is given a ``send(bytes)`` function (the connection's sender)
and fed every envelope that arrives (:meth:`RpcClient.on_envelope`). A :class:`Call` is the
completion of one call: poll ``call.done``, pass a ``callback`` (called once, on the loop
thread, with the call), or wait with a driver's blocking helper.

* Many calls in flight, answered in any order; ids are u64, increasing, never reused within a
  client.
* A deadline per call, checked by :meth:`RpcClient.expire` (the endpoint calls it from a
  timer): the call fails with :class:`~boomnet.errors.DeadlineExceeded` and the peer is told
  (CANCEL). A reply that comes later is dropped and counted (``late``), never handed to anyone.
* :meth:`RpcClient.cancel` fails the call with :class:`~boomnet.errors.CallCancelled` and tells the
  peer; replies after it are counted (``after_cancel``).
* Streams: ITEMs until END. With a callback every item is delivered as it comes; without one
  items wait in ``call.items``, at most ``max_stream_buffer`` — a consumer that falls further
  behind gets its call cancelled with :class:`~boomnet.errors.LimitExceeded` rather than memory
  growing without bound.
* :meth:`RpcClient.fail_all` (on disconnect) fails every pending call at once with
  :class:`~boomnet.errors.CallLost`; ``error.maybe_executed`` is ``True`` for calls handed to
  the connection (the server may have run them) and ``False`` for calls never sent.
* Unknown ids, duplicate final replies and replies after a cancel are counted and logged at
  DEBUG; they never raise.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import CallCancelled, CallFailed, CallLost, DeadlineExceeded, LimitExceeded, LocalError
from .protocol import Control, Envelope, encode

__all__ = ["Call", "CallState", "RpcClient", "RpcError"]

log = logging.getLogger("boomnet.rpc")


class RpcError(CallFailed):
    """The server answered the call with an ERROR envelope (its message is ``str(error)``)."""


class CallState(enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Call:
    """One call. ``result`` (unary: the reply payload as bytes) or ``error`` once done;
    for streams ``items`` (bytes) and ``ended``."""

    __slots__ = ("id", "method", "deadline", "state", "result", "error", "callback", "on_item", "items", "ended",
                 "sent", "streaming", "started")

    def __init__(self, call_id: int, method: str, deadline: float | None, callback: Callable[[Call], object] | None,
                 on_item: Callable[[Call, bytes], object] | None, streaming: bool, started: float) -> None:
        self.id = call_id
        self.method = method
        self.deadline = deadline
        self.state = CallState.PENDING
        self.result: Any = None  # bytes (binary RPC) or the decoded reply (JSON correlation)
        self.error: BaseException | None = None
        self.callback = callback
        self.on_item = on_item
        self.items: deque[bytes] = deque()
        self.ended = False
        self.sent = False
        self.streaming = streaming
        self.started = started

    @property
    def done(self) -> bool:
        return self.state is not CallState.PENDING

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.method} {self.state.value}>"


class RpcClient:
    """Correlation state for one connection's calls (see the module doc)."""

    def __init__(self, send: Callable[[bytes], object] | None = None, *, clock: Callable[[], float] = time.monotonic,
                 max_stream_buffer: int = 10_000, max_in_flight: int = 100_000) -> None:
        if max_stream_buffer < 1 or max_in_flight < 1:
            raise LocalError("RpcClient limits must be positive")
        self.send = send
        self._clock = clock
        self.max_stream_buffer = max_stream_buffer
        self.max_in_flight = max_in_flight
        self._next_id = 1
        self._calls: dict[int, Call] = {}
        self._unsent: deque[Call] = deque()  # made while there was no connection
        self._closed_ids: dict[int, str] = {}  # recently finished ids -> why (to classify stragglers)
        self.late = 0
        self.after_cancel = 0
        self.unknown = 0
        self.duplicates = 0
        self.completed = 0

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    # --- making calls -----------------------------------------------------------------------

    def call(self, method: str, payload: bytes | bytearray | memoryview = b"", *, timeout: float | None = None,
             callback: Callable[[Call], object] | None = None) -> Call:
        """Start a unary call; ``timeout`` seconds from now is its deadline."""
        return self._start(method, payload, timeout, callback, None, streaming=False)

    def stream(self, method: str, payload: bytes | bytearray | memoryview = b"", *, timeout: float | None = None,
               on_item: Callable[[Call, bytes], object] | None = None,
               callback: Callable[[Call], object] | None = None) -> Call:
        """Start a streaming call: ITEMs go to ``on_item`` (or ``call.items``), END completes it."""
        return self._start(method, payload, timeout, callback, on_item, streaming=True)

    def _start(self, method: str, payload: Any, timeout: float | None,
               callback: Callable[[Call], object] | None, on_item: Callable[[Call, bytes], object] | None,
               *, streaming: bool) -> Call:
        if len(self._calls) + len(self._unsent) >= self.max_in_flight:
            raise LimitExceeded(f"{self.max_in_flight} RPC calls already in flight")
        now = self._clock()
        call_id = self._next_id
        self._next_id += 1
        call = Call(call_id, method, None if timeout is None else now + timeout, callback, on_item, streaming, now)
        data = self._encode_request(call_id, method, payload)
        self._calls[call_id] = call
        if self.send is None:
            self._unsent.append(call)
            call.result = data  # the encoded request waits here until a connection exists
        else:
            self.send(data)
            call.sent = True
        return call

    def connected(self, send: Callable[[bytes], object]) -> None:
        """A connection is up: send the calls made while there was none, in order."""
        self.send = send
        while self._unsent:
            call = self._unsent.popleft()
            if call.done or call.result is None:
                continue
            data, call.result = call.result, None
            send(data)
            call.sent = True

    def cancel(self, call: Call, reason: str = "cancelled by the caller") -> None:
        """Fail ``call`` with CallCancelled now and tell the peer (a no-op once it is done)."""
        if call.done:
            return
        self._finish(call, error=CallCancelled(f"{call.method} #{call.id}: {reason}"), why="cancelled")
        if call.sent and self.send is not None:
            self._send_cancel(call.id)

    def _encode_request(self, call_id: int, method: str, payload: Any) -> bytes:
        return encode(call_id, Control.REQUEST, payload, method.encode())

    def _send_cancel(self, call_id: int) -> None:
        assert self.send is not None
        self.send(encode(call_id, Control.CANCEL))

    # --- what arrives -----------------------------------------------------------------------

    def _straggler(self, call_id: int) -> None:
        why = self._closed_ids.get(call_id)
        if why == "expired":
            self.late += 1
        elif why == "cancelled":
            self.after_cancel += 1
        elif why == "done":
            self.duplicates += 1
        else:
            self.unknown += 1
        log.debug("RPC reply for %s call %d dropped", why or "unknown", call_id)

    def resolve(self, call_id: int, result: Any = None, error: BaseException | None = None) -> Call | None:
        """Complete call ``call_id`` with ``result`` (or fail it with ``error``) — for callers
        that decode replies themselves. Returns the call, or ``None`` for an id that is not in
        flight (counted as late / after-cancel / duplicate / unknown, like any straggler)."""
        call = self._calls.get(call_id)
        if call is None:
            self._straggler(call_id)
            return None
        if error is not None:
            self._finish(call, error=error, why="done")
        else:
            call.result = result
            self._finish(call, why="done")
        return call

    def on_envelope(self, env: Envelope) -> None:
        call = self._calls.get(env.id)
        if call is None:
            self._straggler(env.id)
            return
        control = env.control
        if control == Control.REPLY and not call.streaming:
            call.result = bytes(env.payload)
            self._finish(call, why="done")
        elif control == Control.ITEM and call.streaming:
            self._item(call, bytes(env.payload))
        elif control == Control.END and call.streaming:
            if env.payload:
                self._item(call, bytes(env.payload))
            if not call.done:
                call.ended = True
                self._finish(call, why="done")
        elif control == Control.ERROR:
            self._finish(call, error=RpcError(f"{call.method}: {bytes(env.payload).decode('utf-8', 'replace')}"),
                         why="done")
        else:
            self._finish(call, error=CallFailed(f"{call.method}: unexpected {Control(control).name} reply"),
                         why="done")

    def _item(self, call: Call, item: bytes) -> None:
        if call.on_item is not None:
            call.on_item(call, item)
            return
        if len(call.items) >= self.max_stream_buffer:
            self.cancel(call, f"more than {self.max_stream_buffer} unread stream items")
            call.error = LimitExceeded(f"{call.method} #{call.id}: stream consumer fell "
                                       f"{self.max_stream_buffer} items behind; cancelled")
            return
        call.items.append(item)

    def _finish(self, call: Call, *, error: BaseException | None = None, why: str) -> None:
        if call.done:
            return
        call.state = CallState.FAILED if error is not None else CallState.DONE
        call.error = error
        self._calls.pop(call.id, None)
        if len(self._closed_ids) > 65536:
            self._closed_ids.clear()  # bounded memory; a straggler older than this counts as unknown
        self._closed_ids[call.id] = why
        if error is None:
            self.completed += 1
        if call.callback is not None:
            call.callback(call)

    # --- time and connection loss -----------------------------------------------------------

    def expire(self, now: float | None = None) -> int:
        """Fail calls whose deadline passed (and tell the peer); returns how many."""
        now = self._clock() if now is None else now
        late = [c for c in self._calls.values() if c.deadline is not None and now > c.deadline]
        for call in late:
            self._finish(call, error=DeadlineExceeded(f"{call.method} #{call.id}: no reply in time"), why="expired")
            if call.sent and self.send is not None:
                self._send_cancel(call.id)
        return len(late)

    def next_deadline(self) -> float | None:
        deadlines = [c.deadline for c in self._calls.values() if c.deadline is not None]
        return min(deadlines) if deadlines else None

    def fail_all(self, reason: BaseException | str) -> list[Call]:
        """The connection is gone: every pending call fails now (``maybe_executed`` says whether
        it had been handed to the connection). Returns them. Calls made later wait for
        :meth:`connected`."""
        self.send = None
        failed = list(self._calls.values())
        for call in failed:
            error = CallLost(f"{call.method} #{call.id}: connection lost ({reason})"
                             + (" after it was sent: it may have been executed" if call.sent else
                                " before it was sent: it was not executed"), maybe_executed=call.sent)
            self._finish(call, error=error, why="failed")
        self._unsent.clear()
        return failed

    def stats(self) -> dict[str, Any]:
        return {"in_flight": len(self._calls), "completed": self.completed, "late": self.late,
                "after_cancel": self.after_cancel, "unknown": self.unknown, "duplicates": self.duplicates}
