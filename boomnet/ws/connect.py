"""``connect()``: a blocking convenience that returns an open WebSocket, for scripts and tests."""

from __future__ import annotations

import time
from typing import Any

from ..errors import ConnectTimeout
from ..stream.base import Stream
from .client import WebSocket
from .handshake import parse_ws_url
from .options import WsOptions

__all__ = ["connect"]


def connect(
    url: str,
    options: WsOptions | None = None,
    *,
    ca_file: str | None = None,
    verify: bool = True,
    server_hostname: str | None = None,
    timeout: float = 10.0,
    **overrides: Any,
) -> WebSocket:
    """Resolve, connect, run TLS for ``wss://`` and the upgrade; return the open :class:`WebSocket`.

    ``ca_file`` trusts an extra CA bundle; ``verify=False`` turns certificate checks off (logged
    loudly by the TLS layer). ``timeout`` bounds the whole sequence. ``options`` and keyword
    ``overrides`` (``headers=``, ``max_message_size=``, ``ping_interval=``, ...) configure the
    :class:`WebSocket` (a misspelt keyword is a ``TypeError``). The result is non-blocking: poll
    its ``read_batch()`` (and ``wait_io()`` between reads, which also keeps liveness checked).
    """
    from ..stream import TcpStream  # late: keeps `import boomnet.ws` light

    target = parse_ws_url(url)
    overrides.setdefault("handshake_timeout", timeout)
    ws_options = WsOptions(**overrides) if options is None else options.replace(**overrides)
    deadline = time.monotonic() + timeout
    stream: Stream = TcpStream.connect(target.host, target.port, timeout=timeout)
    if target.secure:
        stream = stream.into_tls(server_hostname or target.host, ca_file=ca_file, verify=verify)
    ws = WebSocket(stream, url, ws_options)
    try:
        while not ws.establish():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectTimeout(f"connecting to {url} exceeded {timeout}s")
            # Writable matters while the TCP connect is in flight; readable afterwards.
            ws.wait_io(min(remaining, 0.005))
    except BaseException:
        ws.close()
        raise
    return ws
