"""``connect()``: a blocking convenience that returns an open WebSocket, for scripts and tests."""

from __future__ import annotations

import select
import time
from typing import Any

from ..errors import ConnectTimeout
from .client import WebSocket
from .handshake import Headers, parse_ws_url

__all__ = ["connect"]


def connect(
    url: str,
    *,
    headers: Headers | None = None,
    ca_file: str | None = None,
    verify: bool = True,
    server_hostname: str | None = None,
    timeout: float = 10.0,
    **ws_options: Any,
) -> WebSocket:
    """Resolve, connect, run TLS for ``wss://`` and the upgrade; return the open :class:`WebSocket`.

    ``ca_file`` trusts an extra CA bundle; ``verify=False`` turns certificate checks off (logged
    loudly by the TLS layer). ``timeout`` bounds the whole sequence. Other keyword arguments go to
    :class:`WebSocket`. The result is non-blocking: poll its ``read_batch()``.
    """
    from ..stream import TcpStream  # late: keeps `import boomnet.ws` light

    target = parse_ws_url(url)
    deadline = time.monotonic() + timeout
    stream: Any = TcpStream.connect(target.host, target.port, timeout=timeout)
    if target.secure:
        stream = stream.into_tls(server_hostname or target.host, ca_file=ca_file, verify=verify)
    ws = WebSocket(stream, url, headers=headers, handshake_timeout=timeout, **ws_options)
    try:
        while not ws.establish():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectTimeout(f"connecting to {url} exceeded {timeout}s")
            fd = ws.fileno()
            if fd >= 0:
                # Writable matters while the TCP connect is in flight; readable afterwards.
                select.select([fd], [fd] if ws.pending else [], [], min(remaining, 0.005))
            else:
                time.sleep(0.0005)
    except BaseException:
        ws.close()
        raise
    return ws
