"""TCP stream: non-blocking connect (IPv4/IPv6), TCP_NODELAY, optional local bind / interface."""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

from ..errors import ConnectError
from .dns import Address, resolve
from .socket_stream import SocketStream, _fmt

__all__ = ["TcpStream"]

_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


class TcpStream(SocketStream):
    """A non-blocking TCP connection. Build with :meth:`connect`, :meth:`connect_addr` or
    :meth:`from_socket`; call :meth:`establish` until it returns ``True``."""

    __slots__ = ()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = 5.0,
        bind: tuple[str, int] | None = None,
        interface: str | None = None,
    ) -> "TcpStream":
        """Resolve ``host`` (blocking, bounded by ``timeout``) and start connecting.

        Every resolved address is a candidate: if one is refused the next is tried, all within
        the one ``timeout``. Raises :class:`DnsError` here; connect failures surface from
        :meth:`establish`.
        """
        start = time.monotonic()
        addrs = resolve(host, port, timeout=timeout)
        if bind is not None:  # only addresses of the bind address's family can work
            fam = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
            addrs = [a for a in addrs if a[0] == fam] or addrs
        remaining = max(0.0, timeout - (time.monotonic() - start))
        desc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return cls._connecting(addrs, remaining, desc, bind=bind, interface=interface)  # type: ignore[return-value]

    @classmethod
    def connect_addr(
        cls,
        family: int,
        sockaddr: Any,
        *,
        timeout: float = 5.0,
        bind: tuple[str, int] | None = None,
        interface: str | None = None,
    ) -> "TcpStream":
        """Start connecting to an already-resolved ``(family, sockaddr)`` (no DNS)."""
        return cls._connecting([(family, sockaddr)], timeout, _fmt(sockaddr), bind=bind, interface=interface)  # type: ignore[return-value]

    @classmethod
    def connect_addrs(
        cls, addrs: list[Address], *, timeout: float = 5.0, description: str = "", **options: Any
    ) -> "TcpStream":
        """Like :meth:`connect_addr` over several candidates, tried in order."""
        return cls._connecting(addrs, timeout, description or _fmt(addrs[0][1]), **options)  # type: ignore[return-value]

    def _configure(self, sock: socket.socket) -> None:
        # Market data is latency-bound: never let Nagle hold back a small write.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # e.g. an adopted socket that is not TCP after all
            pass

    def _prepare(self, sock: socket.socket, family: int) -> None:
        interface = self._options.get("interface")
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
        bind = self._options.get("bind")
        if bind is not None:
            try:
                sock.bind(bind)
            except OSError as e:
                raise ConnectError(f"cannot bind to local address {bind!r}: {e.strerror or e}") from e
