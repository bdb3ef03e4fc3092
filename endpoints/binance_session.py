"""Subscription state of one Binance connection (sans-I/O).

:class:`Subscriptions` keeps the streams the user wants across reconnects, turns changes into
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests, and paces what it sends under Binance's
limit of 5 incoming messages per second per connection: at most ``requests_per_second`` (default
4, leaving room for a pong, which counts too) in any one-second window.

Request ids, the matching of ``{"result":..,"id":N}`` / ``{"code":..,"msg":..,"id":N}`` replies,
reply deadlines (``reply_timeout``: an unanswered request fails and is reported instead of
staying pending forever) and failing everything outstanding on a disconnect are boomnet's RPC
correlation (:class:`boomnet.rpc.JsonCorrelator`), not bookkeeping of this module's own. Any
other command of the market-stream API (``GET_PROPERTY``, ``SET_PROPERTY``) goes through
:meth:`Subscriptions.command` with the same pacing and correlation.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from boomnet.errors import DeadlineExceeded, LimitExceeded
from boomnet.rpc import Call, JsonCorrelator, RpcError

from .binance_records import CommandError, CommandResult

__all__ = ["Request", "Subscriptions", "SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "MAX_STREAMS"]

SUBSCRIBE = "SUBSCRIBE"
UNSUBSCRIBE = "UNSUBSCRIBE"
LIST_SUBSCRIPTIONS = "LIST_SUBSCRIPTIONS"
MAX_STREAMS = 1024  # streams per connection (Binance spot)

_STREAM_NAME = re.compile(r"[a-z0-9]+@[A-Za-z0-9@_]+|![A-Za-z0-9@_]+")


class Request(NamedTuple):
    """A request that was sent and is awaiting (or got) its reply."""

    id: int
    method: str
    params: tuple[str, ...]


class Subscriptions:
    """Wanted streams, paced outgoing requests and outstanding replies for one connection."""

    def __init__(
        self,
        streams: Iterable[str] = (),
        *,
        max_streams: int = MAX_STREAMS,
        requests_per_second: int = 4,
        reply_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if requests_per_second < 1:
            raise ValueError("requests_per_second must be at least 1")
        if not reply_timeout > 0:
            raise ValueError("reply_timeout must be positive")
        self._wanted: dict[str, None] = {}  # insertion-ordered set
        self._max_streams = max_streams
        self._clock = clock
        # send times of the last requests: at most `requests_per_second` in any 1-second window
        self._sent_at: deque[float] = deque(maxlen=int(requests_per_second))
        self._queue: deque[tuple[str, tuple[str, ...], Callable[[Call], object] | None]] = deque()
        self._connected = False
        self.reply_timeout = reply_timeout
        #: ids, reply matching, deadlines: boomnet's correlation, shared with the RPC layer
        self.rpc = JsonCorrelator(id_field="id", clock=clock)
        self._out: list[bytes] = []
        #: streams the server acknowledged on the current connection
        self.active: set[str] = set()
        #: sent requests whose reply has not arrived yet, by id
        self.pending: dict[int, Request] = {}
        #: requests that got no reply within ``reply_timeout`` (taken by the endpoint)
        self.timed_out: list[Request] = []
        #: the last LIST_SUBSCRIPTIONS result, if any
        self.listed: list[str] | None = None
        self._add(streams)

    # --- what the user wants ------------------------------------------------------------------

    @property
    def streams(self) -> tuple[str, ...]:
        """The wanted streams, in the order they were first asked for."""
        return tuple(self._wanted)

    def subscribe(self, streams: Iterable[str]) -> None:
        """Want ``streams`` from now on; a SUBSCRIBE goes out now if connected, else on connect."""
        added = self._add(streams)
        if added and self._connected:
            self._queue.append((SUBSCRIBE, added, None))

    def unsubscribe(self, streams: Iterable[str]) -> None:
        """Stop wanting ``streams``; an UNSUBSCRIBE goes out if connected."""
        removed = tuple(s for s in dict.fromkeys(streams) if s in self._wanted)
        for s in removed:
            del self._wanted[s]
        if removed and self._connected:
            self._queue.append((UNSUBSCRIBE, removed, None))

    def list_subscriptions(self) -> None:
        """Ask the server what it has us subscribed to (result lands in :attr:`listed`)."""
        self._queue.append((LIST_SUBSCRIPTIONS, (), None))

    def command(self, method: str, params: Iterable[str] = (), callback: Callable[[Call], object] | None = None) -> None:
        """Queue any other command (e.g. ``GET_PROPERTY ["combined"]``): paced like the rest;
        ``callback(call)`` gets the completed :class:`~boomnet.rpc.Call` (``call.result`` is the
        reply record, ``call.error`` set for an error reply or a timeout)."""
        self._queue.append((method, tuple(params), callback))

    def _add(self, streams: Iterable[str]) -> tuple[str, ...]:
        added = tuple(s for s in dict.fromkeys(streams) if s not in self._wanted)
        for s in added:
            if not _STREAM_NAME.fullmatch(s):
                raise ValueError(f"not a Binance stream name: {s!r} (expected e.g. 'btcusdt@trade')")
        if len(self._wanted) + len(added) > self._max_streams:
            raise LimitExceeded(f"{len(self._wanted) + len(added)} streams > {self._max_streams} per connection")
        for s in added:
            self._wanted[s] = None
        return added

    # --- connection lifecycle -----------------------------------------------------------------

    def on_connected(self, subscribed_by_url: Iterable[str] = ()) -> None:
        """A new connection is open. Streams already carried by its URL count as active; the rest
        of the wanted set is (re)subscribed. Queued SUB/UNSUB are superseded; LIST requests stay."""
        self._connected = True
        self.active = set(subscribed_by_url)
        self.pending.clear()
        self.rpc.connected(self._out.append)
        keep = [item for item in self._queue if item[0] not in (SUBSCRIBE, UNSUBSCRIBE)]  # LIST, commands
        self._queue.clear()
        missing = tuple(s for s in self._wanted if s not in self.active)
        if missing:
            self._queue.append((SUBSCRIBE, missing, None))
        self._queue.extend(keep)

    def on_disconnected(self) -> None:
        """The connection is gone: nothing is active, outstanding requests will never be answered."""
        self._connected = False
        self.active.clear()
        self.pending.clear()
        self.rpc.fail_all("disconnected")  # outstanding requests will never be answered

    # --- wire ---------------------------------------------------------------------------------

    @property
    def has_outgoing(self) -> bool:
        return bool(self._queue)

    def take_outgoing(self) -> list[bytes]:
        """Requests allowed out now, encoded, with fresh increasing ids (each becomes pending)."""
        if not self._queue or not self._connected:
            return []
        now = self._clock()
        sent_at = self._sent_at
        out = []
        # A sliding window, not a token bucket: a bucket would allow its burst plus its rate
        # within one second, and Binance counts per second.
        limit = sent_at.maxlen or 1
        while self._queue and (len(sent_at) < limit or now - sent_at[0] >= 1.0):
            method, params, callback = self._queue.popleft()
            sent_at.append(now)
            call = self.rpc.call_json(method, {"params": list(params)} if method != LIST_SUBSCRIPTIONS else None,
                                 timeout=self.reply_timeout, callback=self._ended(callback))
            self.pending[call.id] = Request(call.id, method, params)
        out, self._out[:] = list(self._out), []
        return out

    def _ended(self, callback: Callable[[Call], object] | None) -> Callable[[Call], object]:
        def ended(call: Call) -> None:
            request = self.pending.pop(call.id, None)
            if request is not None and isinstance(call.error, DeadlineExceeded):
                self.timed_out.append(request)  # no reply in time (not an error reply, not a disconnect)
            if callback is not None:
                callback(call)
        return ended

    def expire(self) -> list[Request]:
        """Fail requests past ``reply_timeout``; returns them (also appended to ``timed_out``)."""
        before = len(self.timed_out)
        self.rpc.expire()
        return self.timed_out[before:]

    def on_reply(self, reply: CommandResult | CommandError) -> Request | None:
        """Match a reply to its outstanding request and apply it; ``None`` if no request matches
        (an id we never sent, one already answered, or an error reply without id). A refused
        SUBSCRIBE's streams are no longer wanted."""
        request = self.pending.get(reply.id) if reply.id is not None else None
        if reply.id is not None:
            # the correlator completes the call (error replies fail it) and counts stragglers;
            # its callback takes the request out of ``pending``
            if type(reply) is CommandError:
                self.rpc.resolve(reply.id, error=RpcError(f"{reply.code}: {reply.msg}"))
            else:
                self.rpc.resolve(reply.id, result=reply)
        if request is not None and type(reply) is CommandError and request.method == SUBSCRIBE:
            # Refused streams stop being wanted: resubscribing them on every reconnect would only
            # get the whole SUBSCRIBE refused again. The caller hears about it and may re-add.
            for stream in request.params:
                if stream not in self.active:
                    self._wanted.pop(stream, None)
        elif request is not None and type(reply) is CommandResult:
            if request.method == SUBSCRIBE:
                self.active.update(request.params)
            elif request.method == UNSUBSCRIBE:
                self.active.difference_update(request.params)
            elif request.method == LIST_SUBSCRIPTIONS and not isinstance(reply.result, bool):
                self.listed = list(reply.result or ())
        return request
