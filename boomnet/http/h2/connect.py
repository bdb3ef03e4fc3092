"""Blocking conveniences for scripts and tests: open an HTTP/2 connection, wait for requests.

``connect_h2("https://host:port")`` offers ALPN ``h2`` (and ``http/1.1``) over verified TLS (the
connector stack of :mod:`boomnet.connect`, or one you pass) and
raises :class:`~boomnet.errors.HttpProtocolError` if the server did not pick ``h2``;
``connect_h2("http://host:port", prior_knowledge=True)`` speaks h2c over plain TCP. Both wait
as the blocking client does, with its helpers (:mod:`boomnet.http.blocking`): connecting in
``poll(2)`` on the descriptor (:class:`~boomnet.errors.ConnectTimeout` past ``timeout``), and
``run_until_done`` between reads (:class:`~boomnet.errors.DeadlineExceeded` past ``timeout``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ...connect import Connector, Origin, TcpConnector, TlsConnector
from ...errors import HttpProtocolError, LocalError
from ...stream.options import TcpOptions, TlsOptions
from ...url import parse_url
from ..blocking import establish_stream, wait_h2
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
    establish_stream(stream, deadline, u.authority)
    if u.secure:
        chosen = stream.alpn_protocol
        if chosen != "h2":
            stream.close()
            raise HttpProtocolError(f"{u.authority} did not negotiate h2 (ALPN chose {chosen!r})")
    conn = H2Connection(stream, u.host_header, scheme=u.scheme, limits=limits)
    conn.establish()
    return conn


def run_until_done(conn: H2Connection, requests: Iterable[H2Request], timeout: float = 30.0) -> None:
    """Poll ``conn`` until every request in ``requests`` is done, waiting on its descriptor in
    between (:func:`boomnet.http.blocking.wait_h2`); :class:`~boomnet.errors.DeadlineExceeded`
    if they are not done within ``timeout`` seconds."""
    wait_h2(conn, requests, time.monotonic() + timeout)
