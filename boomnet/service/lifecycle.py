"""How a registered endpoint's connection lives and dies: connect, fail, disconnect, retry.

Cold code by design (it runs in the IOService's housekeeping, never per message), kept apart
from the poll loop in :mod:`boomnet.service.io_service`. ``IOService`` inherits it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..errors import BoomnetError, ConnectionClosed, ConnectTimeout, DnsError
from .conn import CONNECTED, ESTABLISHING, NULL_TARGET, REMOVED, RESOLVING, WAITING, Backoff, _Conn, _noop_poll
from .endpoint import Disconnect, DisconnectKind, Timer

__all__ = ["ConnectionLifecycle", "close_quietly"]

log = logging.getLogger("boomnet.service")

_RETRY, _EXPIRE, _TIMER = 0, 1, 2
_K = DisconnectKind


class ConnectionLifecycle:
    """The connect / fail / reconnect half of :class:`~boomnet.service.IOService`."""

    # provided by IOService
    _selector: Any
    _resolver: Any
    _clock: Callable[[], float]
    _dns_timeout: float
    _connect_timeout: float
    _backoff: Backoff
    _raise: bool
    _busy: bool
    _countdown: int
    _resolving: list
    _establishing: list
    _dead: list
    _to_raise: BaseException | None
    _schedule: Callable[..., None]
    deregister: Callable[[Any], Any]

    # --- connecting -------------------------------------------------------------------------------

    def _start(self, conn: _Conn, ctx: Any, now: float) -> None:
        ep = conn.endpoint
        conn.attempt += 1
        if ep._replay is not None:
            try:
                from ..stream import ReplayStream

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
        self._countdown = 1  # housekeeping on this very poll

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
        self._countdown = 1  # housekeeping on this very poll

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
            ttl = ep.auto_disconnect
            if callable(ttl):
                ttl = ttl()
            self._selector.register(conn)
        except Exception as exc:
            self._failed(conn, exc, defer_raise=True)
            return
        conn.in_selector = True
        conn.poll = ep.poll
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
            # a live feed going away deserves attention; a replay (no descriptor) ending is expected
            replay = conn.target.fileno() < 0
            log.log(logging.INFO if replay else logging.WARNING, "%r: %s", conn, exc)
        elif isinstance(exc, BoomnetError):
            kind = _K.ERROR
            log.warning("%r: %s: %s", conn, type(exc).__name__, exc)
        else:  # streams wrap socket errors in boomnet errors: anything else is unexpected
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
        self._countdown = 1  # housekeeping on this very poll

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
        close_quietly(target, conn)
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


def close_quietly(target: Any, conn: _Conn) -> None:
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
