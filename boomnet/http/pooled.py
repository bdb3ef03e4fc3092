"""One HTTP connection of either version as :class:`boomnet.connect.Pool` sees it.

The pool is generic (:mod:`boomnet.connect.pool`); what is HTTP about a pooled connection is
here, in the three answers it gives the pool:

* ``reusable()`` -- HTTP/1.1: nothing in flight, neither side asked to close, and (when it comes
  back from idle) a non-blocking probe finds no EOF, reset or unsolicited bytes; HTTP/2: not
  draining after a GOAWAY and not dead (an idle one is polled first, so a GOAWAY or EOF that
  came while it idled is seen).
* ``capacity()`` -- HTTP/1.1: 1 when idle and not leased, else 0 (one request at a time);
  HTTP/2: ``MAX_CONCURRENT_STREAMS`` minus the streams in flight (shared until the limit).
* ``close()``.

A connection is created *connecting*: its protocol is unknown until the stream is established
and ALPN (or prior knowledge) decides; :meth:`PooledConnection.speak` then builds the
HTTP/1.1 or HTTP/2 connection over the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connect import Origin
from ..stream.base import Stream
from ..url import Url
from .connection import HttpConnection
from .options import HttpOptions

if TYPE_CHECKING:
    from .h2 import H2Connection

__all__ = ["PooledConnection", "authority"]


def authority(origin: Origin) -> str:
    """The ``Host`` / ``:authority`` value of ``origin`` (the port only when not the default)."""
    return Url(origin.scheme, origin.host, origin.port, "/").host_header


class PooledConnection:
    """A pooled HTTP connection (see the module doc). ``h1`` / ``h2``: the protocol connection
    once established (exactly one is set); ``leased``: in use by a request right now."""

    __slots__ = ("origin", "stream", "h1", "h2", "leased", "uses")

    def __init__(self, origin: Origin, stream: Stream) -> None:
        self.origin = origin
        self.stream = stream
        self.h1: HttpConnection | None = None
        self.h2: H2Connection | None = None
        self.leased = False
        #: requests started on it so far (a reused connection has ``uses > 0``)
        self.uses = 0

    @property
    def http_version(self) -> str | None:
        """``"1.1"``, ``"2"``, or ``None`` while connecting."""
        return "1.1" if self.h1 is not None else "2" if self.h2 is not None else None

    def speak(self, version: str, options: HttpOptions) -> None:
        """Build the protocol connection over the established stream."""
        host = authority(self.origin)
        if version == "2":
            from .h2 import H2Connection

            self.h2 = H2Connection(self.stream, host, scheme=self.origin.scheme, limits=options.limits)
            self.h2.establish()  # the stream is up: this sends the connection preface
        else:
            self.h1 = HttpConnection(self.stream, host, options, key=self.origin)

    def fileno(self) -> int:
        return self.stream.fileno()

    # --- Poolable -------------------------------------------------------------------------------

    def reusable(self) -> bool:
        h1 = self.h1
        if h1 is not None:
            # probing costs a poll(2): only for a connection coming back from idle (one just
            # released was in use a moment ago, its state is what ``idle`` says)
            return h1.idle and (self.leased or h1.is_alive())
        h2 = self.h2
        if h2 is not None:
            if not self.leased:
                h2.poll()  # frames that came while it idled: a GOAWAY, a PING, an EOF
            return h2.available
        return False

    def capacity(self) -> int:
        h1 = self.h1
        if h1 is not None:
            return 0 if self.leased or not h1.idle else 1
        h2 = self.h2
        if h2 is not None:
            return max(0, h2.max_concurrent - h2.in_flight)
        return 0

    def close(self) -> None:
        if self.h1 is not None:
            self.h1.close()
        elif self.h2 is not None:
            self.h2.close()
        else:
            self.stream.close()

    def __repr__(self) -> str:
        return f"<PooledConnection {self.origin} HTTP/{self.http_version or '?'} uses={self.uses}>"
