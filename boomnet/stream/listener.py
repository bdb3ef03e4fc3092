"""Server-side streams: TCP and Unix listeners with non-blocking accept.

A listener owns one non-blocking listening socket. :meth:`Listener.accept` returns the next
accepted connection as a ready stream (:class:`TcpStream` with TCP_NODELAY, or
:class:`UnixStream`), or ``None`` when no connection is waiting — it never blocks, so a
busy-poll loop (or an IOService endpoint: a listener is a ``Target``) calls it freely.

Accept errors that concern one connection only (the client reset it before we took it) are
skipped; running out of descriptors (EMFILE/ENFILE) raises :class:`ConnectError` naming the limit,
because retrying cannot help until something is closed.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Any

from ..errors import ConnectError, LocalError
from ..url import host_port
from .socket_stream import SocketStream
from .tcp import TcpStream
from .unix import UnixStream

__all__ = ["Listener", "TcpListener", "UnixListener"]

_SKIP = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENOBUFS, errno.ENOMEM, errno.EINTR}


class Listener:
    """A non-blocking listening socket. Build with :meth:`TcpListener.bind` / :meth:`UnixListener.bind`."""

    __slots__ = ("_closed", "_sock", "accepted", "address")

    stream_type: type[SocketStream] = SocketStream

    def __init__(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(False)
        self._sock: socket.socket | None = sock
        #: the bound address: ``(host, port)`` for TCP (the real port when 0 was asked), a path for Unix
        self.address = address
        #: connections accepted so far
        self.accepted = 0
        self._closed = False

    def accept(self) -> SocketStream | None:
        """The next waiting connection as a ready stream, or ``None``; never blocks."""
        sock = self._sock
        if sock is None:
            raise ConnectError(f"listener on {self.address!r} is closed")
        while True:
            try:
                conn, peer = sock.accept()
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as e:
                if e.errno in _SKIP:
                    continue  # that one connection is gone; look at the next
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    raise ConnectError(f"cannot accept on {self.address!r}: out of file descriptors ({e.strerror}); raise RLIMIT_NOFILE") from e
                raise ConnectError(f"accept on {self.address!r} failed: {e.strerror or e}") from e
            self.accepted += 1
            return self._wrap(conn, peer)

    def _wrap(self, conn: socket.socket, peer: Any) -> SocketStream:
        name = host_port(peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
        return self.stream_type(conn, name)

    # --- Target: an IOService endpoint can own a listener ---------------------------------------

    def establish(self) -> bool:
        return True

    def fileno(self) -> int:
        sock = self._sock
        return sock.fileno() if sock is not None else -1

    def read_hint(self) -> int:
        return 1 if self._closed else 0

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address!r}{' closed' if self._closed else ''}>"


class TcpListener(Listener):
    """Listens on TCP (IPv4 or IPv6); accepted connections are :class:`TcpStream` with TCP_NODELAY."""

    __slots__ = ()

    stream_type = TcpStream

    @classmethod
    def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, backlog: int = 1024, reuse_port: bool = False
    ) -> TcpListener:
        """Bind and listen. ``port=0`` picks a free port (see :attr:`address`). ``reuse_port``
        sets SO_REUSEPORT (several processes sharing one port). Raises :class:`ConnectError` if
        the address is in use or not permitted; :class:`LocalError` for a bad port/backlog."""
        if not 0 <= port <= 65535:
            raise LocalError(f"port must be in 0..65535, not {port!r}")
        if backlog < 1:
            raise LocalError(f"backlog must be positive, not {backlog!r}")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as e:
            raise ConnectError(f"cannot bind to {host!r}: {e}") from e
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
        except OSError as e:
            sock.close()
            raise ConnectError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        return cls(sock, sock.getsockname()[:2])


class UnixListener(Listener):
    """Listens on a Unix socket path (or a Linux abstract name given with a leading ``"@"``)."""

    __slots__ = ("_path",)

    stream_type = UnixStream

    def __init__(self, sock: socket.socket, address: Any) -> None:
        super().__init__(sock, address)
        self._path = address if isinstance(address, str) and not address.startswith("\0") else None

    @classmethod
    def bind(cls, path: str | os.PathLike[str], *, backlog: int = 1024, unlink_stale: bool = True) -> UnixListener:
        """Bind and listen on ``path``. A stale *socket* file left by a dead server is removed
        first (``unlink_stale``); any other file there is refused (ConnectError)."""
        address = os.fspath(path)
        if address.startswith("@"):
            address = "\0" + address[1:]
        elif unlink_stale and os.path.exists(address):
            if not stat.S_ISSOCK(os.stat(address).st_mode):
                raise ConnectError(f"cannot listen on {address!r}: it exists and is not a socket")
            os.unlink(address)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address)
            sock.listen(backlog)
        except OSError as e:
            sock.close()
            raise ConnectError(f"cannot listen on {address!r}: {e.strerror or e}") from e
        return cls(sock, address)

    def _wrap(self, conn: socket.socket, peer: Any) -> SocketStream:
        return UnixStream(conn, f"unix:{self.address!r}")

    def close(self) -> None:
        """Close, and remove the socket file this listener created."""
        was_open = not self._closed
        super().close()
        if was_open and self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass
