"""The busy-poll IOService: owns endpoints' connections, never blocks.

Hot path (``poll`` with nothing pending): one ``selector.select()``, one ``endpoint.poll(target,
ctx)`` per ready endpoint, and a countdown that consults the clock every ``check_every`` polls to
see whether a timer, TTL or reconnect is due. Everything else — ``prepare()`` and DNS
(off-thread, with timeouts), non-blocking connect, TLS and WebSocket handshakes
(``target.establish()`` once per poll while pending), disconnect handling, back-off — is
*housekeeping*, run only while some connection is in progress or something is due.

The service is composed, each part in its own module with its dependencies given explicitly:
:class:`~boomnet.service.registry.Registry` (handles -> records),
:class:`~boomnet.service.scheduler.Scheduler` (the timer heap),
:class:`~boomnet.service.lifecycle.Lifecycle` (connect / fail / reconnect),
:class:`~boomnet.service.waker.Waker` (``call_soon_threadsafe``). Endpoints act on it through
their :class:`~boomnet.service.control.EndpointControl`.

Error policy: an exception out of endpoint code never passes silently. A boomnet error (the peer
closed, a protocol violation, ...) disconnects the endpoint and is logged at WARNING; anything else
is treated as a bug in endpoint code (``DisconnectKind.USER_ERROR``), logged at ERROR with its
traceback and the endpoint's identity, and then either disconnects the endpoint like any other
failure (``on_error="reconnect"``, the default) or, after the same bookkeeping, is re-raised out of
:meth:`IOService.poll` (``on_error="raise"``). The same holds for callbacks queued with
:meth:`IOService.call_soon_threadsafe`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .control import EndpointControl
from .endpoint import C, Disconnect, DisconnectKind, Endpoint, Timer
from .lifecycle import Lifecycle
from .options import Backoff, ErrorPolicy, ServiceOptions
from .registry import CONNECTED, REMOVED, Handle, Record, Registry, snapshot
from .resolver import Preparer, Resolver
from .scheduler import Scheduler
from .select import EpollSelector, Selector
from .stats import EndpointSnapshot
from .target import Target
from .waker import Waker

if TYPE_CHECKING:  # pragma: no cover
    from .runner import LoopThread

__all__ = ["IOService"]

log = logging.getLogger("boomnet.service")

T = TypeVar("T", bound=Target)


class IOService(Generic[C]):
    """Owns registered :class:`Endpoint`\\ s and polls them through ``selector``.

    ``options`` (:class:`~boomnet.service.ServiceOptions`) or its fields as keywords
    (``dns_timeout=``, ``connect_timeout=``, ``backoff=``, ``healthy_after=``, ``on_error=``,
    ``check_every=``, ``busy_step=``, ``instrument=``, ``slow_handler=``; see
    :mod:`boomnet.service.stats` and :meth:`stats`): a misspelt keyword is a ``TypeError``, a bad value a
    :class:`~boomnet.errors.LocalError`. ``clock``: seconds, monotonic (inject a fake one in
    tests). ``resolver``: a :class:`~boomnet.service.Resolver` (default: a
    :class:`boomnet.stream.dns.AsyncResolver`, closed by :meth:`close`).
    """

    def __init__(
        self,
        selector: Selector | None = None,
        options: ServiceOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        resolver: Resolver | None = None,
        **overrides: Any,
    ) -> None:
        opts = options or ServiceOptions()
        if overrides:
            opts = opts.replace(**overrides)  # unknown names: TypeError; bad values: LocalError
        self._options = opts
        self._selector = sel = selector if selector is not None else EpollSelector()
        # the selector hands back exactly the tokens we registered: records (and the waker)
        self._select = cast("Callable[[], list[Record]]", sel.select)
        self._clock = clock
        self._check_every = opts.check_every
        self._countdown = 1
        self._registry = Registry()
        self._scheduler = Scheduler(self._kick)
        self._preparer = Preparer()
        self._lifecycle = Lifecycle(
            selector=sel,
            scheduler=self._scheduler,
            registry=self._registry,
            options=opts,
            clock=clock,
            resolver=resolver,
            preparer=self._preparer,
            kick=self._kick,
        )
        self._closed = False
        self._waker = Waker(self._callback_failed)
        # A readiness selector returns the waker only once signalled: free on the hot path. A
        # DirectSelector would visit it on every poll, so there it is run from housekeeping
        # instead (``call_soon_threadsafe`` kicks the countdown) and only ``wait()`` watches it.
        self._waker_in_selector = sel.reports_readiness
        if self._waker_in_selector:
            sel.register(self._waker)

    def _kick(self) -> None:
        self._countdown = 1  # housekeeping on this very poll

    # --- options ----------------------------------------------------------------------------------

    @property
    def options(self) -> ServiceOptions:
        return self._options

    def _reconfigure(self, **changes: Any) -> IOService[C]:
        self._options = self._lifecycle.options = self._options.replace(**changes)
        self._check_every = self._options.check_every
        self._countdown = 1
        return self

    def with_clock(self, clock: Callable[[], float]) -> IOService[C]:
        self._clock = self._lifecycle.clock = clock
        return self

    def with_resolver(self, resolver: Resolver, *, timeout: float | None = None) -> IOService[C]:
        self._lifecycle.resolver = resolver
        return self if timeout is None else self._reconfigure(dns_timeout=timeout)

    def with_dns_timeout(self, seconds: float) -> IOService[C]:
        return self._reconfigure(dns_timeout=seconds)

    def with_backoff(self, initial: float = 1.0, factor: float = 2.0, cap: float = 30.0) -> IOService[C]:
        return self._reconfigure(backoff=Backoff(initial, factor, cap))

    def with_connect_timeout(self, seconds: float) -> IOService[C]:
        return self._reconfigure(connect_timeout=seconds)

    def with_error_policy(self, on_error: ErrorPolicy) -> IOService[C]:
        return self._reconfigure(on_error=on_error)

    def with_check_every(self, polls: int) -> IOService[C]:
        return self._reconfigure(check_every=polls)

    # --- registration -----------------------------------------------------------------------------

    def register(self, endpoint: Endpoint[T, C]) -> Handle[T]:
        """Take ownership of ``endpoint``; it starts connecting on the next :meth:`poll`."""
        if endpoint.control is not None:
            raise ValueError(f"{endpoint!r} is already registered")
        record = self._registry.add(endpoint)
        handle: Handle[T] = record.handle
        endpoint.control = EndpointControl(
            handle,
            disconnect=self._disconnect_requested,
            is_connected=self.is_connected,
            now=self.now,
            register=self.register,
            deregister=self.deregister,
            add_timer=self._add_timer,
            poll_soon=self._poll_soon,
            call_soon_threadsafe=self.call_soon_threadsafe,
        )
        self._lifecycle.start_soon(record)
        log.debug("registered %r", record)
        return handle

    def deregister(self, handle: Handle[T]) -> Endpoint[T, C]:
        """Forget ``handle``: close its target now (no ``on_disconnect``); return the endpoint."""
        record = self._registry.pop(handle)
        self._lifecycle.remove(record)
        return record.endpoint

    def disconnect(self, handle: Handle[Any], reason: str = "requested") -> None:
        """Drop ``handle``'s connection (``REQUESTED``); the endpoint decides about reconnecting."""
        self._disconnect_requested(handle, reason)

    def _disconnect_requested(self, handle: Handle[Any], reason: str) -> None:
        record = self._registry[handle]
        self._lifecycle.kill(record, Disconnect(DisconnectKind.REQUESTED, reason=reason))

    def _poll_soon(self, handle: Handle[Any]) -> None:
        record = self._registry[handle]
        if record.in_selector and not record.dying:
            self._selector.poll_soon(record)

    def _add_timer(self, handle: Handle[Any], timer: Timer[Any, Any]) -> None:
        self._lifecycle.add_timer(self._registry[handle], timer)

    def __iter__(self) -> Iterator[tuple[Handle[Any], Endpoint[Any, C]]]:
        """``(handle, endpoint)`` for every registration, connected or not."""
        return iter([(r.handle, r.endpoint) for r in self._registry])

    def endpoints(self) -> Iterator[tuple[Handle[Any], Endpoint[Any, C]]]:
        return iter(self)

    def __len__(self) -> int:
        return len(self._registry)

    def __contains__(self, handle: object) -> bool:
        return handle in self._registry

    def get(self, handle: Handle[T]) -> Endpoint[T, C]:
        endpoint: Endpoint[T, C] = self._registry[handle].endpoint
        return endpoint

    def is_connected(self, handle: Handle[Any]) -> bool:
        return self._registry[handle].state == CONNECTED

    def target(self, handle: Handle[T]) -> T | None:
        """The connected target of ``handle``, or ``None`` while not connected."""
        record = self._registry[handle]
        if record.state != CONNECTED:
            return None
        return cast(T, record.target)  # what this handle's endpoint built: its T

    def stats(self) -> list[EndpointSnapshot]:
        """Every registration's counters now (see :mod:`boomnet.service.stats`), merged with
        ``endpoint.metrics()`` where defined. Call it on the loop thread (from another thread:
        ``call_soon_threadsafe``, as :mod:`boomnet.metrics` does)."""
        return snapshot(self._registry, self._clock(), self._options.instrumented)

    def now(self) -> float:
        """The service's clock."""
        return self._clock()

    @property
    def selector(self) -> Selector:
        return self._selector

    # --- the loop ---------------------------------------------------------------------------------

    def poll(self, ctx: C | None = None) -> None:
        """Do whatever can be done now, without blocking: read ready endpoints, advance the rest."""
        ready = self._select()
        if ready:
            for record in ready:
                try:
                    record.poll(record.target, ctx)
                except Exception as exc:
                    self._poll_failed(record, exc)
        # One countdown serves both cold paths: work in progress pins it to 1 so housekeeping
        # runs every poll; otherwise the clock is read every ``check_every`` polls.
        n = self._countdown - 1
        if n:
            self._countdown = n
            return
        self._countdown = self._check_every
        if (
            self._lifecycle.busy
            or self._clock() >= self._scheduler.next_due
            or (not self._waker_in_selector and self._waker.signalled)  # DirectSelector only
        ):
            self._housekeep(ctx)

    def _poll_failed(self, record: Record, exc: Exception) -> None:
        token: object = record
        if token is self._waker:  # the waker is a token too
            raise exc  # _callback_failed let it through: on_error="raise"
        self._lifecycle.failed(record, exc, defer_raise=False)

    def _housekeep(self, ctx: C | None) -> None:
        lifecycle = self._lifecycle
        if not self._waker_in_selector:
            self._waker.poll(None, ctx)  # may raise (on_error="raise"), like a poll() callback
        now = self._clock()
        lifecycle.housekeep(ctx, now)
        self._countdown = 1 if lifecycle.busy or self._scheduler.next_due <= now else self._check_every
        if lifecycle.to_raise is not None:
            exc, lifecycle.to_raise = lifecycle.to_raise, None
            raise exc

    def wait(self, timeout: float) -> None:
        """Opt-in idle strategy: sleep up to ``timeout`` s until something can be done.

        ``poll()`` never blocks; a loop of ``poll()`` alone is the lowest-latency choice on a core
        of its own. On a shared machine ``while True: io.poll(ctx); io.wait(0.001)`` spins while
        there is work and sleeps in the kernel when there is none, waking the moment data arrives
        on a connected endpoint, a handshake reply arrives, a connect fails, or another thread
        calls :meth:`call_soon_threadsafe`. It never sleeps past the next timer, retry or expiry.
        While something is resolving, preparing or connecting it sleeps at most ``busy_step``
        (2 ms by default): a finished DNS lookup or ``prepare()``, or a connect that succeeded,
        raises no readiness it could wait on. It returns at once when the last poll found work
        that may not be done (a target with buffered bytes, a dead connection to tear down).
        """
        if timeout <= 0:
            return
        lifecycle = self._lifecycle
        if lifecycle.has_dead or lifecycle.to_raise is not None:
            return  # the next poll has work to do at once
        also: list[int] = [] if self._waker_in_selector else [self._waker.fileno()]
        if lifecycle.busy:
            timeout = min(timeout, self._options.busy_step)
            also += lifecycle.waiting_fds()
        due = self._scheduler.next_due
        if due != float("inf"):
            left = due - self._clock()
            if left <= 0:
                return
            timeout = min(timeout, left)
        self._selector.wait(timeout, also)
        self._countdown = 1  # look at the clock on the next poll: a timer may be due now

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread at the next :meth:`poll` (from any thread).

        A sleeping :meth:`wait` returns at once. Calls run in order; an exception is handled by
        the service's error policy (logged with traceback; re-raised out of ``poll()`` with
        ``on_error="raise"``)."""
        self._waker.call_soon(fn, *args)
        if not self._waker_in_selector:
            # a racy write, on purpose: at worst the loop overwrites it and housekeeping runs
            # the call ``check_every`` polls later (each a few µs with DirectSelector)
            self._countdown = 1

    def _callback_failed(self, exc: BaseException) -> None:
        log.error("a call_soon_threadsafe callback raised %s", type(exc).__name__, exc_info=exc)
        if self._options.on_error == "raise":
            raise exc

    # --- running the loop (see :mod:`boomnet.service.runner`) ------------------------------------

    def run(self, ctx: C | None = None, *, idle: float | None = None, until: Callable[[], bool] | None = None,
            duration: float | None = None) -> int:
        """Poll in this thread until ``until()``, ``duration`` or forever; ``idle`` (seconds)
        sleeps in :meth:`wait` when nothing is ready, ``None`` busy-polls. Returns polls made."""
        from .runner import run

        return run(self, ctx, idle=idle, until=until, duration=duration)

    def run_in_thread(self, ctx: C | None = None, *, cpu: int | None = None, idle: float | None = 0.001,
                      name: str = "boomnet-io") -> LoopThread[C]:
        """Start the loop on its own thread (pinned to ``cpu`` if given); ``stop()``/``join()``
        it, hand it work with ``call_soon``. ``idle=None`` busy-polls."""
        from .runner import run_in_thread

        return run_in_thread(self, ctx, cpu=cpu, idle=idle, name=name)

    # --- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Deregister every endpoint (closing their targets), stop the resolver's and
        ``prepare()``'s threads and release the selector."""
        if self._closed:
            return
        self._closed = True
        for record in self._registry:
            if record.state != REMOVED:
                self.deregister(record.handle)
        self._scheduler.clear()
        self._preparer.close()
        close = getattr(self._lifecycle.resolver, "close", None)  # a resolver holding threads has one
        if callable(close):
            try:
                close()
            except Exception as exc:  # shutting down is best effort
                log.debug("resolver.close() raised %r", exc)
        if self._waker_in_selector:
            self._selector.unregister(self._waker)
        self._waker.close()
        self._selector.close()

    def __enter__(self) -> IOService[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        connected = sum(1 for r in self._registry if r.state == CONNECTED)
        return f"<IOService {type(self._selector).__name__} endpoints={len(self._registry)} connected={connected}>"
