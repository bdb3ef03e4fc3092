"""The do-nothing client: a raw socket that only counts bytes after the upgrade.

It proves the feed server is not the bottleneck: its rate must be far above every WebSocket
client's. It parses no frame; it knows the exact wire size of the feed and stops there.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
from urllib.parse import urlsplit

from perf.clients.common import Args, blast_result, stamp, client_ssl_context, emit
from perf.frames import feed


def raw_upgrade(url: str, ctx: ssl.SSLContext | None) -> tuple[socket.socket, bytes]:
    """Connect and do a minimal upgrade; return the socket and bytes read past the 101 head."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname=parts.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    target = parts.path + ("?" + parts.query if parts.query else "")
    sock.sendall(
        (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed during handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode(errors="replace"))
    return sock, rest


def run(args: Args) -> None:
    if args.job != "blast":
        raise SystemExit("raw client only does blast")
    sock, rest = raw_upgrade(args.url, client_ssl_context(args))
    sock.settimeout(30)
    expected = feed(args.count).wire_bytes
    got = len(rest)
    first = stamp()
    buf = bytearray(1 << 20)
    recv_into = sock.recv_into
    while got < expected:
        n = recv_into(buf)
        if not n:
            raise ConnectionError(f"EOF after {got} of {expected} bytes")
        got += n
    last = stamp()
    f = feed(args.count)
    emit(blast_result(args.count, f.payload_bytes, f.id_sum, first, last))
    sock.close()
