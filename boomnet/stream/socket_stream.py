"""Shared machinery of the socket-backed streams (TCP and Unix).

A :class:`SocketStream` owns one non-blocking socket. Connecting is non-blocking: the constructor
helpers start ``connect`` and :meth:`establish` completes it (checking ``SO_ERROR`` once the socket
is writable), falling through to the next candidate address on failure. Writes go straight to
``send`` when nothing is pending; what the kernel does not take is kept in a
:class:`~boomnet.stream.write_queue.WriteQueue` and flushed in order with one ``sendmsg`` over many
buffers (no quadratic re-copying).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConnectError, ConnectionClosed, ConnectionReset, ConnectTimeout, NetworkError
from ..url import host_port
from .base import Buffer, Bytes, Stream
from .write_queue import WriteQueue

__all__ = ["SocketStream"]

_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE as an error, never SIGPIPE
_IN_PROGRESS = {errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK, errno.EINTR}
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ETIMEDOUT, errno.ENOTCONN}
_SENDMSG_MAX_BUFFERS = 64  # well under IOV_MAX (1024); enough to coalesce a burst of small writes

_CONNECTING, _READY, _CLOSED = 0, 1, 2


class SocketStream(Stream):
    """A stream over one non-blocking stream socket. Use a subclass's ``connect``/``from_socket``."""

    __slots__ = (
        "_candidates",
        "_deadline",
        "_errors",
        "_out",
        "_poller",
        "_retry",
        "_sock",
        "_state",
        "description",
    )

    def __init__(self, sock: socket.socket | None, description: str = ""):
        self._sock: socket.socket | None = sock
        self._state = _READY if sock is not None else _CONNECTING
        self._out = WriteQueue()
        self._candidates: list[tuple[int, Any]] = []
        self._deadline = 0.0
        self._errors: list[str] = []
        self._poller: select.poll | None = None
        self._retry: Any = None  # the sockaddr to connect() again (AF_UNIX backlog full)
        #: human-readable peer, used in error messages
        self.description = description
        if sock is not None:
            sock.setblocking(False)
            self._configure(sock)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_socket(cls, sock: socket.socket) -> SocketStream:
        """Adopt an already-connected socket (switched to non-blocking)."""
        return cls(sock, _peer_name(sock))

    def _start_connecting(self, candidates: Sequence[tuple[int, Any]], timeout: float) -> None:
        """Start connecting to the first candidate; ``establish`` tries the rest on failure."""
        self._candidates = list(candidates)
        self._deadline = time.monotonic() + timeout
        self._next_candidate()

    def _configure(self, sock: socket.socket) -> None:
        """Per-socket options (overridden: TCP_NODELAY)."""

    def _prepare(self, sock: socket.socket, family: int) -> None:
        """Before connect: bind/interface (overridden by TCP)."""

    def _next_candidate(self) -> None:
        """Open a socket for the next candidate address and start a non-blocking connect."""
        while self._candidates:
            family, sockaddr = self._candidates.pop(0)
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                self._prepare(sock, family)
                self._configure(sock)
                err = sock.connect_ex(sockaddr)
            except ConnectError:
                sock.close()
                raise  # bind/interface problems are not address-specific: report them as they are
            except OSError as e:
                sock.close()
                self._errors.append(f"{_fmt(sockaddr)}: {e.strerror or e}")
                continue
            if err == 0 or err in _IN_PROGRESS:
                self._sock = sock
                poller = self._poller = select.poll()
                poller.register(sock.fileno(), select.POLLOUT)
                # A Unix socket with a full backlog answers EAGAIN and is NOT in progress:
                # connect must simply be retried.
                self._retry = sockaddr if (family == socket.AF_UNIX and err == errno.EAGAIN) else None
                return
            sock.close()
            self._errors.append(f"{_fmt(sockaddr)}: {errno.errorcode.get(err, err)} {os.strerror(err)}")
        self._sock = None

    # --- establishing -------------------------------------------------------------------------

    def establish(self) -> bool:
        """Advance the non-blocking connect; ``True`` once connected.

        Raises :class:`ConnectError` (refused/unreachable, every candidate failed) or
        :class:`ConnectTimeout` (deadline passed).
        """
        state = self._state
        if state == _READY:
            return True
        if state == _CLOSED:
            raise ConnectionClosed(f"stream to {self.description} is closed")
        while True:
            sock = self._sock
            if sock is None:
                raise self._fail_connect()
            if self._retry is not None:
                err = sock.connect_ex(self._retry)
                if err in (0, errno.EISCONN):
                    self._state, self._poller, self._retry = _READY, None, None
                    return True
                if err != errno.EAGAIN:
                    self._errors.append(f"{errno.errorcode.get(err, err)} {os.strerror(err)}")
                    sock.close()
                    self._sock = None
                    self._next_candidate()
                    continue
            elif self._poller is not None and self._poller.poll(0):
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    self._state = _READY
                    self._poller = None
                    return True
                self._errors.append(f"{errno.errorcode.get(err, err)} {os.strerror(err)}")
                sock.close()
                self._sock = None
                self._next_candidate()
                continue
            if time.monotonic() >= self._deadline:
                self.close()
                raise ConnectTimeout(f"connecting to {self.description} timed out")
            return False

    def _fail_connect(self) -> ConnectError:
        self._state = _CLOSED
        return ConnectError(f"cannot connect to {self.description}: " + "; ".join(self._errors or ["no address"]))

    # --- I/O ----------------------------------------------------------------------------------

    def recv_into(self, buf: Buffer) -> int:
        """One ``recv_into``; 0 if nothing now. ``ConnectionClosed`` on EOF, ``ConnectionReset`` on RST."""
        sock = self._sock
        if sock is None:
            raise self._not_open()
        try:
            n = sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            raise self._lost(e) from e
        if n == 0 and len(buf):
            self._state = _CLOSED
            raise ConnectionClosed(f"{self.description} closed the connection")
        return n

    def write(self, data: Bytes) -> None:
        """Send now what the kernel takes; queue the rest (copied once) in order."""
        sock = self._sock
        if self._out.nbytes or self._state != _READY or sock is None:
            if self._state == _CLOSED:
                raise self._not_open()
            self._out.append(data)
            if self._state == _READY:
                self.flush()
            return
        try:
            n = sock.send(data, _MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:
            raise self._lost(e) from e
        if n < len(data):
            self._out.append(memoryview(data)[n:])

    def flush(self) -> bool:
        """Send pending bytes in order; ``True`` once none are left."""
        out = self._out
        if not out.nbytes:
            return True
        sock = self._sock
        if self._state != _READY or sock is None:
            if self._state == _CLOSED:
                raise self._not_open()
            return False
        while out.nbytes:
            try:
                n = sock.sendmsg(out.views(_SENDMSG_MAX_BUFFERS), (), _MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as e:
                raise self._lost(e) from e
            if out.consume(n):
                return False  # the kernel took part of a chunk: its buffer is full; retry when writable
        return True

    @property
    def pending(self) -> int:  # type: ignore[override]  # a class attribute in Stream
        return self._out.nbytes

    def fileno(self) -> int:
        sock = self._sock
        return sock.fileno() if sock is not None else -1

    @property
    def socket(self) -> socket.socket | None:
        """The underlying socket (for options and for TLS's direct path); ``None`` when closed."""
        return self._sock

    @property
    def closed(self) -> bool:
        return self._state == _CLOSED

    def close(self) -> None:
        self._state = _CLOSED
        sock, self._sock = self._sock, None
        self._poller = None
        if sock is not None:
            sock.close()

    # --- errors -------------------------------------------------------------------------------

    def _lost(self, e: OSError) -> NetworkError:
        self._state = _CLOSED
        if e.errno in _RESET_ERRNOS or isinstance(e, (ConnectionResetError, BrokenPipeError)):
            return ConnectionReset(f"{self.description}: {e.strerror or e}")
        return ConnectionReset(f"{self.description}: I/O error: {e}")

    def _not_open(self) -> NetworkError:
        return ConnectionClosed(f"stream to {self.description} is closed")

    def __repr__(self) -> str:
        state = ("connecting", "ready", "closed")[self._state]
        return f"<{type(self).__name__} {self.description} {state} pending={self._out.nbytes}>"


def _fmt(sockaddr: Any) -> str:
    """``host:port`` of a socket address (IPv6 bracketed), ``repr`` of anything else."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return host_port(str(sockaddr[0]), int(sockaddr[1]))
    return repr(sockaddr)


def _peer_name(sock: socket.socket) -> str:
    try:
        return _fmt(sock.getpeername())
    except OSError:
        return "?"
