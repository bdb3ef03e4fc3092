"""Host name resolution that never blocks the caller beyond a deadline.

``resolve`` is the blocking-with-timeout form used by ``TcpStream.connect``; ``AsyncResolver`` is
the non-blocking form the IOService polls so DNS never stalls its busy-poll loop. Both skip DNS
for IP literals. ``getaddrinfo`` has no timeout and cannot be interrupted, so it runs on threads,
under this policy (so one name that hangs can never starve the others):

* **Coalesced**: lookups of one ``(host, port, family)`` share one running ``getaddrinfo``; a
  lookup started while one is running (a retry after a timeout, another endpoint of the same
  host) waits for that one instead of starting another.
* **At most one thread per name**: a timed-out lookup whose ``getaddrinfo`` still runs keeps its
  thread, is counted, and is not started again until it returns. Its late answer still serves
  whoever waits for the name then.
* **Bounded in total**: at most ``max_threads`` names resolve at once (default 16), one thread
  each, started on demand and ended when their ``getaddrinfo`` returns (no idle pool). Further
  names wait in order for a free thread, within their own deadline; so up to ``max_threads - 1``
  hung names still leave a thread for a healthy one, and a lookup that never got a thread times
  out saying how many names were still resolving.

``AsyncResolver.close()`` fails every waiting lookup and lets no new thread start; a thread stuck
inside ``getaddrinfo`` is a daemon that ends when the call returns (nothing can cancel it).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..errors import DnsError

__all__ = ["resolve", "resolve_literal", "AsyncResolver", "DnsLookup", "Address", "GetAddrInfo"]

log = logging.getLogger(__name__)

#: ``(family, sockaddr)`` as accepted by ``socket.socket(family).connect(sockaddr)``
Address = tuple[int, Any]
#: ``socket.getaddrinfo``'s shape (injectable, for tests and custom resolvers)
GetAddrInfo = Callable[..., list[tuple[Any, ...]]]

_Key = tuple[str, int, int]


def resolve_literal(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[Address] | None:
    """Addresses for an IP literal (no DNS traffic), or ``None`` if ``host`` is a name."""
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return _addresses(infos)


def _addresses(infos: list[tuple[Any, ...]]) -> list[Address]:
    seen: set[Address] = set()
    out: list[Address] = []
    for fam, _type, _proto, _canon, sockaddr in infos:
        key = (fam, sockaddr)
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


class DnsLookup:
    """Handle of one lookup started by :meth:`AsyncResolver.start`; poll ``done()``, then ``result()``."""

    __slots__ = ("_error", "_event", "_result", "_why_slow", "deadline", "family", "host", "port")

    def __init__(self, host: str, port: int, family: int, deadline: float):
        self.host, self.port, self.family, self.deadline = host, port, family, deadline
        self._why_slow = ""  # set when the lookup had to wait for a thread
        self._event = threading.Event()
        self._result: list[Address] | None = None
        self._error: BaseException | None = None

    def _finish(self, result: list[Address] | None, error: BaseException | None) -> None:
        self._result, self._error = result, error
        self._event.set()

    def done(self) -> bool:
        """``True`` once ``result()`` will return or raise without waiting (incl. timed out)."""
        return self._event.is_set() or time.monotonic() >= self.deadline

    def wait(self) -> list[Address]:
        """Block until done (at most until the deadline), then return ``result()``."""
        self._event.wait(max(0.0, self.deadline - time.monotonic()))
        return self.result()

    def result(self) -> list[Address]:
        """The addresses, best first. Raises :class:`DnsError` on failure or timeout."""
        if not self._event.is_set():
            if time.monotonic() >= self.deadline:
                raise DnsError(f"resolving {self.host!r} timed out{self._why_slow}")
            raise DnsError(f"resolving {self.host!r} is still in progress")  # caller skipped done()
        if self._error is not None:
            raise DnsError(f"cannot resolve {self.host!r}: {self._error}") from self._error
        assert self._result is not None
        return self._result


class _Job:
    """One running (or waiting) ``getaddrinfo`` for a name, and the lookups that want its answer."""

    __slots__ = ("key", "lookups", "started")

    def __init__(self, key: _Key, first: DnsLookup):
        self.key = key
        self.lookups = [first]
        self.started = 0.0

    def add(self, lookup: DnsLookup) -> None:
        now = time.monotonic()
        # Drop the lookups that gave up, so retries of a hung name do not pile up here.
        self.lookups = [x for x in self.lookups if x.deadline > now]
        self.lookups.append(lookup)

    def wanted(self) -> bool:
        now = time.monotonic()
        return any(x.deadline > now for x in self.lookups)


class AsyncResolver:
    """Resolve names on threads under the policy in the module docstring; ``start`` returns at
    once with a :class:`DnsLookup`.

    ``max_threads`` bounds the names resolving at once (``workers`` is its older name);
    ``getaddrinfo`` replaces ``socket.getaddrinfo`` (tests inject a hanging one).
    """

    def __init__(
        self,
        max_threads: int = 16,
        *,
        getaddrinfo: GetAddrInfo | None = None,
        workers: int | None = None,
    ):
        limit = workers if workers is not None else max_threads
        if limit < 1:
            raise ValueError(f"max_threads must be at least 1, not {limit!r}")
        self.max_threads = limit
        self._getaddrinfo = getaddrinfo
        self._lock = threading.Lock()
        self._running: dict[_Key, _Job] = {}
        self._waiting: OrderedDict[_Key, _Job] = OrderedDict()
        self._threads: dict[_Key, threading.Thread] = {}
        self._closed = False

    # --- public -------------------------------------------------------------------------------

    def start(
        self, host: str, port: int, *, timeout: float = 5.0, family: int = socket.AF_UNSPEC
    ) -> DnsLookup:
        """Begin resolving ``host``; literals complete immediately."""
        lookup = DnsLookup(host, port, family, time.monotonic() + timeout)
        literal = resolve_literal(host, port, family)
        if literal is not None:
            lookup._finish(literal, None)
            return lookup
        key: _Key = (host, port, family)
        with self._lock:
            if self._closed:
                lookup._finish(None, OSError("the resolver is closed"))
                return lookup
            job = self._running.get(key) or self._waiting.get(key)
            if job is not None:
                job.add(lookup)  # coalesced: the running (or queued) getaddrinfo answers it too
                if job.started:
                    lookup._why_slow = f" (its getaddrinfo has been running for {time.monotonic() - job.started:.1f}s)"
                return lookup
            job = _Job(key, lookup)
            if len(self._running) < self.max_threads:
                self._launch(job)
            else:
                self._waiting[key] = job
                busy = f"{len(self._running)} names resolving already (limit {self.max_threads}, slowest: {self._slowest()})"
                lookup._why_slow = f" waiting for a resolver thread: {busy}"
                log.warning("DNS: %s; %r waits", busy, host)
        return lookup

    @property
    def resolving(self) -> list[str]:
        """Names with a ``getaddrinfo`` running now (each holds one thread)."""
        with self._lock:
            return [key[0] for key in self._running]

    @property
    def thread_count(self) -> int:
        """Resolver threads alive now (== names resolving; a hung name holds one)."""
        with self._lock:
            return sum(t.is_alive() for t in self._threads.values())

    def close(self, timeout: float = 1.0) -> None:
        """Fail every waiting lookup, start no more threads, and wait (at most ``timeout`` s) for
        the running ones; a ``getaddrinfo`` that hangs past that is left to its daemon thread."""
        with self._lock:
            self._closed = True
            jobs = list(self._waiting.values()) + list(self._running.values())
            self._waiting.clear()
            threads = list(self._threads.values())
        for job in jobs:
            for lookup in job.lookups:
                lookup._finish(None, OSError("the resolver was closed"))
        end = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            log.warning("DNS: %d lookups still inside getaddrinfo at close: %s", len(stuck), stuck)

    # --- threads ------------------------------------------------------------------------------

    def _launch(self, job: _Job) -> None:
        # under self._lock
        job.started = time.monotonic()
        self._running[job.key] = job
        t = threading.Thread(target=self._run, args=(job,), name=f"boomnet-dns-{job.key[0]}", daemon=True)
        self._threads[job.key] = t
        t.start()

    def _run(self, job: _Job) -> None:
        host, port, family = job.key
        result: list[Address] | None = None
        error: BaseException | None = None
        try:
            getaddrinfo = self._getaddrinfo or socket.getaddrinfo
            result = _addresses(getaddrinfo(host, port, family, socket.SOCK_STREAM))
            if not result:
                raise OSError("no addresses")
        except (OSError, UnicodeError) as e:
            result, error = None, e
        except BaseException as e:  # never let a worker die silently
            log.exception("resolver thread failed on %r", host)
            result, error = None, e
        finally:
            with self._lock:
                self._running.pop(job.key, None)
                self._threads.pop(job.key, None)
                lookups = job.lookups
                self._start_waiting()
        for lookup in lookups:
            lookup._finish(result, error)

    def _start_waiting(self) -> None:
        # under self._lock: hand the freed thread to the oldest name someone still waits for
        while self._waiting and len(self._running) < self.max_threads and not self._closed:
            _key, job = self._waiting.popitem(last=False)
            if job.wanted():
                self._launch(job)
            else:
                for lookup in job.lookups:
                    lookup._finish(None, OSError("timed out waiting for a free resolver thread"))

    def _slowest(self) -> str:
        if not self._running:
            return "-"
        job = min(self._running.values(), key=lambda j: j.started)
        return f"{job.key[0]!r} for {time.monotonic() - job.started:.1f}s"


_default: AsyncResolver | None = None
_default_lock = threading.Lock()


def default_resolver() -> AsyncResolver:
    """The process-wide resolver used by :func:`resolve`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AsyncResolver()
        return _default


def resolve(
    host: str, port: int, *, timeout: float = 5.0, family: int = socket.AF_UNSPEC
) -> list[Address]:
    """Resolve ``host`` to ``[(family, sockaddr), ...]`` within ``timeout`` seconds.

    IP literals skip DNS. Raises :class:`~boomnet.errors.DnsError` on failure or timeout.
    """
    return default_resolver().start(host, port, timeout=timeout, family=family).wait()
