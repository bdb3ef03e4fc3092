"""One HTTP connection of either version as :class:`boomnet.connect.Pool` sees it.

The pool is generic (:mod:`boomnet.connect.pool`); what is HTTP about a pooled connection is
here, in the three answers it gives the pool:

* ``reusable()`` -- HTTP/1.1: nothing in flight, neither side asked to close, and (when it comes
  back from idle) a non-blocking probe finds no EOF, reset or unsolicited bytes; HTTP/2: not
  draining after a GOAWAY and not dead (an idle one is polled first, so a GOAWAY or EOF that
  came while it idled is seen). A connection still connecting is not reusable.
* ``capacity()`` -- HTTP/1.1: 1 when idle and not leased, else 0 (one request at a time);
  HTTP/2: ``MAX_CONCURRENT_STREAMS`` minus the streams in flight (shared until the limit).
* ``close()``.

It is created *connecting* (an :class:`~boomnet.http.target.HttpTarget`): its protocol is
known once the stream is established and ALPN (or prior knowledge) decided.
"""

from __future__ import annotations

from ..connect import Origin
from ..stream.base import Stream
from ..url import Url
from .options import HttpOptions
from .target import HttpTarget

__all__ = ["PooledConnection", "authority"]


def authority(origin: Origin) -> str:
    """The ``Host`` / ``:authority`` value of ``origin`` (the port only when not the default)."""
    return Url(origin.scheme, origin.host, origin.port, "/").host_header


class PooledConnection(HttpTarget):
    """A pooled HTTP connection (see the module doc). ``leased``: in use by a request now."""

    __slots__ = ("origin", "leased", "uses")

    def __init__(self, origin: Origin, stream: Stream, options: HttpOptions) -> None:
        super().__init__(stream, secure=origin.secure, authority=authority(origin), scheme=origin.scheme,
                         options=options)
        self.origin = origin
        self.leased = False
        #: requests started on it so far (a reused connection has ``uses > 0``)
        self.uses = 0

    # --- Poolable -------------------------------------------------------------------------------

    def reusable(self) -> bool:
        h1 = self.h1
        if h1 is not None:
            # probing costs a poll(2): only for a connection coming back from idle (one just
            # released was in use a moment ago, its state is what ``idle`` says); is_alive()
            # checks ``idle`` itself
            return h1.idle if self.leased else h1.is_alive()
        h2 = self.h2
        if h2 is not None:
            if not self.leased:
                h2.poll()  # frames that came while it idled: a GOAWAY, a PING, an EOF
            return h2.available
        return False

    def capacity(self) -> int:
        h1 = self.h1
        if h1 is not None:
            return 0 if self.leased else 1 if h1.idle else 0
        h2 = self.h2
        if h2 is not None:
            return max(0, h2.max_concurrent - h2.in_flight)
        return 0

    def __repr__(self) -> str:
        return f"<PooledConnection {self.origin} HTTP/{self.http_version or '?'} uses={self.uses}>"
