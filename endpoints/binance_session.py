"""Subscription state of one Binance connection (sans-I/O).

:class:`Subscriptions` keeps the streams the user wants across reconnects, turns changes into
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests with increasing ids, tracks the requests
still waiting for their ``{"result":..,"id":N}`` reply, and paces what it sends under Binance's
limit of 5 incoming messages per second per connection: at most ``requests_per_second`` (default
4, leaving room for a pong, which counts too) in any one-second window.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from boomnet.errors import LimitExceeded

from .binance_codec import encode_request
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
        clock: Callable[[], float] = time.monotonic,
    ):
        if requests_per_second < 1:
            raise ValueError("requests_per_second must be at least 1")
        self._wanted: dict[str, None] = {}  # insertion-ordered set
        self._max_streams = max_streams
        self._clock = clock
        # send times of the last requests: at most `requests_per_second` in any 1-second window
        self._sent_at: deque[float] = deque(maxlen=int(requests_per_second))
        self._queue: deque[tuple[str, tuple[str, ...]]] = deque()
        self._next_id = 1
        self._connected = False
        #: streams the server acknowledged on the current connection
        self.active: set[str] = set()
        #: sent requests whose reply has not arrived yet, by id
        self.pending: dict[int, Request] = {}
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
            self._queue.append((SUBSCRIBE, added))

    def unsubscribe(self, streams: Iterable[str]) -> None:
        """Stop wanting ``streams``; an UNSUBSCRIBE goes out if connected."""
        removed = tuple(s for s in dict.fromkeys(streams) if s in self._wanted)
        for s in removed:
            del self._wanted[s]
        if removed and self._connected:
            self._queue.append((UNSUBSCRIBE, removed))

    def list_subscriptions(self) -> None:
        """Ask the server what it has us subscribed to (result lands in :attr:`listed`)."""
        self._queue.append((LIST_SUBSCRIPTIONS, ()))

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
        lists = [item for item in self._queue if item[0] == LIST_SUBSCRIPTIONS]
        self._queue.clear()
        missing = tuple(s for s in self._wanted if s not in self.active)
        if missing:
            self._queue.append((SUBSCRIBE, missing))
        self._queue.extend(lists)

    def on_disconnected(self) -> None:
        """The connection is gone: nothing is active, outstanding requests will never be answered."""
        self._connected = False
        self.active.clear()
        self.pending.clear()

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
            method, params = self._queue.popleft()
            request = Request(self._next_id, method, params)
            self._next_id += 1
            sent_at.append(now)
            self.pending[request.id] = request
            out.append(encode_request(method, request.id, params if method != LIST_SUBSCRIPTIONS else None))
        return out

    def on_reply(self, reply: CommandResult | CommandError) -> Request | None:
        """Match a reply to its outstanding request and apply it; ``None`` if no request matches
        (an id we never sent, one already answered, or an error reply without id). A refused
        SUBSCRIBE's streams are no longer wanted."""
        request = self.pending.pop(reply.id, None) if reply.id is not None else None
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
            else:
                self.listed = list(reply.result or ())
        return request
