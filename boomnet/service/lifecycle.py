"""How a registered endpoint's connection lives and dies: prepare + resolve -> create_target ->
establish -> connected -> dead -> (retry after back-off | dropped).

:class:`Lifecycle` is given everything it touches in its constructor — the selector (connected
targets are registered there), the :class:`~boomnet.service.scheduler.Scheduler` (retries,
expiries, timers), the :class:`~boomnet.service.registry.Registry` (to drop an endpoint that does
not want to reconnect), the resolver and the ``prepare()`` pool — and changes a
:class:`~boomnet.service.registry.Record` only through the methods below. It runs in the
service's housekeeping, never on the hot path.

Reconnect policy: a *healthy* connection (one that stayed connected ``healthy_after`` seconds)
that the peer closes, or that fails with an error, reconnects at once with its back-off reset; a
connection that ends sooner, a failed attempt, or an endpoint bug backs off (``initial`` doubling
to ``cap``), so a server that accepts and closes at once cannot cause a reconnect storm.
Recycling (``EXPIRED``) and ``disconnect()`` (``REQUESTED``) reconnect at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import BoomnetError, ConnectionClosed, ConnectTimeout, DnsError
from .endpoint import Disconnect, DisconnectKind, Endpoint, Timer
from .options import Backoff, ServiceOptions
from .registry import (
    CONNECTED,
    ESTABLISHING,
    NULL_TARGET,
    REMOVED,
    RESOLVING,
    WAITING,
    Record,
    Registry,
    close_quietly,
    noop_poll,
)
from .resolver import Address, Preparer, Resolver
from .scheduler import EXPIRE, RETRY, TIMER, Scheduler
from .select import Selector
from .stats import instrument
from .target import Target

__all__ = ["Lifecycle"]

log = logging.getLogger("boomnet.service")

_K = DisconnectKind
_NO_PREPARE = Endpoint.prepare


class Lifecycle:
    """The connect / fail / reconnect state machine of every registered endpoint."""

    def __init__(
        self,
        *,
        selector: Selector,
        scheduler: Scheduler,
        registry: Registry,
        options: ServiceOptions,
        clock: Callable[[], float],
        resolver: Resolver | None,
        preparer: Preparer,
        kick: Callable[[], None],
    ) -> None:
        self._selector = selector
        self._scheduler = scheduler
        self._registry = registry
        self.options = options  # the service replaces it when reconfigured
        self.clock = clock
        self.resolver = resolver  # made on first use when None (AsyncResolver)
        self._preparer = preparer
        self._kick = kick
        self._resolving: list[tuple[Record, int]] = []
        self._establishing: list[tuple[Record, int]] = []
        self._dead: list[tuple[Record, int, Disconnect]] = []
        #: something is resolving, preparing, establishing or waiting to be torn down
        self.busy = False
        #: an endpoint bug to re-raise out of ``poll()`` (``on_error="raise"``)
        self.to_raise: BaseException | None = None

    # --- housekeeping -----------------------------------------------------------------------------

    def housekeep(self, ctx: Any, now: float) -> None:
        self._bury(ctx, now)
        for item in self._scheduler.pop_due(now):
            record = item.record
            if item.action == RETRY:
                if record.state == WAITING:
                    self._start(record, ctx, now)
            elif record.state != CONNECTED or record.dying:
                continue
            elif item.action == EXPIRE:
                log.info("%r: auto-disconnect after %.1fs", record, now - (record.connected_at or now))
                self.kill(record, Disconnect(_K.EXPIRED))
            elif item.timer is not None and not item.timer.cancelled:
                self._fire(record, item.timer, ctx, now, item.due)
        if self._resolving:
            self._advance_resolving(ctx, now)
        if self._establishing:
            self._advance_establishing(ctx, now)
        self._bury(ctx, now)
        self.busy = bool(self._resolving or self._establishing or self._dead)

    def waiting_fds(self) -> list[int]:
        """Descriptors of targets being established (a handshake reply wakes ``wait()``)."""
        fds = []
        for record, gen in self._establishing:
            if record.gen == gen:
                try:
                    fd = record.target.fileno()
                except Exception:  # a target torn down under us: nothing to wait on
                    continue
                if fd >= 0:  # equivalent-mutant: 0 -> -1: every consumer (Selector._poll_fds) skips negative descriptors again
                    fds.append(fd)
        return fds

    @property
    def has_dead(self) -> bool:
        return bool(self._dead)

    # --- connecting -------------------------------------------------------------------------------

    def start_soon(self, record: Record) -> None:
        """A new registration: its first attempt starts at the next housekeeping."""
        self._scheduler.schedule(self.clock(), record, RETRY)

    def _start(self, record: Record, ctx: Any, now: float) -> None:
        ep = record.endpoint
        record.attempt += 1
        if ep._replay is not None:
            try:
                from ..stream import ReplayStream

                stream = ReplayStream.from_file(*ep._replay)
                try:
                    target = ep.create_replay_target(stream, ctx)
                except BaseException:
                    stream.close()  # the recording's descriptor is not left to the GC
                    raise
            except Exception as exc:
                self._connect_failed(record, exc, ctx, now)
                return
            self._begin(record, target, now)
            return
        opts = self.options
        if type(ep).prepare is not _NO_PREPARE:
            running = record.prepared
            if running is None or running.done():
                record.prepared = self._preparer.submit(ep.prepare)
            # else: the previous attempt's prepare() still runs; wait for it, do not pile up
        else:
            record.prepared = None
        record.resolved = None
        if ep.host is not None:
            stale = record.lookup
            if stale is None or stale.done():  # a lookup still running is reused, not repeated
                if self.resolver is None:
                    from ..stream.dns import AsyncResolver

                    self.resolver = AsyncResolver()
                try:
                    record.lookup = self.resolver.start(ep.host, ep.port or 0, timeout=opts.dns_timeout)
                except Exception as exc:
                    record.lookup = None
                    self._connect_failed(record, exc, ctx, now)
                    return
        elif record.prepared is None:
            self._create(record, None, ctx, now)
            return
        record.state = RESOLVING
        record.deadline = now + opts.dns_timeout
        record.prepare_deadline = now + opts.connect_timeout
        self._resolving.append((record, record.gen))
        self.busy = True
        self._kick()

    def _advance_resolving(self, ctx: Any, now: float) -> None:
        waiting = self._resolving
        self._resolving = still = []
        for item in waiting:
            record, gen = item
            if record.gen != gen or record.state != RESOLVING:
                continue
            lookup = record.lookup
            if lookup is not None:
                if lookup.done():
                    record.lookup = None
                    try:
                        record.resolved = lookup.result()
                    except Exception as exc:
                        self._connect_failed(record, exc, ctx, now)
                        continue
                elif now >= record.deadline:  # the lookup stays on the record: a retry reuses it
                    host = record.endpoint.host
                    error: BoomnetError = DnsError(f"resolving {host!r} timed out after {self.options.dns_timeout}s")
                    self._connect_failed(record, error, ctx, now)
                    continue
            prepared = record.prepared
            if prepared is not None:
                if prepared.done():
                    try:
                        prepared.result()
                    except BaseException as exc:  # CancelledError is a BaseException
                        record.prepared = None
                        self._connect_failed(record, _as_exception(exc), ctx, now)
                        continue
                elif now >= record.prepare_deadline:
                    timeout = self.options.connect_timeout
                    error = ConnectTimeout(f"{record.endpoint.describe()}: prepare() did not finish within {timeout}s")
                    self._connect_failed(record, error, ctx, now)
                    continue
            if record.lookup is not None or (prepared is not None and not prepared.done()):
                still.append(item)
                continue
            self._create(record, record.resolved, ctx, now)

    def _create(self, record: Record, addrs: list[Address] | None, ctx: Any, now: float) -> None:
        record.resolved = None
        addr = addrs[(record.attempt - 1) % len(addrs)] if addrs else None  # rotate on retries
        try:
            target = record.endpoint.create_target(addr, ctx)
        except Exception as exc:
            self._connect_failed(record, exc, ctx, now)
            return
        if target is None:  # "not now": try again after the throttle, without growing back-off
            record.state = WAITING
            self._scheduler.schedule(now + self._backoff_of(record).initial, record, RETRY)
            return
        self._begin(record, target, now)

    def _begin(self, record: Record, target: Target, now: float) -> None:
        record.target = target
        record.state = ESTABLISHING
        record.deadline = now + self.options.connect_timeout
        self._establishing.append((record, record.gen))
        self.busy = True
        self._kick()

    def _advance_establishing(self, ctx: Any, now: float) -> None:
        waiting = self._establishing
        self._establishing = still = []
        for item in waiting:
            record, gen = item
            if record.gen != gen or record.state != ESTABLISHING:
                continue
            try:
                done = record.target.establish()
            except Exception as exc:
                self._connect_failed(record, exc, ctx, now)
                continue
            if done:
                self._connected(record, ctx, now)
            elif now >= record.deadline:
                timeout = self.options.connect_timeout
                error = ConnectTimeout(f"{record.endpoint.describe()}: not established within {timeout}s")
                self._connect_failed(record, error, ctx, now)
            else:
                still.append(item)

    def _connected(self, record: Record, ctx: Any, now: float) -> None:
        ep = record.endpoint
        record.state = CONNECTED
        record.connected_at = now  # back-off resets only once the connection proves healthy
        log.info("%r: connected", record)
        try:
            ep.on_connected(record.target, ctx)
            ttl = ep.auto_disconnect
            if callable(ttl):
                ttl = ttl()
            self._selector.register(record)
        except Exception as exc:
            self.failed(record, exc, defer_raise=True)
            return
        record.in_selector = True
        record.stats.on_connected(now)
        opts = self.options
        # instrumentation is chosen here, per connection: the uninstrumented hot loop calls the
        # endpoint's own bound poll, exactly as cheap as before (see boomnet.service.stats)
        record.poll = instrument(ep.poll, record.stats, record, opts.slow_handler) if opts.instrumented else ep.poll
        if ttl:
            self._scheduler.schedule(now + ttl, record, EXPIRE)
        for timer in ep._timers:
            if not timer.cancelled:
                self._scheduler.schedule(now + timer.interval, record, TIMER, timer)

    def add_timer(self, record: Record, timer: Timer[Any, Any]) -> None:
        if record.state == CONNECTED and not record.dying:
            self._scheduler.schedule(self.clock() + timer.interval, record, TIMER, timer)

    def _fire(self, record: Record, timer: Timer[Any, Any], ctx: Any, now: float, due: float) -> None:
        try:
            timer.fn(record.target, ctx)
        except Exception as exc:
            self.failed(record, exc, defer_raise=True)
            return
        nxt = due + timer.interval
        self._scheduler.schedule(nxt if nxt > now else now + timer.interval, record, TIMER, timer)

    # --- failing ----------------------------------------------------------------------------------

    def failed(self, record: Record, exc: Exception, *, defer_raise: bool) -> None:
        """An exception out of an open connection (endpoint poll, on_connected, a timer)."""
        if isinstance(exc, ConnectionClosed):
            kind = _K.CLOSED
            # a live feed going away deserves attention; a replay (no descriptor) ending is expected
            replay = record.target.fileno() < 0
            log.log(logging.INFO if replay else logging.WARNING, "%r: %s", record, exc)
        elif isinstance(exc, BoomnetError):
            kind = _K.ERROR
            log.warning("%r: %s: %s", record, type(exc).__name__, exc)
        else:  # streams wrap socket errors in boomnet errors: anything else is unexpected
            kind = _K.USER_ERROR
            log.error("%r: endpoint code raised %s", record, type(exc).__name__, exc_info=exc)
        self.kill(record, Disconnect(kind, exc))
        if kind is _K.USER_ERROR and self.options.on_error == "raise":
            if defer_raise:
                self.to_raise = self.to_raise or exc
            else:
                raise exc

    def _connect_failed(self, record: Record, exc: Exception, ctx: Any, now: float) -> None:
        if isinstance(exc, (BoomnetError, OSError)):
            kind = _K.CONNECT_FAILED
            log.warning("%r: connect failed: %s: %s", record, type(exc).__name__, exc)
        else:
            kind = _K.USER_ERROR
            log.error("%r: raised %s while connecting", record, type(exc).__name__, exc_info=exc)
            if self.options.on_error == "raise":
                self.to_raise = self.to_raise or exc
        self._disconnected(record, Disconnect(kind, exc), ctx, now)

    def kill(self, record: Record, reason: Disconnect) -> None:
        """Mark ``record`` dead now (it gets no more polls); the rest happens in housekeeping."""
        if record.state in (REMOVED, WAITING) or record.dying:
            return
        record.dying = True
        record.poll = noop_poll
        self._dead.append((record, record.gen, reason))
        self.busy = True
        self._kick()

    def _bury(self, ctx: Any, now: float) -> None:
        while self._dead:
            dead, self._dead = self._dead, []
            for record, gen, reason in dead:
                if record.gen == gen and record.state != REMOVED:
                    self._disconnected(record, reason, ctx, now)

    def _disconnected(self, record: Record, reason: Disconnect, ctx: Any, now: float) -> None:
        """Tear down ``record``'s attempt or connection, tell the endpoint, maybe schedule a retry."""
        connected_at, record.connected_at = record.connected_at, None
        record.stats.on_disconnected(reason, now)
        healthy = connected_at is not None and now - connected_at >= self.options.healthy_after
        self._release(record)
        record.dying = False
        record.gen += 1
        record.state = WAITING
        ep = record.endpoint
        try:
            again = bool(ep.on_disconnect(reason, ctx))
        except Exception as exc:
            log.error("%r: on_disconnect raised %s", record, type(exc).__name__, exc_info=exc)
            again = True
            if self.options.on_error == "raise":
                self.to_raise = self.to_raise or exc
        if record.state == REMOVED:
            return  # on_disconnect deregistered it
        if not again or ep._replay is not None:
            log.info("%r: not reconnecting (%s)", record, reason)
            self.remove(self._registry.pop(record.handle))
            return
        if healthy:
            record.delay = 0.0  # it worked: whatever ends it now is not one more failure in a row
        kind = reason.kind
        if kind is _K.EXPIRED or kind is _K.REQUESTED or (healthy and (kind is _K.CLOSED or kind is _K.ERROR)):
            delay = 0.0
        else:
            backoff = self._backoff_of(record)
            delay = record.delay or backoff.initial
            record.delay = backoff.next(delay)
        log.info("%r: %s; reconnecting in %.3gs", record, kind.value, delay)
        self._scheduler.schedule(now + delay, record, RETRY)

    def _release(self, record: Record) -> None:
        """Take ``record``'s target out of the selector and close it."""
        if record.in_selector:
            # before closing: epoll needs the descriptor open, and an armed io_uring poll keeps
            # the socket alive until removed. Safe even while poll() iterates the ready list.
            self._selector.unregister(record)
            record.in_selector = False
        target, record.target = record.target, NULL_TARGET
        record.poll = noop_poll
        close_quietly(target, record)

    def remove(self, record: Record) -> None:
        """``record`` left the registry: close its target now, no ``on_disconnect``."""
        record.state = REMOVED
        record.gen += 1
        record.lookup = None
        record.prepared = None
        record.connected_at = None
        self._release(record)
        record.endpoint.control = None
        log.debug("deregistered %r", record)

    def _backoff_of(self, record: Record) -> Backoff:
        return record.endpoint.backoff or self.options.backoff


def _as_exception(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    return ConnectTimeout(f"prepare() did not run: {exc!r}")  # cancelled: the service is closing
