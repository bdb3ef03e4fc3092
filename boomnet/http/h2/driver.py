"""The HTTP/2 half of :class:`~boomnet.http.HttpEndpoint`: the endpoint's requests on one
:class:`H2Connection`, and what becomes of each when its stream or the connection ends.

The endpoint keeps one queue of :class:`~boomnet.http.pending.HttpRequest` whatever the
protocol; when the connection negotiated ``h2`` this driver takes requests off it (all of them:
beyond the server's ``MAX_CONCURRENT_STREAMS`` they wait inside the connection, in order) and
hands back, per finished stream, the request with its response, its error, or the verdict that
it must go out again:

* a response, or a failure of that stream alone (RST_STREAM, a limit, its deadline: the stream is
  reset and the connection stays clean for the others);
* *again* when the server certainly did not process it: above a GOAWAY's last stream id,
  ``REFUSED_STREAM``, or never written (still queued inside the connection when it ended);
* when a connection ends otherwise, the requests it had written may have been processed: the
  endpoint re-sends idempotent ones once and fails the others, as over HTTP/1.1.

What the endpoint does with each outcome, and how a draining connection finishes its streams
on the side while the endpoint connects again: :mod:`boomnet.http.h2.handover`.
"""

from __future__ import annotations

from collections.abc import Iterable
from ..pending import HttpRequest
from .connection import H2Connection, H2Request

__all__ = ["H2Driver", "Outcome"]

#: a request and its stream (``done`` unless the connection ended first)
Outcome = tuple[HttpRequest, H2Request]


class H2Driver:
    """Requests of one endpoint on one HTTP/2 connection."""

    __slots__ = ("conn", "_pairs", "answered")

    def __init__(self, conn: H2Connection) -> None:
        self.conn = conn
        self._pairs: dict[int, tuple[H2Request, HttpRequest]] = {}  # id(stream request) -> both
        #: responses this connection delivered (a connection that answered nothing and ended
        #: gets the service's back-off, not a quick reconnect)
        self.answered = 0

    @property
    def in_flight(self) -> int:
        return len(self._pairs)

    def submit(self, requests: Iterable[HttpRequest]) -> None:
        """Put ``requests`` on the connection (the caller checked ``conn.available``)."""
        conn = self.conn
        for req in requests:
            req.sends += 1
            h2req = conn.request(req.method, req.target, req.headers, req.body, deadline=req.deadline)
            self._pairs[id(h2req)] = (h2req, req)

    def poll(self) -> list[Outcome]:
        """Advance the connection; the requests whose streams finished now."""
        done = self.conn.poll()
        if not done:
            return []
        out = []
        for h2req in done:
            pair = self._pairs.pop(id(h2req), None)
            if pair is not None:
                out.append((pair[1], h2req))
                if h2req.response is not None:
                    self.answered += 1
        return out

    def end(self) -> list[Outcome]:
        """The connection is gone: every request still on it (a last poll delivers what had
        arrived; the streams that did not finish are returned as they are)."""
        out = self.poll()
        out += [(req, h2req) for h2req, req in self._pairs.values()]
        self._pairs.clear()
        return out

    @staticmethod
    def again(h2req: H2Request) -> bool:
        """Whether the request must go out again: the server certainly did not process it (the
        connection marks such failures ``retry``, requests it never wrote among them)."""
        return h2req.response is None and h2req.retry
