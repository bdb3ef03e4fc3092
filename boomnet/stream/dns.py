"""Host name resolution that never blocks the caller beyond a deadline.

``resolve`` is the blocking-with-timeout form used by ``TcpStream.connect``; ``AsyncResolver`` is
the non-blocking form the IOService polls so DNS never stalls its busy-poll loop. Both run
``getaddrinfo`` in a small pool of daemon threads (``getaddrinfo`` itself has no timeout), and
both skip the pool for IP literals.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Any

from ..errors import DnsError

__all__ = ["resolve", "resolve_literal", "AsyncResolver", "DnsLookup", "Address"]

log = logging.getLogger(__name__)

#: ``(family, sockaddr)`` as accepted by ``socket.socket(family).connect(sockaddr)``
Address = tuple[int, Any]


def resolve_literal(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[Address] | None:
    """Addresses for an IP literal (no DNS traffic), or ``None`` if ``host`` is a name."""
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return _addresses(infos)


def _addresses(infos: list) -> list[Address]:
    seen: set = set()
    out: list[Address] = []
    for fam, _type, _proto, _canon, sockaddr in infos:
        key = (fam, sockaddr)
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


class DnsLookup:
    """Handle of one lookup started by :meth:`AsyncResolver.start`; poll ``done()``, then ``result()``."""

    __slots__ = ("host", "port", "family", "deadline", "_event", "_result", "_error")

    def __init__(self, host: str, port: int, family: int, deadline: float):
        self.host, self.port, self.family, self.deadline = host, port, family, deadline
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
                raise DnsError(f"resolving {self.host!r} timed out")
            raise DnsError(f"resolving {self.host!r} is still in progress")  # caller skipped done()
        if self._error is not None:
            raise DnsError(f"cannot resolve {self.host!r}: {self._error}") from self._error
        assert self._result is not None
        return self._result


class AsyncResolver:
    """Resolve names on a few daemon threads; ``start`` returns at once with a :class:`DnsLookup`."""

    def __init__(self, workers: int = 4):
        self._workers = workers
        self._queue: queue.SimpleQueue[DnsLookup] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(
        self, host: str, port: int, *, timeout: float = 5.0, family: int = socket.AF_UNSPEC
    ) -> DnsLookup:
        """Begin resolving ``host``; literals complete immediately."""
        lookup = DnsLookup(host, port, family, time.monotonic() + timeout)
        literal = resolve_literal(host, port, family)
        if literal is not None:
            lookup._finish(literal, None)
            return lookup
        self._queue.put(lookup)
        self._ensure_threads()
        return lookup

    def _ensure_threads(self) -> None:
        # Threads start lazily and grow up to ``workers`` so a slow lookup does not stall others.
        with self._lock:
            if len(self._threads) >= self._workers or (self._threads and self._queue.empty()):
                return  # enough threads, or an idle one already took the lookup
            t = threading.Thread(target=self._run, name="boomnet-dns", daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self) -> None:
        while True:
            lookup = self._queue.get()
            if time.monotonic() >= lookup.deadline:
                continue  # nobody waits any more
            try:
                infos = socket.getaddrinfo(lookup.host, lookup.port, lookup.family, socket.SOCK_STREAM)
                result = _addresses(infos)
                if not result:
                    raise OSError("no addresses")
                lookup._finish(result, None)
            except (OSError, UnicodeError) as e:
                lookup._finish(None, e)
            except BaseException as e:  # never let a worker die silently
                log.exception("resolver worker failed on %r", lookup.host)
                lookup._finish(None, e)


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
