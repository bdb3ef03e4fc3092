"""``HttpTarget``: one HTTP connection whose version is decided when its stream is up.

Before the TLS handshake nobody knows whether the server will speak HTTP/2 or HTTP/1.1, so the
:class:`~boomnet.http.HttpEndpoint` target (and each connection of the blocking client's pool)
starts as a bare connecting stream. :meth:`HttpTarget.establish` drives it, then asks
:func:`~boomnet.http.negotiate.choose` (ALPN's answer, or prior knowledge on plain TCP) and
builds the protocol connection over the same stream: ``h1`` (:class:`HttpConnection`) or ``h2``
(:class:`~boomnet.http.h2.H2Connection`, imported only then: h2 is an extra). It is a
:class:`~boomnet.service.target.Target` throughout.

:meth:`HttpTarget.detach` moves the live connection into a new target and leaves this one an
empty shell (closing it does nothing, its ``fileno()`` is -1): how
:class:`~boomnet.http.HttpEndpoint` lets an HTTP/2 connection finish its streams after a GOAWAY
under another registration while the service replaces the endpoint's own (see
:mod:`boomnet.http.h2.handover`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidState
from ..stream.base import Stream
from .connection import HttpConnection
from .negotiate import choose
from .options import HttpOptions

if TYPE_CHECKING:
    from .h2 import H2Connection

__all__ = ["HttpTarget"]


class HttpTarget:
    """``stream`` to an origin (``secure``: TLS, so ALPN decides); ``authority``: the ``Host`` /
    ``:authority`` value; ``h1`` / ``h2``: the protocol connection once established."""

    __slots__ = ("_stream", "secure", "authority", "scheme", "options", "h1", "h2")

    def __init__(self, stream: Stream, *, secure: bool, authority: str, scheme: str, options: HttpOptions) -> None:
        self._stream: Stream | None = stream
        self.secure = secure
        self.authority = authority
        self.scheme = scheme
        self.options = options
        self.h1: HttpConnection | None = None
        self.h2: H2Connection | None = None

    @property
    def stream(self) -> Stream:
        """The stream underneath. A detached shell has none: ``AttributeError`` (the service
        closes ``getattr(target, "stream", None)`` with a target, so a shell must not expose the
        stream it gave away)."""
        stream = self._stream
        if stream is None:
            raise AttributeError(f"{self!r} has no stream: detach() moved it to another target")
        return stream

    @property
    def detached(self) -> bool:
        """The connection was moved to another target (:meth:`detach`): this one owns nothing."""
        return self._stream is None

    @property
    def http_version(self) -> str | None:
        """``"1.1"``, ``"2"``, or ``None`` while connecting."""
        return "1.1" if self.h1 is not None else "2" if self.h2 is not None else None

    def detach(self) -> HttpTarget:
        """A new target owning this one's stream and connection; this one is left empty (its
        ``close()`` does nothing, ``fileno()`` is -1, ``establish()`` is ``False``)."""
        stream = self._stream
        if stream is None:
            raise InvalidState(f"{self!r} was already detached")
        other = HttpTarget(stream, secure=self.secure, authority=self.authority, scheme=self.scheme,
                           options=self.options)
        other.h1, other.h2 = self.h1, self.h2
        self.h1 = self.h2 = None
        self._stream = None
        return other

    def establish(self) -> bool:
        stream = self._stream
        if stream is None:
            return False
        if self.h1 is not None:
            return True
        if self.h2 is not None:
            return self.h2.establish()
        if not stream.establish():
            return False
        if choose(stream, self.secure, self.options) == "2":
            from .h2 import H2Connection

            self.h2 = H2Connection(stream, self.authority, scheme=self.scheme, limits=self.options.limits)
            return self.h2.establish()  # the stream is up: this sends the connection preface
        self.h1 = HttpConnection(stream, self.authority, self.options)
        return True

    def fileno(self) -> int:
        return -1 if self._stream is None else self._stream.fileno()

    def read_hint(self) -> int:
        conn = self.h1 or self.h2
        if conn is not None:
            return conn.read_hint()
        return 0 if self._stream is None else self._stream.read_hint()

    def close(self) -> None:
        conn = self.h1 or self.h2
        if conn is not None:
            conn.close()
        elif self._stream is not None:  # (a detached shell owns nothing to close)
            self._stream.close()

    def __repr__(self) -> str:
        state = "detached" if self._stream is None else f"HTTP/{self.http_version or '?'}"
        return f"<{type(self).__name__} {self.scheme}://{self.authority} {state}>"
