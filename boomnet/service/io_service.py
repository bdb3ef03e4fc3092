"""The busy-poll IOService: owns endpoints' connections, never blocks.

Hot path (``poll`` with nothing pending): one ``selector.select()``, one ``endpoint.poll(target,
ctx)`` per ready endpoint, and a countdown that consults the clock every ``check_every`` polls to
see whether a timer, TTL or reconnect is due. Everything else — DNS (off-thread, with a timeout),
non-blocking connect, TLS and WebSocket handshakes (``target.establish()`` once per poll while
pending), disconnect handling, back-off — is *housekeeping*, run only while some connection is in
progress or something is due.

Error policy: an exception out of endpoint code never passes silently. A boomnet error (the peer
closed, a protocol violation, ...) disconnects the endpoint and is logged at WARNING; anything else
is treated as a bug in endpoint code (``DisconnectKind.USER_ERROR``), logged at ERROR with its
traceback and the endpoint's identity, and then either disconnects the endpoint like any other
failure (``on_error="reconnect"``, the default) or, after the same bookkeeping, is re-raised out of
:meth:`IOService.poll` (``on_error="raise"``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from typing import Any, Callable, Iterator

from ..errors import BoomnetError, ConnectionClosed, ConnectTimeout, DnsError
from .conn import (
    CONNECTED,
    ESTABLISHING,
    NULL_TARGET,
    REMOVED,
    RESOLVING,
    WAITING,
    Backoff,
    Handle,
    _Conn,
    _noop_poll,
)
from .endpoint import Disconnect, DisconnectKind, Endpoint, Timer
from .select import EpollSelector, Selector

__all__ = ["IOService"]

log = logging.getLogger("boomnet.service")

_RETRY, _EXPIRE, _TIMER = 0, 1, 2
_K = DisconnectKind


class IOService:
    """Owns registered :class:`Endpoint`\\ s and polls them through ``selector``.

    Options (also settable fluently with the ``with_*`` methods): ``clock`` (seconds, monotonic),
    ``resolver`` (``start(host, port, timeout=...)`` -> lookup with ``done()``/``result()``; default
    :class:`boomnet.stream.dns.AsyncResolver`), ``dns_timeout``, ``backoff``
    (:class:`Backoff`), ``connect_timeout`` (whole connect + handshakes, on top of the target's own
    deadlines), ``on_error`` (``"reconnect"`` or ``"raise"``, see the module doc) and
    ``check_every`` (polls between clock checks when nothing is in progress; 1 = every poll).
    """

    def __init__(
        self,
        selector: Selector | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        resolver: Any = None,
        dns_timeout: float = 5.0,
        backoff: Backoff = Backoff(),
        connect_timeout: float = 30.0,
        on_error: str = "reconnect",
        check_every: int = 16,
    ) -> None:
        self._selector = selector if selector is not None else EpollSelector()
        self._select = self._selector.select
        self._clock = clock
        self._resolver = resolver
        self._dns_timeout = dns_timeout
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self.with_error_policy(on_error)
        self.with_check_every(check_every)
        self._conns: dict[Handle, _Conn] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._heap: list[list[Any]] = []
        self._next_due = math.inf
        self._resolving: list[tuple[_Conn, int]] = []
        self._establishing: list[tuple[_Conn, int]] = []
        self._dead: list[tuple[_Conn, int, Disconnect]] = []
        self._to_raise: BaseException | None = None
        self._busy = False
        self._countdown = self._check_every

    # --- fluent configuration ---------------------------------------------------------------------

    def with_clock(self, clock: Callable[[], float]) -> "IOService":
        self._clock = clock
        return self

    def with_resolver(self, resolver: Any, *, timeout: float | None = None) -> "IOService":
        self._resolver = resolver
        if timeout is not None:
            self._dns_timeout = timeout
        return self

    def with_dns_timeout(self, seconds: float) -> "IOService":
        self._dns_timeout = seconds
        return self

    def with_backoff(self, initial: float = 1.0, factor: float = 2.0, cap: float = 30.0) -> "IOService":
        self._backoff = Backoff(initial, factor, cap)
        return self

    def with_connect_timeout(self, seconds: float) -> "IOService":
        self._connect_timeout = seconds
        return self

    def with_error_policy(self, on_error: str) -> "IOService":
        if on_error not in ("reconnect", "raise"):
            raise ValueError(f"on_error must be 'reconnect' or 'raise', not {on_error!r}")
        self._raise = on_error == "raise"
        return self

    def with_check_every(self, polls: int) -> "IOService":
        if polls < 1:
            raise ValueError("check_every must be >= 1")
        self._check_every = int(polls)
        self._countdown = 1
        return self

    # --- registration -----------------------------------------------------------------------------

    def register(self, endpoint: Endpoint) -> Handle:
        """Take ownership of ``endpoint``; it starts connecting on the next :meth:`poll`."""
        if endpoint._conn is not None:
            raise ValueError(f"{endpoint!r} is already registered")
        handle = Handle(next(self._ids))
        conn = _Conn(self, handle, endpoint)
        endpoint._conn = conn
        self._conns[handle] = conn
        self._schedule(self._clock(), conn, _RETRY)
        log.debug("registered %r", conn)
        return handle

    def deregister(self, handle: Handle) -> Endpoint:
        """Forget ``handle``: close its target now (no ``on_disconnect``); return the endpoint."""
        conn = self._conns.pop(handle)
        conn.state = REMOVED
        conn.gen += 1
        conn.poll = _noop_poll
        conn.endpoint._conn = None
        if conn.in_selector:
            # before closing: epoll needs the descriptor open, and an armed io_uring poll keeps
            # the socket alive until removed. Safe even while poll() iterates the ready list.
            self._selector.unregister(conn)
            conn.in_selector = False
        target, conn.target = conn.target, NULL_TARGET
        _close_quietly(target, conn)
        log.debug("deregistered %r", conn)
        return conn.endpoint

    def disconnect(self, handle: Handle) -> None:
        """Drop ``handle``'s connection (``REQUESTED``); the endpoint decides about reconnecting."""
        conn = self._conns[handle]
        if conn.state != WAITING:
            self._kill(conn, Disconnect(_K.REQUESTED))

    def __iter__(self) -> Iterator[tuple[Handle, Endpoint]]:
        """``(handle, endpoint)`` for every registration, connected or not."""
        return iter([(h, c.endpoint) for h, c in self._conns.items()])

    def endpoints(self) -> Iterator[tuple[Handle, Endpoint]]:
        return iter(self)

    def __len__(self) -> int:
        return len(self._conns)

    def __contains__(self, handle: object) -> bool:
        return handle in self._conns

    def get(self, handle: Handle) -> Endpoint:
        return self._conns[handle].endpoint

    def is_connected(self, handle: Handle) -> bool:
        return self._conns[handle].state == CONNECTED

    def target(self, handle: Handle) -> Any | None:
        """The connected target of ``handle``, or ``None`` while not connected."""
        conn = self._conns[handle]
        return conn.target if conn.state == CONNECTED else None

    @property
    def selector(self) -> Selector:
        return self._selector

    # --- the loop ---------------------------------------------------------------------------------

    def poll(self, ctx: Any = None) -> None:
        """Do whatever can be done now, without blocking: read ready endpoints, advance the rest."""
        for conn in self._select():
            try:
                conn.poll(conn.target, ctx)
            except Exception as exc:
                self._failed(conn, exc, defer_raise=False)
        if self._busy:
            self._housekeep(ctx)
            return
        n = self._countdown - 1
        if n:
            self._countdown = n
            return
        self._countdown = self._check_every
        if self._clock() >= self._next_due:
            self._housekeep(ctx)

    def _housekeep(self, ctx: Any) -> None:
        now = self._clock()
        self._bury(ctx, now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, conn, gen, action, arg = heapq.heappop(heap)
            if conn.gen != gen:
                continue  # stale: the connection it belonged to is gone
            if action == _RETRY:
                if conn.state == WAITING:
                    self._start(conn, ctx, now)
            elif conn.state != CONNECTED or conn.dying:
                continue
            elif action == _EXPIRE:
                log.info("%r: auto-disconnect after %.1fs", conn, now - conn.connected_at)
                self._kill(conn, Disconnect(_K.EXPIRED))
            elif not arg.cancelled:
                self._fire(conn, arg, ctx, now, due)
        if self._resolving:
            self._advance_resolving(ctx, now)
        if self._establishing:
            self._advance_establishing(ctx, now)
        self._bury(ctx, now)
        self._busy = bool(self._resolving or self._establishing or self._dead)
        self._next_due = heap[0][0] if heap else math.inf
        if self._to_raise is not None:
            exc, self._to_raise = self._to_raise, None
            raise exc

    def _schedule(self, due: float, conn: _Conn, action: int, arg: Any = None) -> None:
        heapq.heappush(self._heap, [due, next(self._seq), conn, conn.gen, action, arg])
        if due < self._next_due:
            self._next_due = due
            self._countdown = 1  # look at the clock on the next poll

    # --- connecting -------------------------------------------------------------------------------

    def _start(self, conn: _Conn, ctx: Any, now: float) -> None:
        ep = conn.endpoint
        conn.attempt += 1
        if ep._replay is not None:
            try:
                from ..stream import ReplayStream  # type: ignore[attr-defined]

                target = ep.create_replay_target(ReplayStream.from_file(*ep._replay), ctx)
            except Exception as exc:
                self._connect_failed(conn, exc, ctx, now)
                return
            self._begin(conn, target, now)
            return
        if ep.host is None:
            self._create(conn, None, ctx, now)
            return
        if self._resolver is None:
            from ..stream.dns import AsyncResolver

            self._resolver = AsyncResolver()
        try:
            conn.lookup = self._resolver.start(ep.host, ep.port, timeout=self._dns_timeout)
        except Exception as exc:
            self._connect_failed(conn, exc, ctx, now)
            return
        conn.state = RESOLVING
        conn.deadline = now + self._dns_timeout
        self._resolving.append((conn, conn.gen))
        self._busy = True

    def _advance_resolving(self, ctx: Any, now: float) -> None:
        waiting = self._resolving
        self._resolving = still = []
        for item in waiting:
            conn, gen = item
            if conn.gen != gen or conn.state != RESOLVING:
                continue
            lookup = conn.lookup
            if lookup.done():
                conn.lookup = None
                try:
                    addrs = lookup.result()
                except Exception as exc:
                    self._connect_failed(conn, exc, ctx, now)
                    continue
                self._create(conn, addrs, ctx, now)
            elif now >= conn.deadline:
                conn.lookup = None
                error = DnsError(f"resolving {conn.endpoint.host!r} timed out after {self._dns_timeout}s")
                self._connect_failed(conn, error, ctx, now)
            else:
                still.append(item)

    def _create(self, conn: _Conn, addrs: list | None, ctx: Any, now: float) -> None:
        addr = addrs[(conn.attempt - 1) % len(addrs)] if addrs else None  # rotate on retries
        try:
            target = conn.endpoint.create_target(addr, ctx)
        except Exception as exc:
            self._connect_failed(conn, exc, ctx, now)
            return
        if target is None:  # "not now": try again after the throttle, without growing back-off
            conn.state = WAITING
            self._schedule(now + self._backoff_of(conn).initial, conn, _RETRY)
            return
        self._begin(conn, target, now)

    def _begin(self, conn: _Conn, target: Any, now: float) -> None:
        conn.target = target
        conn.state = ESTABLISHING
        conn.deadline = now + self._connect_timeout
        self._establishing.append((conn, conn.gen))
        self._busy = True

    def _advance_establishing(self, ctx: Any, now: float) -> None:
        waiting = self._establishing
        self._establishing = still = []
        for item in waiting:
            conn, gen = item
            if conn.gen != gen or conn.state != ESTABLISHING:
                continue
            try:
                done = conn.target.establish()
            except Exception as exc:
                self._connect_failed(conn, exc, ctx, now)
                continue
            if done:
                self._connected(conn, ctx, now)
            elif now >= conn.deadline:
                error = ConnectTimeout(f"{conn.endpoint.describe()}: not established within {self._connect_timeout}s")
                self._connect_failed(conn, error, ctx, now)
            else:
                still.append(item)

    def _connected(self, conn: _Conn, ctx: Any, now: float) -> None:
        ep = conn.endpoint
        conn.state = CONNECTED
        conn.delay = 0.0
        conn.connected_at = now
        log.info("%r: connected", conn)
        try:
            ep.on_connected(conn.target, ctx)
        except Exception as exc:
            self._failed(conn, exc, defer_raise=True)
            return
        conn.poll = ep.poll
        self._selector.register(conn)
        conn.in_selector = True
        ttl = ep.auto_disconnect
        if callable(ttl):
            ttl = ttl()
        if ttl:
            self._schedule(now + ttl, conn, _EXPIRE)
        for timer in ep._timers:
            if not timer.cancelled:
                self._schedule(now + timer.interval, conn, _TIMER, timer)

    def _timer_added(self, conn: _Conn, timer: Timer) -> None:
        if conn.state == CONNECTED and conn.service is self:
            self._schedule(self._clock() + timer.interval, conn, _TIMER, timer)

    def _fire(self, conn: _Conn, timer: Timer, ctx: Any, now: float, due: float) -> None:
        try:
            timer.fn(conn.target, ctx)
        except Exception as exc:
            self._failed(conn, exc, defer_raise=True)
            return
        nxt = due + timer.interval
        self._schedule(nxt if nxt > now else now + timer.interval, conn, _TIMER, timer)

    # --- failing ----------------------------------------------------------------------------------

    def _failed(self, conn: _Conn, exc: Exception, *, defer_raise: bool) -> None:
        """An exception out of an open connection (endpoint poll, on_connected, a timer)."""
        if isinstance(exc, ConnectionClosed):
            kind = _K.CLOSED
            log.warning("%r: %s", conn, exc)
        elif isinstance(exc, (BoomnetError, OSError)):
            kind = _K.ERROR
            log.warning("%r: %s: %s", conn, type(exc).__name__, exc)
        else:
            kind = _K.USER_ERROR
            log.error("%r: endpoint code raised %s", conn, type(exc).__name__, exc_info=exc)
        self._kill(conn, Disconnect(kind, exc))
        if kind is _K.USER_ERROR and self._raise:
            if defer_raise:
                self._to_raise = self._to_raise or exc
            else:
                raise exc

    def _connect_failed(self, conn: _Conn, exc: Exception, ctx: Any, now: float) -> None:
        if isinstance(exc, (BoomnetError, OSError)):
            kind = _K.CONNECT_FAILED
            log.warning("%r: connect failed: %s: %s", conn, type(exc).__name__, exc)
        else:
            kind = _K.USER_ERROR
            log.error("%r: raised %s while connecting", conn, type(exc).__name__, exc_info=exc)
            if self._raise:
                self._to_raise = self._to_raise or exc
        self._disconnected(conn, Disconnect(kind, exc), ctx, now)

    def _kill(self, conn: _Conn, reason: Disconnect) -> None:
        """Mark ``conn`` dead now (it gets no more polls); the rest happens in housekeeping."""
        if conn.state == REMOVED or conn.dying:
            return
        conn.dying = True
        conn.poll = _noop_poll
        self._dead.append((conn, conn.gen, reason))
        self._busy = True

    def _bury(self, ctx: Any, now: float) -> None:
        while self._dead:
            dead, self._dead = self._dead, []
            for conn, gen, reason in dead:
                if conn.gen == gen and conn.state != REMOVED:
                    self._disconnected(conn, reason, ctx, now)

    def _disconnected(self, conn: _Conn, reason: Disconnect, ctx: Any, now: float) -> None:
        """Tear down ``conn``'s attempt or connection, tell the endpoint, maybe schedule a retry."""
        if conn.in_selector:
            self._selector.unregister(conn)
            conn.in_selector = False
        target, conn.target = conn.target, NULL_TARGET
        conn.poll = _noop_poll
        conn.dying = False
        conn.lookup = None
        conn.gen += 1
        conn.state = WAITING
        _close_quietly(target, conn)
        ep = conn.endpoint
        try:
            again = bool(ep.on_disconnect(reason, ctx))
        except Exception as exc:
            log.error("%r: on_disconnect raised %s", conn, type(exc).__name__, exc_info=exc)
            again = True
            if self._raise:
                self._to_raise = self._to_raise or exc
        if conn.state == REMOVED:
            return  # on_disconnect deregistered it
        if not again or ep._replay is not None:
            log.info("%r: not reconnecting (%s)", conn, reason)
            self.deregister(conn.handle)
            return
        if reason.kind is _K.EXPIRED or reason.kind is _K.REQUESTED:
            delay = 0.0
        else:
            backoff = self._backoff_of(conn)
            delay = conn.delay or backoff.initial
            conn.delay = backoff.next(delay)
        log.info("%r: %s; reconnecting in %.3gs", conn, reason.kind.value, delay)
        self._schedule(now + delay, conn, _RETRY)

    def _backoff_of(self, conn: _Conn) -> Backoff:
        return conn.endpoint.backoff or self._backoff

    # --- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Deregister every endpoint (closing their targets) and release the selector."""
        for handle in list(self._conns):
            self.deregister(handle)
        self._heap.clear()
        self._selector.close()

    def __enter__(self) -> "IOService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        connected = sum(1 for c in self._conns.values() if c.state == CONNECTED)
        return f"<IOService {type(self._selector).__name__} endpoints={len(self._conns)} connected={connected}>"


def _close_quietly(target: Any, conn: _Conn) -> None:
    """Close ``target`` and release its transport now.

    A protocol client's ``close()`` may only *start* a closing handshake (an open WebSocket sends
    its close frame and waits for the echo); the service is done with the target, so the stream
    underneath is closed too — the close frame is flushed first when the socket takes it.
    """
    try:
        target.close()
    except Exception as exc:  # closing is best effort; the connection is gone either way
        log.debug("%r: close raised %r", conn, exc)
    stream = getattr(target, "stream", None)
    if stream is not None and stream is not target:
        try:
            stream.close()
        except Exception as exc:
            log.debug("%r: closing the stream raised %r", conn, exc)
