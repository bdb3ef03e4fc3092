"""Typed, validated connection options: TCP and TLS.

Options are frozen dataclasses checked at construction, so a wrong value fails where it is
written, and a misspelt keyword is a ``TypeError`` there too (dataclasses reject unknown
keywords). Layers above take these objects instead of loose keywords; ``replace()`` derives a
variant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import LocalError

__all__ = ["TcpOptions", "TlsOptions", "Keepalive"]

TLS_BACKENDS = ("stdlib", "pyopenssl")


@dataclass(frozen=True, slots=True)
class Keepalive:
    """TCP keepalive: first probe after ``idle`` s of silence, then every ``interval`` s,
    ``count`` unanswered probes and the kernel declares the connection dead (ETIMEDOUT)."""

    idle: float = 15.0
    interval: float = 5.0
    count: int = 3

    def __post_init__(self) -> None:
        if not (self.idle >= 1 and self.interval >= 1 and self.count >= 1):
            raise LocalError(f"invalid {self!r}: idle and interval >= 1 s, count >= 1")


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """How to open a TCP connection.

    ``connect_timeout``: seconds for the whole connect (all resolved addresses).
    ``bind``: a local ``(host, port)``. ``interface``: SO_BINDTODEVICE (needs privileges).
    ``nodelay``: TCP_NODELAY (on: never let Nagle hold back a small write).
    ``keepalive``: kernel keepalive probes (on by default, see :class:`Keepalive`); ``None`` off.
    """

    connect_timeout: float = 5.0
    bind: tuple[str, int] | None = None
    interface: str | None = None
    nodelay: bool = True
    keepalive: Keepalive | None = Keepalive()

    def __post_init__(self) -> None:
        if not self.connect_timeout > 0:
            raise LocalError(f"connect_timeout must be positive, not {self.connect_timeout!r}")

    def replace(self, **changes: object) -> TcpOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How to run TLS over a stream. Verification is **on** unless ``verify=False`` (logged
    loudly at every connection).

    ``server_hostname``: the name checked in the certificate and sent as SNI (default: the URL's
    host). ``ca_file`` / ``cadata``: extra trust. ``alpn``: protocols offered, in order.
    ``backend``: ``"stdlib"`` (default, measured faster) or ``"pyopenssl"`` (the extra
    ``boomnet[pyopenssl]``). ``handshake_timeout``: seconds.

    ``memory_bio``: ciphertext moves through memory BIOs (default ``True``): one ``recv`` per
    burst of records, decrypted from memory, and no read that can only say "nothing" -- measured
    lower latency for small messages and less CPU for bulk transfers than ``False``, where the
    TLS engine reads the socket itself (two ``recv`` calls per record, one more per read: see
    :mod:`boomnet.stream.tls`). kTLS always runs on the socket, whatever this says.

    Client certificate (mutual TLS), for servers that ask for one: ``certfile`` (PEM: the
    certificate, then any intermediates; may hold the key too), ``keyfile`` (PEM key; ``None``:
    inside ``certfile``), ``password`` for an encrypted key (never in ``repr``, logs or
    recordings). Unreadable files or a key that does not match are a
    :class:`~boomnet.errors.TlsError` when the context is built (``prepare()``, off the loop).
    """

    server_hostname: str | None = None
    ca_file: str | None = None
    cadata: str | bytes | None = None
    verify: bool = True
    alpn: tuple[str, ...] | None = None
    backend: str = "stdlib"
    handshake_timeout: float = 10.0
    memory_bio: bool = True
    certfile: str | None = None
    keyfile: str | None = None
    password: str | bytes | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("certfile", "keyfile"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise LocalError(f"{name} must be a PEM file path, not {value!r}")
        if self.certfile is None and (self.keyfile is not None or self.password is not None):
            raise LocalError("keyfile/password given without certfile (the client certificate they belong to)")
        if self.backend not in TLS_BACKENDS:
            raise LocalError(f"unknown TLS backend {self.backend!r}; choose one of {TLS_BACKENDS}")
        if not self.handshake_timeout > 0:
            raise LocalError(f"handshake_timeout must be positive, not {self.handshake_timeout!r}")
        alpn: Iterable[str] | None = self.alpn  # callers pass lists too: keep it hashable (a cache key)
        if alpn is not None and not isinstance(alpn, tuple):
            object.__setattr__(self, "alpn", tuple(alpn))

    def replace(self, **changes: object) -> TlsOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
