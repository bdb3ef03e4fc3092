"""Message connections through the one generic pool, :class:`boomnet.connect.Pool`, keyed by origin.

    pool = MsgPool(LengthPrefixed(), tls=TlsOptions(ca_file="ca.pem"), max_idle_per_key=4)
    with pool.connection("tls://orders.example:9000") as clt:    # reused, or connected now
        clt.send(b"order")
        reply = clt.recv(timeout=5)
    pool.close()

:class:`PooledClt` is a :class:`~boomnet.msg.Clt` that answers the pool's
:class:`~boomnet.connect.Poolable` questions. ``reusable()`` is ``True`` only for a connection
that can carry a new conversation without mixing it with the last one: established, not closed or
failed (no read error, no write failure), **nothing unread** (no message or partial frame in the
receive buffer, no decrypted TLS bytes held, and one non-blocking read brings neither a message,
a partial frame nor the server's EOF/RST — a read, not a readability check, because over TLS 1.3
the server's session tickets make a socket readable without carrying a message) and **nothing
unsent** (no queued or pending bytes). It is asked on release and again on acquire; anything
else is closed by the pool, never handed out again. ``capacity()`` is 1 while idle and 0 while leased: a message connection is never shared
(the generic pool shares busy connections with capacity, as HTTP/2 wants).

:class:`MsgPool` composes the generic :class:`~boomnet.connect.Pool` (its public API as it is)
with a connector stack (default ``TlsConnector(TcpConnector(tcp), tls)``: ``tcp://`` origins plain,
``tls://`` origins with TLS, verification on) and marks connections leased between
:meth:`MsgPool.acquire` and :meth:`MsgPool.release`. :func:`msg_connector` is the same connect
function for callers who drive a :class:`~boomnet.connect.Pool` themselves (then call
:meth:`PooledClt.lease` / :meth:`PooledClt.unlease` around each use).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, Literal, TypeVar

from ..connect import Connector, Origin, Pool, PoolStats, TcpConnector, TlsConnector
from ..errors import BoomnetError, LocalError
from ..stream.options import TcpOptions, TlsOptions
from .clt import Clt
from .codec import Codec
from .observe import Observer
from .options import MsgOptions

__all__ = ["PooledClt", "MsgPool", "msg_connector", "MSG_SCHEMES"]

M = TypeVar("M")

#: origin schemes a message pool connects to
MSG_SCHEMES = ("tcp", "tls")


class PooledClt(Clt[M]):
    """A :class:`Clt` the generic pool can hold (see the module docstring)."""

    leased = False

    def lease(self) -> None:
        """Mark in use: ``capacity()`` is 0 until :meth:`unlease`."""
        self.leased = True

    def unlease(self) -> None:
        self.leased = False

    def reusable(self) -> bool:
        if self.leased:
            # in use: not for anyone else -- and never read here (the pool asks its busy
            # connections too): a read could take its user's reply or move the bytes their
            # message views show
            return False
        conn = self.conn
        if not conn._ready:
            return False  # never finished connecting
        if self._ready or conn.read_hint():
            # unread messages kept from a batch (before any read: a read could move the bytes
            # their views show); and read_hint says the rest: closed or failed (a read error, a
            # failed write: both close), decrypted bytes held, queued or pending sends (ours or
            # the TLS stream's: a read would flush them), messages from other threads
            return False
        # One non-blocking read (one recv, as cheap as asking poll(2)): a reply nobody read comes
        # back as messages or a partial frame, the peer's EOF/RST as an error -- and over TLS 1.3
        # the session tickets a server sends after the handshake (bytes that make the socket
        # readable without carrying a message) are consumed, so a client that only ever sent
        # is still reusable. Bytes arriving after this read are caught by the check on acquire.
        try:
            batch = conn.read_batch()
        except BoomnetError:
            return False
        if batch:
            self._ready.extend(batch)  # unread input: kept with the connection (which is closed)
            return False
        return not conn._rbuf.undecoded

    def capacity(self) -> int:
        return 0 if self.leased else 1


def msg_connector(
    codec: Codec[M],
    connector: Connector | None = None,
    *,
    tcp: TcpOptions | None = None,
    tls: TlsOptions | None = None,
    timeout: float = 10.0,
    options: MsgOptions | None = None,
    observers: Sequence[Observer[M]] = (),
    spin_sleep: float = 0.0,
) -> Callable[[Origin], PooledClt[M]]:
    """A ``connect(origin)`` for :class:`~boomnet.connect.Pool`: builds the stream with
    ``connector`` (default: TCP, TLS for ``tls://``), waits for the handshake up to ``timeout``
    (spinning, as :meth:`Clt.connect`; :class:`~boomnet.errors.ConnectTimeout` if late) and
    returns a leased :class:`PooledClt`."""
    if not timeout > 0:
        raise LocalError(f"timeout must be positive, not {timeout!r}")
    stack: Connector = connector if connector is not None else TlsConnector(TcpConnector(tcp), tls)

    def connect(origin: Origin) -> PooledClt[M]:
        if origin.scheme not in MSG_SCHEMES:
            raise LocalError(f"a message connection goes to tcp:// or tls://, not {origin}")
        clt: PooledClt[M] = PooledClt(stack.connect(origin), codec, name=str(origin), observers=observers,
                                      options=options, spin_sleep=spin_sleep)
        clt.wait_established(timeout)
        clt.lease()
        return clt

    return connect


class MsgPool(Generic[M]):
    """Pooled message connections per origin (see the module docstring). Pool limits as in
    :class:`~boomnet.connect.Pool`: ``max_idle_per_key``, ``idle_timeout`` (s), ``max_per_key``,
    ``order``; connecting as in :func:`msg_connector`. Use on one thread (as the pool)."""

    def __init__(
        self,
        codec: Codec[M],
        *,
        connector: Connector | None = None,
        tcp: TcpOptions | None = None,
        tls: TlsOptions | None = None,
        timeout: float = 10.0,
        options: MsgOptions | None = None,
        observers: Sequence[Observer[M]] = (),
        spin_sleep: float = 0.0,
        max_idle_per_key: int = 8,
        idle_timeout: float = 30.0,
        max_per_key: int | None = None,
        order: Literal["lifo", "fifo"] = "lifo",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        connect = msg_connector(codec, connector, tcp=tcp, tls=tls, timeout=timeout, options=options,
                                observers=observers, spin_sleep=spin_sleep)
        self.pool: Pool[Origin, PooledClt[M]] = Pool(connect, max_idle_per_key=max_idle_per_key,
                                                     idle_timeout=idle_timeout, max_per_key=max_per_key,
                                                     order=order, clock=clock)

    @staticmethod
    def origin(where: Origin | str) -> Origin:
        """``"tcp://host:port"`` / ``"tls://host:port"`` (or an :class:`Origin`) as an Origin."""
        origin = where if isinstance(where, Origin) else Origin.of(where)
        if origin.scheme not in MSG_SCHEMES:
            raise LocalError(f"a message connection goes to tcp:// or tls://, not {origin}")
        return origin

    def acquire(self, where: Origin | str) -> PooledClt[M]:
        """An idle reusable connection to ``where`` (most recent first), or a new one."""
        clt = self.pool.acquire(self.origin(where))
        clt.lease()
        return clt

    def release(self, where: Origin | str, clt: PooledClt[M], *, clean: bool = True) -> None:
        """Give ``clt`` back; it is kept only if ``clean`` and :meth:`PooledClt.reusable`
        (else closed). Pass ``clean=False`` after an error or an abandoned exchange."""
        clt.unlease()
        self.pool.release(self.origin(where), clt, clean=clean)

    @contextmanager
    def connection(self, where: Origin | str) -> Iterator[PooledClt[M]]:
        """``with pool.connection(origin) as clt:`` — released clean on a normal exit, closed
        if the block raised."""
        clt = self.acquire(where)
        try:
            yield clt
        except BaseException:
            self.release(where, clt, clean=False)
            raise
        self.release(where, clt)

    def expire(self) -> int:
        """Close idle connections past ``idle_timeout``; returns how many."""
        return self.pool.expire()

    def idle(self, where: Origin | str | None = None) -> int:
        """Idle connections to ``where`` (every origin: ``None``)."""
        return self.pool.idle(None if where is None else self.origin(where))

    def in_use(self, where: Origin | str | None = None) -> int:
        """Leased connections to ``where`` (every origin: ``None``)."""
        return self.pool.in_use(None if where is None else self.origin(where))

    @property
    def stats(self) -> PoolStats:
        return self.pool.stats

    def close(self) -> None:
        """Close every connection, idle or leased."""
        self.pool.close()

    def __enter__(self) -> MsgPool[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
