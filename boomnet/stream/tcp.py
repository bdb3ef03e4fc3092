"""TCP stream: non-blocking connect (IPv4/IPv6), TCP_NODELAY, keepalive, optional local bind /
interface. Options are one :class:`~boomnet.stream.options.TcpOptions` (frozen, validated).

Keepalive (on by default, see :class:`~boomnet.stream.options.Keepalive`) sets ``SO_KEEPALIVE``
with ``TCP_KEEPIDLE`` / ``TCP_KEEPINTVL`` / ``TCP_KEEPCNT`` (whole seconds, rounded up), and
``TCP_USER_TIMEOUT`` to the same budget (``idle + interval * count``). Why the user timeout:
keepalive probes only run while the connection is *idle*; a connection with unacknowledged
outbound bytes (an order sent into a dead link) would otherwise retransmit for ~15 minutes
(``tcp_retries2``) before the kernel gives up. With both set, a dead peer is noticed within the
same bound whether we were sending or not.
"""

from __future__ import annotations

import errno
import math
import socket
import time
from typing import Any

from ..errors import ConnectError
from ..url import host_port
from .dns import resolve
from .options import Keepalive, TcpOptions
from .socket_stream import SocketStream, _fmt, _peer_name

__all__ = ["TcpStream", "tcp_options", "set_keepalive"]

_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)  # Linux; absent constant on old Pythons
_INET = (socket.AF_INET, socket.AF_INET6)


def tcp_options(options: TcpOptions | None, overrides: dict[str, Any]) -> TcpOptions:
    """``options`` with ``overrides`` applied (a misspelt keyword is a ``TypeError``)."""
    if options is None:
        return TcpOptions(**overrides)
    return options.replace(**overrides) if overrides else options


class TcpStream(SocketStream):
    """A non-blocking TCP connection. Build with :meth:`connect`, :meth:`connect_addr` or
    :meth:`from_socket`; call :meth:`establish` until it returns ``True``."""

    __slots__ = ("options",)

    def __init__(self, sock: socket.socket | None, description: str = "", options: TcpOptions | None = None):
        #: the options this connection was opened with
        self.options = options if options is not None else TcpOptions()
        super().__init__(sock, description)

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        options: TcpOptions | None = None,
        *,
        timeout: float | None = None,
        **overrides: Any,
    ) -> TcpStream:
        """Resolve ``host`` (blocking, bounded by the connect timeout) and start connecting.

        ``overrides`` are :class:`TcpOptions` fields; ``timeout`` is an alias of
        ``connect_timeout``. Every resolved address is a candidate: if one is refused the next is
        tried, all within the one timeout. Raises :class:`DnsError` here; connect failures surface
        from :meth:`establish`.
        """
        opts = tcp_options(options, _with_timeout(overrides, timeout))
        start = time.monotonic()
        addrs = resolve(host, port, timeout=opts.connect_timeout)
        if opts.bind is not None:  # only addresses of the bind address's family can work
            fam = socket.AF_INET6 if ":" in opts.bind[0] else socket.AF_INET
            addrs = [a for a in addrs if a[0] == fam] or addrs
        remaining = max(0.0, opts.connect_timeout - (time.monotonic() - start))
        self = cls(None, host_port(host, port), opts)
        self._start_connecting(addrs, remaining)
        return self

    @classmethod
    def connect_addr(
        cls,
        family: int,
        sockaddr: Any,
        options: TcpOptions | None = None,
        *,
        timeout: float | None = None,
        **overrides: Any,
    ) -> TcpStream:
        """Start connecting to an already-resolved ``(family, sockaddr)`` (no DNS)."""
        opts = tcp_options(options, _with_timeout(overrides, timeout))
        self = cls(None, _fmt(sockaddr), opts)
        self._start_connecting([(family, sockaddr)], opts.connect_timeout)
        return self

    @classmethod
    def from_socket(cls, sock: socket.socket, options: TcpOptions | None = None, **overrides: Any) -> TcpStream:
        """Adopt an already-connected socket (non-blocking; nodelay and keepalive applied to TCP
        sockets, e.g. an accepted connection)."""
        return cls(sock, _peer_name(sock), tcp_options(options, overrides))

    def _configure(self, sock: socket.socket) -> None:
        if sock.family not in _INET:
            return  # an adopted socket that is not TCP (a socketpair in tests): nothing to set
        opts = self.options
        try:
            if opts.nodelay:
                # Market data is latency-bound: never let Nagle hold back a small write.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if opts.keepalive is not None:
                set_keepalive(sock, opts.keepalive)
        except OSError as e:  # asked for and not granted: say so, never run without it silently
            raise ConnectError(f"cannot set TCP options {opts!r} on {self.description}: {e.strerror or e}") from e

    def _prepare(self, sock: socket.socket, family: int) -> None:
        interface = self.options.interface
        if interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode() + b"\0")
            except PermissionError as e:
                raise ConnectError(
                    f"binding to interface {interface!r} is not permitted (needs CAP_NET_RAW): {e}"
                ) from e
            except OSError as e:
                reason = "no such device" if e.errno == errno.ENODEV else (e.strerror or str(e))
                raise ConnectError(f"cannot bind to interface {interface!r}: {reason}") from e
        bind = self.options.bind
        if bind is not None:
            try:
                sock.bind(bind)
            except OSError as e:
                raise ConnectError(f"cannot bind to local address {bind!r}: {e.strerror or e}") from e


def _with_timeout(overrides: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    if timeout is not None:
        if "connect_timeout" in overrides:
            raise TypeError("give timeout= or connect_timeout=, not both")
        overrides["connect_timeout"] = timeout
    return overrides


def set_keepalive(sock: socket.socket, keepalive: Keepalive) -> None:
    """Kernel keepalive probes plus a matching ``TCP_USER_TIMEOUT`` (see the module docstring)."""
    idle, interval = math.ceil(keepalive.idle), math.ceil(keepalive.interval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, keepalive.count)
    sock.setsockopt(socket.IPPROTO_TCP, _TCP_USER_TIMEOUT, (idle + interval * keepalive.count) * 1000)

