"""``Svc``: a message server — a listener plus one :class:`Clt` per accepted connection.

``Svc.bind(host, port, codec=...)`` listens (``port=0`` picks a free port: see ``address``);
``Svc.bind_unix(path, ...)`` on a Unix socket; ``tls=TlsServerOptions(certfile, keyfile, ...)``
makes every connection TLS. Two ways to drive it, both on the caller's thread:

* blocking style: ``clt = svc.accept(timeout)`` spins (as :class:`Clt` does) until a client
  connected and finished its handshake, then talk to that ``clt``;
* busy-poll style: ``for clt, msg in svc.poll(): ...`` — one non-blocking pass that accepts
  waiting connections, advances TLS handshakes and reads from every client once. Clients that
  closed or failed are dropped from :attr:`clients` and reported in :attr:`disconnected`
  (``(clt, error)`` pairs, cleared by the next pass).

``max_connections`` bounds the clients: one more is accepted and closed at once (logged), so it
sees a clean EOF instead of hanging in the backlog. ``broadcast(msg)`` queues ``msg`` on every
client and flushes; clients whose send budget is full are returned (not silently skipped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Generic, TypeVar

from ..errors import BoomnetError, DeadlineExceeded, LocalError, SendBufferFull
from ..service.select import EpollSelector
from ..stream.base import Stream
from ..stream.listener import Listener, TcpListener, UnixListener
from ..stream.tls_server import TlsServerOptions, TlsServerStream, server_context
from .clt import Clt
from .codec import Codec
from .observe import Observer
from .options import MsgOptions

__all__ = ["Svc"]

log = logging.getLogger("boomnet.msg")

M = TypeVar("M")


class _Token:
    __slots__ = ("target",)

    def __init__(self, target: Listener) -> None:
        self.target = target


class Svc(Generic[M]):
    """A message server over ``listener`` (see the module docstring)."""

    def __init__(
        self,
        listener: Listener,
        codec: Codec[M],
        *,
        tls: TlsServerOptions | None = None,
        max_connections: int = 1024,
        observers: Sequence[Observer[M]] = (),
        options: MsgOptions | None = None,
        spin_sleep: float = 0.0,
    ) -> None:
        if max_connections < 1:
            raise LocalError(f"max_connections must be positive, not {max_connections!r}")
        if tls is not None:
            server_context(tls)  # bad certificate/key files fail here, not at the first client
        self.listener = listener
        self.codec = codec
        self.tls = tls
        self.max_connections = max_connections
        self.observers = list(observers)
        self.options = options
        self.spin_sleep = spin_sleep
        #: established clients, in accept order
        self.clients: list[Clt[M]] = []
        #: clients dropped by the last :meth:`poll`, with the reason
        self.disconnected: list[tuple[Clt[M], BaseException]] = []
        self._handshaking: list[tuple[Clt[M], float]] = []
        # Readiness for the non-blocking pass: one epoll_wait(0) says which clients (and whether
        # the listener) have something, so a pass costs syscalls per *ready* client only.
        self._selector = EpollSelector()
        self._listen_token = _Token(listener)
        self._selector.register(self._listen_token)

    @classmethod
    def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, codec: Codec[M], tls: TlsServerOptions | None = None,
        max_connections: int = 1024, backlog: int = 1024, **kw: object,
    ) -> Svc[M]:
        """Listen on TCP ``host:port`` (``port=0``: a free port)."""
        if tls is not None:
            server_context(tls)  # before binding: bad certificate files must not leak a listener
        return cls(TcpListener.bind(host, port, backlog=backlog), codec, tls=tls, max_connections=max_connections, **kw)  # type: ignore[arg-type]

    @classmethod
    def bind_unix(cls, path: str, *, codec: Codec[M], tls: TlsServerOptions | None = None, **kw: object) -> Svc[M]:
        """Listen on the Unix socket ``path``."""
        if tls is not None:
            server_context(tls)
        return cls(UnixListener.bind(path), codec, tls=tls, **kw)  # type: ignore[arg-type]

    @property
    def address(self) -> object:
        """The bound address: ``(host, port)`` for TCP, the path for Unix."""
        return self.listener.address

    # --- accepting ------------------------------------------------------------------------------

    def _wrap(self, stream: Stream) -> Clt[M]:
        if self.tls is not None:
            stream = TlsServerStream(stream, self.tls)
        return Clt(stream, self.codec, observers=self.observers, options=self.options, spin_sleep=self.spin_sleep)

    def _accept_waiting(self) -> None:
        accept = self.listener.accept
        while True:
            stream = accept()
            if stream is None:
                return
            if len(self.clients) + len(self._handshaking) >= self.max_connections:
                log.warning("%r: refusing a connection from %s: max_connections=%d reached", self, getattr(stream, "description", "?"), self.max_connections)
                stream.close()
                continue
            deadline = time.monotonic() + (self.tls.handshake_timeout if self.tls else 10.0)
            self._handshaking.append((self._wrap(stream), deadline))

    def _advance_handshakes(self) -> list[Clt[M]]:
        done: list[Clt[M]] = []
        still: list[tuple[Clt[M], float]] = []
        for clt, deadline in self._handshaking:
            try:
                if clt.conn.establish():
                    done.append(clt)
                    continue
            except BoomnetError as e:
                log.info("%r: handshake with %s failed: %s", self, clt.name, e)
                clt.close()
                self.disconnected.append((clt, e))
                continue
            still.append((clt, deadline))
        self._handshaking = still
        self.clients.extend(done)
        for clt in done:
            self._selector.register(clt)  # a Clt is its own token (target is itself)
        return done

    def accept(self, timeout: float | None = None) -> Clt[M]:
        """The next client that connected and finished its handshake, spinning up to ``timeout``.

        Clients accepted this way are also in :attr:`clients` (and read by :meth:`poll`)."""
        end = None if timeout is None else time.monotonic() + timeout
        queue: list[Clt[M]] = []
        while True:
            self._accept_waiting()
            queue.extend(self._advance_handshakes())
            if queue:
                return queue[0]
            if end is not None and time.monotonic() > end:
                raise DeadlineExceeded(f"{self!r}: no client within {timeout}s")
            time.sleep(self.spin_sleep)  # 0: a yield to the connecting peer (see boomnet.msg.clt)

    # --- the non-blocking pass ------------------------------------------------------------------

    def poll(self) -> list[tuple[Clt[M], M]]:
        """Accept, advance handshakes and read every client that has something, once;
        ``(client, message)`` pairs (messages valid until that client's next read).

        A client that closes or breaks the protocol is removed (its messages before that are
        still returned) and listed in :attr:`disconnected` until the next pass."""
        if self.disconnected:
            self.disconnected.clear()
        if self._handshaking:
            self._advance_handshakes()
        out: list[tuple[Clt[M], M]] = []
        dead: list[Clt[M]] | None = None
        listen_token: object = self._listen_token
        for token in self._selector.select():
            if token is listen_token:
                self._accept_waiting()
                if self._handshaking:
                    self._advance_handshakes()
                continue
            clt: Clt[M] = token  # type: ignore[assignment]  # every other token is a Clt
            try:
                batch = clt.recv_batch()
            except BoomnetError as e:
                if dead is None:
                    dead = []
                dead.append(clt)
                self.disconnected.append((clt, e))
                continue
            if batch:
                out.extend([(clt, m) for m in batch])
        if dead:
            for clt in dead:
                self._drop(clt)
        return out

    def _drop(self, clt: Clt[M]) -> None:
        self._selector.unregister(clt)
        clt.close()
        if clt in self.clients:
            self.clients.remove(clt)

    def wait(self, timeout: float) -> None:
        """Opt-in idle strategy (as ``IOService.wait``): sleep in epoll up to ``timeout`` s when
        the last pass found nothing to do; returns the moment a client or the listener has news."""
        if not self._handshaking:
            self._selector.wait(timeout)

    def broadcast(self, msg: M) -> list[Clt[M]]:
        """Queue ``msg`` on every client and flush; returns the clients that could not take it
        (send budget full: they are not reading) — for the caller to decide about."""
        full: list[Clt[M]] = []
        for clt in self.clients:
            try:
                clt.conn.push(msg)
            except SendBufferFull:
                full.append(clt)
                continue
            try:
                clt.conn.flush()
            except BoomnetError:
                pass  # the next poll reports the broken client
        return full

    def close(self) -> None:
        """Close the listener and every client."""
        for clt, _ in self._handshaking:
            clt.close()
        for clt in self.clients:
            clt.close()
        self._handshaking.clear()
        self.clients.clear()
        self._selector.close()
        self.listener.close()

    def __enter__(self) -> Svc[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Svc {self.address!r} clients={len(self.clients)}>"
