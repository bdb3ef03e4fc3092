"""Blocking waits for the convenience client: poll(2) on a connection's descriptor.

The non-blocking core never sleeps; these helpers are the only place the blocking client waits,
always bounded by the request deadline (:class:`DeadlineExceeded` / :class:`ConnectTimeout`).
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import ConnectTimeout, DeadlineExceeded

from ..stream.base import Stream
from .connection import HttpConnection
from .response import Response

if TYPE_CHECKING:  # the h2 package is an extra: imported only where HTTP/2 is spoken
    from .h2 import H2Connection, H2Request

__all__ = ["establish", "establish_stream", "exchange", "wait_h2"]

_POLLIN, _POLLOUT = select.POLLIN, select.POLLOUT
#: while a handshake's direction is unknown, re-try ``establish`` at least this often (s)
_HANDSHAKE_SLICE = 0.01
#: the longest single wait of :func:`wait_h2` (s)
_WAIT_SLICE = 0.01


class _Waiter:
    """One poll object per connection, registered once; the event mask changes only on need."""

    __slots__ = ("poller", "fd", "mask")

    def __init__(self, fd: int) -> None:
        self.poller = select.poll()
        self.fd = fd
        self.mask = _POLLIN
        self.poller.register(fd, _POLLIN)

    def wait(self, mask: int, timeout: float) -> int:
        if mask != self.mask:
            self.poller.modify(self.fd, mask)
            self.mask = mask
        events = self.poller.poll(math.ceil(timeout * 1000) if timeout > 0 else 0)
        return events[0][1] if events else 0


def _waiter(conn: HttpConnection) -> _Waiter | None:
    fd = conn.stream.fileno()
    if fd < 0:
        return None
    waiter = conn._poller
    if not isinstance(waiter, _Waiter) or waiter.fd != fd:
        waiter = conn._poller = _Waiter(fd)
    return waiter


def establish(conn: HttpConnection, deadline: float) -> None:
    """Drive connect and TLS handshake to completion, waiting on the descriptor in between."""
    establish_stream(conn.stream, deadline, conn.host)


def establish_stream(stream: Stream, deadline: float, what: str) -> None:
    """:func:`establish` for a bare stream (before its protocol is known: ALPN decides it)."""
    spins = 0
    waiter: _Waiter | None = None
    while not stream.establish():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stream.close()
            raise ConnectTimeout(f"connecting to {what} missed the deadline")
        fd = stream.fileno()
        if fd < 0:
            continue
        if waiter is None or waiter.fd != fd:
            waiter = _Waiter(fd)
        # A connect wants POLLOUT, a handshake mostly POLLIN; once writability alone did not
        # finish the job, wait for input in short slices (establish is re-tried after each).
        if spins < 2:
            events = waiter.wait(_POLLIN | _POLLOUT, remaining)
            if events & _POLLOUT and not events & _POLLIN:
                spins += 1
        else:
            waiter.wait(_POLLIN | (_POLLOUT if stream.pending else 0), min(remaining, _HANDSHAKE_SLICE))


def wait_h2(conn: H2Connection, requests: Iterable[H2Request], deadline: float, *, grace: float = 0.0) -> None:
    """Poll an HTTP/2 connection until every request in ``requests`` is done, waiting in
    ``poll(2)`` on its descriptor between polls that found nothing: it wakes the moment bytes
    arrive, where a sleep would leave them in the socket (at 1 GB/s a 100 us nap is 100 KB,
    enough to fill a loopback receive buffer and stall the sender). Waits are sliced (10 ms at
    most) so the connection's own checks -- request deadlines reset late streams -- still run.

    :class:`DeadlineExceeded` if requests are still not done ``grace`` seconds after
    ``deadline``: the blocking client gives its requests their own deadlines, which the
    connection enforces, and passes a grace of a second; :func:`~boomnet.http.h2.run_until_done`
    passes none."""
    pending = [r for r in requests if not r.done]
    waiter: _Waiter | None = None
    idle = 0
    while pending:
        if conn.poll():
            pending = [r for r in pending if not r.done]
            continue
        now = time.monotonic()
        if now > deadline + grace:
            raise DeadlineExceeded(f"{len(pending)} HTTP/2 requests not done in time")
        if conn.buffered() or conn.closed_error is not None:
            continue  # bytes (or an end) held inside the stream: no readiness will come for them
        fd = conn.fileno()
        if fd < 0:  # a stream without a descriptor (in memory): spin, then nap
            idle += 1
            if idle > 64:
                time.sleep(0.0001)
            continue
        if waiter is None or waiter.fd != fd:
            waiter = _Waiter(fd)
        waiter.wait(_POLLIN | (_POLLOUT if conn.pending else 0), min(_WAIT_SLICE, max(deadline + grace - now, 0.0) + 0.001))


def exchange(conn: HttpConnection, method: str, head: bytes, body: bytes, deadline: float) -> Response:
    """Send one encoded request on ``conn`` and block until its response is complete."""
    conn.send_encoded(method, head, body)
    stream = conn.stream
    waiter = _waiter(conn)
    continue_by = conn.continue_deadline  # Expect: 100-continue (HttpOptions.expect_continue_timeout)
    while True:
        # Wait only when nothing is held inside the stream: neither decrypted bytes nor an end
        # (a TLS close_notify read together with data) it has yet to report -- the socket may
        # never become readable again for it (a peer waiting for our close_notify).
        if waiter is None or not (stream.buffered() or stream.closed):
            now = time.monotonic()
            if now >= deadline:
                what = head.partition(b" HTTP/")[0].decode("latin-1")
                raise DeadlineExceeded(f"no complete response to {what!r} within the deadline")
            wait_until = deadline
            if continue_by:
                if not conn.waiting_for_continue:
                    continue_by = 0.0  # the 100 (or a final response) came in time
                elif conn.check_continue(now):  # the server stayed silent: body sent anyway
                    continue_by = 0.0
                else:
                    wait_until = min(deadline, continue_by)
            # Wait *before* reading: a poll(2) that returns at once costs less than a read that
            # fails with EAGAIN, and the response is rarely there the instant the request left.
            if waiter is not None and not waiter.wait(_POLLIN | (_POLLOUT if stream.pending else 0), wait_until - now):
                continue  # timed out: re-check the deadline and the 100-continue wait
        responses = conn.poll()
        if responses:
            return responses[0]
