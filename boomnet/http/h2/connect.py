"""Blocking conveniences for scripts and tests: open an HTTP/2 connection, wait for requests.

``connect_h2("https://host:port")`` offers ALPN ``h2`` (and ``http/1.1``) over verified TLS (the
connector stack of :mod:`boomnet.connect`, or one you pass) and
raises :class:`~boomnet.errors.HttpProtocolError` if the server did not pick ``h2``;
``connect_h2("http://host:port", prior_knowledge=True)`` speaks h2c over plain TCP. Connecting
spins on non-blocking calls with a short sleep; ``run_until_done`` waits in ``poll(2)`` on the
descriptor between reads (bounded slices).
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Iterable

from ...connect import Connector, Origin, TcpConnector, TlsConnector
from ...errors import DeadlineExceeded, HttpProtocolError, LocalError
from ...stream.options import TcpOptions, TlsOptions
from ...url import parse_url
from ..limits import DEFAULT_LIMITS, HttpLimits
from .connection import H2Connection, H2Request

__all__ = ["connect_h2", "run_until_done"]


def connect_h2(url: str, *, ca_file: str | None = None, verify: bool = True, prior_knowledge: bool = False,
               timeout: float = 10.0, limits: HttpLimits = DEFAULT_LIMITS,
               connector: Connector | None = None) -> H2Connection:
    """An established HTTP/2 connection to ``url``'s origin, made by ``connector`` (default: the
    stack of :mod:`boomnet.connect`, ``TcpConnector`` -> ``TlsConnector`` offering ``h2`` and
    ``http/1.1``, with ``ca_file`` / ``verify``)."""
    u = parse_url(url, ("http", "https"))
    if not u.secure and not prior_knowledge:
        raise LocalError("plain http:// speaks HTTP/2 only with prior_knowledge=True (h2c)")
    deadline = time.monotonic() + timeout
    if connector is None:
        connector = TlsConnector(TcpConnector(TcpOptions(connect_timeout=timeout)),
                                 TlsOptions(ca_file=ca_file, verify=verify), alpn=("h2", "http/1.1"))
    stream = connector.connect(Origin(u.scheme, u.host, u.port))
    while not stream.establish():
        if time.monotonic() > deadline:
            stream.close()
            raise DeadlineExceeded(f"connecting to {u.authority} took longer than {timeout}s")
        time.sleep(0.0002)
    if u.secure:
        chosen = stream.alpn_protocol
        if chosen != "h2":
            stream.close()
            raise HttpProtocolError(f"{u.authority} did not negotiate h2 (ALPN chose {chosen!r})")
    conn = H2Connection(stream, u.host_header, scheme=u.scheme, limits=limits)
    conn.establish()
    return conn


def run_until_done(conn: H2Connection, requests: Iterable[H2Request], timeout: float = 30.0) -> None:
    """Poll ``conn`` until every request in ``requests`` is done (or raise DeadlineExceeded).

    Between polls that found nothing it waits in ``poll(2)`` on the connection's descriptor (in
    slices of at most 10 ms, so request deadlines are still noticed): it wakes the moment bytes
    arrive, where a sleep would leave them in the socket -- at 1 GB/s a 100 us nap is 100 KB,
    enough to fill a loopback receive buffer and stall the sender."""
    pending = [r for r in requests if not r.done]
    deadline = time.monotonic() + timeout
    fd = conn.fileno()
    poller = None
    if fd >= 0:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    mask = select.POLLIN
    idle = 0
    while pending:
        if conn.poll():
            pending = [r for r in pending if not r.done]
            idle = 0
            continue
        now = time.monotonic()
        if now > deadline:
            raise DeadlineExceeded(f"{len(pending)} HTTP/2 requests not done within {timeout}s")
        if conn.buffered():
            continue  # bytes held inside the stream (decrypted TLS): no readiness will come for them
        if poller is not None:
            want = select.POLLIN | (select.POLLOUT if conn.pending else 0)
            if want != mask:
                poller.modify(fd, want)
                mask = want
            poller.poll(max(1, min(10, math.ceil((deadline - now) * 1000))))
        else:  # a stream without a descriptor (in memory): spin, then nap
            idle += 1
            if idle > 64:
                time.sleep(0.0001)
