"""Message connections on the IOService: a client endpoint and a listener endpoint.

:class:`MsgEndpoint` connects (TCP, optionally TLS) and reconnects like every endpoint; its
target is a :class:`~boomnet.msg.Connection`. Override :meth:`MsgEndpoint.on_message`; send
with ``conn.push(msg)`` (goes out at the end of this poll) or ``conn.send(msg)`` (now).

:class:`ListenerEndpoint` listens; each accepted connection becomes an :class:`AcceptedEndpoint`
registered with the same service (so every connection is polled by the one busy-poll loop) and
driven by its own :class:`Reactor` from ``reactor_factory(conn)``: ``on_connected(conn, ctx)``,
``on_message(conn, msg, ctx)``, ``on_disconnect(conn, reason, ctx)``. Accepted connections are
not reconnected (the client will connect again); the listener is re-bound if it fails.

Other threads: ``endpoint.sender(conn)`` / ``conn.push_threadsafe(msg)`` after
``enable_threads(conn)`` — the message is handed to the loop thread, which wakes at once (see
:mod:`boomnet.msg.wake`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..errors import InvalidState, SendBufferFull
from ..service.endpoint import Disconnect, Endpoint
from ..service.resolver import Address
from ..service.stream_endpoint import StreamEndpoint
from ..stream.base import Stream
from ..stream.listener import Listener, TcpListener, UnixListener
from ..stream.options import TcpOptions, TlsOptions
from ..stream.tls_server import TlsServerOptions, TlsServerStream, server_context
from .codec import Codec
from .connection import Connection
from .observe import Observer
from .options import MsgOptions
from .wake import loop_caller, register_with

__all__ = ["MsgEndpoint", "ListenerEndpoint", "AcceptedEndpoint", "Reactor", "enable_threads"]

log = logging.getLogger("boomnet.msg")

M = TypeVar("M")
C = TypeVar("C")


def enable_threads(endpoint: Endpoint[Any, Any], conn: Connection[Any]) -> None:
    """Let other threads ``conn.push_threadsafe(msg)``: each push wakes ``endpoint``'s loop,
    which sends it on the loop thread. Call on the loop thread (e.g. in ``on_connected``)."""
    call = loop_caller(endpoint)
    flush = conn.flush

    def wake() -> None:
        call(flush)

    conn.wake = wake


def _poll_connection(conn: Connection[M], handler: Callable[[Connection[M], M, Any], object], ctx: Any) -> None:
    # Hot path: one read, every whole message to the handler, then what the handler queued out.
    # While this connection's own handlers run, its pushes need no poll_soon (flushed below).
    hook = conn.on_queued
    conn.on_queued = None
    try:
        for msg in conn.read_batch():
            handler(conn, msg, ctx)
    finally:
        conn.on_queued = hook
    if conn._queued:
        conn.flush_or_defer()  # a reset peer: the next poll still reads what it sent, then reports


def _watch_queue(endpoint: Endpoint[Any, Any], conn: Connection[Any]) -> None:
    """A push from outside this connection's own poll (another endpoint's handler, a timer)
    asks the service to poll it soon, so the message goes out on the next ``poll()`` even if the
    socket never becomes readable."""
    control = endpoint.control
    conn.on_queued = control.poll_soon if control is not None else None


class MsgEndpoint(StreamEndpoint[Connection[M], Any], Generic[M]):
    """A message client on the IOService (see the module docstring). ``tls=True`` or a
    :class:`TlsOptions` adds TLS (verifying ``host`` unless told otherwise); other keywords are
    :class:`TcpOptions` / :class:`TlsOptions` fields (``connect_timeout=``, ``ca_file=``, ...)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        codec: Codec[M],
        tls: TlsOptions | bool | None = None,
        tcp: TcpOptions | None = None,
        options: MsgOptions | None = None,
        observers: Sequence[Observer[M]] = (),
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Any = None,
        **overrides: Any,
    ) -> None:
        super().__init__(
            host, port, secure=bool(tls), tcp=tcp, tls=tls if isinstance(tls, TlsOptions) else None,
            auto_disconnect=auto_disconnect, backoff=backoff, **overrides,
        )
        self.codec = codec
        self.options = options
        self.observers = list(observers)
        if options is not None and options.idle_timeout is not None:
            self.every(max(0.05, options.idle_timeout / 4), self._check_liveness)

    def _check_liveness(self, conn: Connection[M], ctx: Any) -> None:
        control = self.control
        conn.check_liveness(control.now() if control is not None else time.monotonic())

    def create_target(self, addr: Address | None, ctx: Any) -> Connection[M]:
        conn = Connection(self.create_stream(addr), self.codec, name=self.describe(), observers=self.observers, options=self.options)
        _watch_queue(self, conn)
        return conn

    def create_replay_target(self, stream: Any, ctx: Any) -> Connection[M]:
        return Connection(stream, self.codec, name=self.describe(), observers=self.observers, options=self.options)

    def poll(self, conn: Connection[M], ctx: Any) -> None:
        _poll_connection(conn, self.on_message, ctx)

    def on_message(self, conn: Connection[M], msg: M, ctx: Any) -> None:
        """One message (a memoryview payload is valid until this poll returns)."""


class Reactor(Generic[M]):
    """Per-connection handler of a :class:`ListenerEndpoint` (override what you need)."""

    def on_connected(self, conn: Connection[M], ctx: Any) -> None:
        """The connection is established (TLS handshake done)."""

    def on_message(self, conn: Connection[M], msg: M, ctx: Any) -> None:
        """One message from this connection; answer with ``conn.push(reply)``."""

    def on_disconnect(self, conn: Connection[M], reason: Disconnect, ctx: Any) -> None:
        """The connection ended (``reason.error`` says why)."""


class AcceptedEndpoint(Endpoint[Connection[M], Any], Generic[M]):
    """One accepted connection, registered with the listener's service (``host=None``)."""

    def __init__(self, conn: Connection[M], reactor: Reactor[M], listener: ListenerEndpoint[M]) -> None:
        super().__init__(None, None)
        self.conn: Connection[M] | None = conn
        self.reactor = reactor
        self.listener = listener
        self.on_message = reactor.on_message

    def create_target(self, addr: Address | None, ctx: Any) -> Connection[M]:
        conn = self.conn
        if conn is None:
            raise ValueError(f"{self!r}: an accepted connection cannot be re-created")
        return conn

    def on_connected(self, conn: Connection[M], ctx: Any) -> None:
        self.listener._live.add(self)
        _watch_queue(self, conn)
        self.reactor.on_connected(conn, ctx)

    def poll(self, conn: Connection[M], ctx: Any) -> None:
        _poll_connection(conn, self.on_message, ctx)

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        conn, self.conn = self.conn, None
        self.listener._live.discard(self)
        if conn is not None:
            self.reactor.on_disconnect(conn, reason, ctx)
        return False

    def describe(self) -> str:
        return self.conn.name if self.conn is not None else "accepted (closed)"


class ListenerEndpoint(Endpoint[Listener, Any], Generic[M]):
    """Listens on ``host:port`` (or the Unix socket ``path``) and hands each accepted connection
    to ``reactor_factory(conn)`` (see the module docstring). ``tls``: server TLS options.
    ``max_connections``: one more is accepted and closed at once (logged). ``accept_batch``:
    connections accepted per poll (bounds the time one poll spends accepting)."""

    def __init__(
        self,
        host: str | None = "127.0.0.1",
        port: int = 0,
        *,
        codec: Codec[M],
        reactor_factory: Callable[[Connection[M]], Reactor[M]],
        path: str | None = None,
        tls: TlsServerOptions | None = None,
        max_connections: int = 1024,
        backlog: int = 1024,
        accept_batch: int = 64,
        options: MsgOptions | None = None,
        observers: Sequence[Observer[M]] = (),
    ) -> None:
        super().__init__(None, None)  # no DNS: create_target binds
        if tls is not None:
            server_context(tls)  # bad certificate/key files fail here, not at the first client
        self.bind_host = host
        self.bind_port = port
        self.path = path
        self.codec = codec
        self.reactor_factory = reactor_factory
        self.tls = tls
        self.max_connections = max_connections
        self.backlog = backlog
        self.accept_batch = accept_batch
        self.options = options
        self.observers = list(observers)
        self.listener: Listener | None = None
        self._live: set[AcceptedEndpoint[M]] = set()

    @property
    def address(self) -> Any:
        """The bound address once listening (``None`` before)."""
        return self.listener.address if self.listener is not None else None

    @property
    def connections(self) -> list[Connection[M]]:
        """The live accepted connections."""
        return [ep.conn for ep in self._live if ep.conn is not None]

    def create_target(self, addr: Address | None, ctx: Any) -> Listener:
        if self.path is not None:
            self.listener = UnixListener.bind(self.path, backlog=self.backlog)
        else:
            self.listener = TcpListener.bind(self.bind_host or "127.0.0.1", self.bind_port, backlog=self.backlog)
            self.bind_port = self.listener.address[1]  # a re-bind after a failure keeps the port
        return self.listener

    def poll(self, listener: Listener, ctx: Any) -> None:
        for _ in range(self.accept_batch):
            accepted_stream = listener.accept()
            if accepted_stream is None:
                return
            stream: Stream = accepted_stream
            if len(self._live) >= self.max_connections:
                log.warning("%r: refusing %s: max_connections=%d reached", self, getattr(stream, "description", "?"), self.max_connections)
                stream.close()
                continue
            if self.tls is not None:
                stream = TlsServerStream(stream, self.tls)
            conn: Connection[M] = Connection(stream, self.codec, observers=self.observers, options=self.options)
            accepted = AcceptedEndpoint(conn, self.reactor_factory(conn), self)
            self._live.add(accepted)
            register_with(self, accepted)

    def broadcast(self, msg: M) -> list[Connection[M]]:
        """Queue ``msg`` on every live connection and flush; returns the connections that could
        not take it (send budget full: not reading; or closed) — as :meth:`Svc.broadcast` does,
        for the caller to decide about. One slow reader never stops the rest."""
        refused: list[Connection[M]] = []
        for ep in list(self._live):
            conn = ep.conn
            if conn is None:
                continue
            try:
                conn.push(msg)
            except (SendBufferFull, InvalidState):
                refused.append(conn)
                continue
            conn.flush_or_defer()
        return refused

    def describe(self) -> str:
        if self.path is not None:
            return f"listen:unix:{self.path}"
        return f"listen:{self.bind_host}:{self.bind_port}"
