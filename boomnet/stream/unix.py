"""Unix-domain stream (filesystem path or Linux abstract name), same semantics as TCP."""

from __future__ import annotations

import os
import socket

from ..errors import LocalError
from .socket_stream import SocketStream

__all__ = ["UnixStream"]


class UnixStream(SocketStream):
    """A non-blocking ``AF_UNIX`` stream connection.

    ``path`` is a filesystem path, or an abstract name given with a leading ``"\\0"`` (or ``"@"``).
    """

    __slots__ = ()

    @classmethod
    def connect(cls, path: str | bytes | os.PathLike[str] | os.PathLike[bytes], *, timeout: float = 5.0) -> UnixStream:
        """Start connecting to ``path``; call :meth:`establish` until it returns ``True``.

        Only a connect timeout applies to a Unix socket (no TCP options)."""
        address = os.fspath(path)
        if isinstance(address, str) and address.startswith("@"):
            address = "\0" + address[1:]
        if not timeout > 0:
            raise LocalError(f"timeout must be positive, not {timeout!r}")
        self = cls(None, f"unix:{address!r}")
        self._start_connecting([(socket.AF_UNIX, address)], timeout)
        return self
