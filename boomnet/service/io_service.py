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

from .conn import CONNECTED, NULL_TARGET, REMOVED, WAITING, Backoff, Handle, _Conn, _noop_poll
from .endpoint import Disconnect, DisconnectKind, Endpoint
from .lifecycle import _EXPIRE, _RETRY, ConnectionLifecycle, close_quietly
from .select import EpollSelector, Selector

__all__ = ["IOService"]

log = logging.getLogger("boomnet.service")

_K = DisconnectKind


class IOService(ConnectionLifecycle):
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
        close_quietly(target, conn)
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
        ready = self._select()
        if ready:
            for conn in ready:
                try:
                    conn.poll(conn.target, ctx)
                except Exception as exc:
                    self._failed(conn, exc, defer_raise=False)
        # One countdown serves both cold paths: work in progress (``_busy``) pins it to 1 so
        # housekeeping runs every poll; otherwise the clock is read every ``check_every`` polls.
        n = self._countdown - 1
        if n:
            self._countdown = n
            return
        self._countdown = self._check_every
        if self._busy or self._clock() >= self._next_due:
            self._housekeep(ctx)

    def wait(self, timeout: float) -> None:
        """Opt-in idle strategy: block up to ``timeout`` s in the selector when nothing can be done
        now — no target was ready on the last poll, nothing is connecting, no timer is due sooner.

        ``poll()`` never blocks; a loop of ``poll()`` alone is the lowest-latency choice on a core of
        its own. On a shared machine a busy loop competes with everything else and its tail
        latency suffers, so ``while True: io.poll(ctx); io.wait(0.001)`` spins while there is work
        and sleeps in the kernel (epoll_wait, or the io_uring ring) when there is none, waking the
        moment data arrives. With :class:`DirectSelector` it returns at once."""
        if self._busy or timeout <= 0:
            return
        due = self._next_due
        if due != math.inf:
            left = due - self._clock()
            if left <= 0:
                return
            timeout = min(timeout, left)
        self._selector.wait(timeout)
        self._countdown = 1  # look at the clock on the next poll: a timer may be due now

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
        self._busy = busy = bool(self._resolving or self._establishing or self._dead)
        self._countdown = 1 if busy else self._check_every
        self._next_due = heap[0][0] if heap else math.inf
        if self._to_raise is not None:
            exc, self._to_raise = self._to_raise, None
            raise exc

    def _schedule(self, due: float, conn: _Conn, action: int, arg: Any = None) -> None:
        heapq.heappush(self._heap, [due, next(self._seq), conn, conn.gen, action, arg])
        if due < self._next_due:
            self._next_due = due
            self._countdown = 1  # look at the clock on the next poll

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
