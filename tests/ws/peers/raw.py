"""A scripted raw-socket WebSocket server, for what real servers will not do on request:
crafted handshake responses, frames glued to the 101, wire-level checks of the client's bytes.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

from boomnet.ws.handshake import accept_for

from .. import wire

TIMEOUT = 5.0


class RawConn:
    """The accepted connection, seen from the script (blocking, every call bounded by TIMEOUT)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbox = b""
        self.request_head = b""
        self.headers: dict[str, str] = {}

    def read_request(self) -> str:
        """Read the upgrade request; returns its request line (headers land in ``headers``)."""
        while b"\r\n\r\n" not in self.inbox:
            self._recv_more()
        head, _, self.inbox = self.inbox.partition(b"\r\n\r\n")
        self.request_head = head
        line, *rest = head.decode("latin-1").split("\r\n")
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in rest)}
        return line

    def response_101(self, extra: str = "", accept: str | None = None) -> bytes:
        key = self.headers["sec-websocket-key"]
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept if accept is not None else accept_for(key)}\r\n{extra}\r\n"
        ).encode("latin-1")

    def accept(self, then: bytes = b"") -> None:
        """Read the request and answer 101, with ``then`` (frames) in the same write."""
        self.read_request()
        self.send(self.response_101() + then)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frames(self, count: int) -> list[wire.WireFrame]:
        """The client's next ``count`` frames (waits for them)."""
        while True:
            frames, _ = wire.parse(self.inbox)
            if len(frames) >= count:
                return frames[:count]
            self._recv_more()

    def read_until_eof(self) -> bytes:
        while True:
            try:
                self._recv_more()
            except EOFError:
                return self.inbox

    def _recv_more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("client closed the connection")
        self.inbox += data

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()


Script = Callable[[RawConn], None]


class RawPeer:
    """Accepts one connection and runs ``script`` on it in a thread; errors are re-raised by ``join``."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.host = host
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.listener.bind((host, 0))
        self.listener.listen(1)
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.ssl_context else 'ws'}://{host}:{self.port}{path}"

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            sock.settimeout(TIMEOUT)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_side=True)
            with sock:
                self.script(RawConn(sock))
        except BaseException as exc:
            self.error = exc
        finally:
            self.listener.close()

    def join(self, timeout: float = TIMEOUT) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("raw peer script did not finish")
        if self.error is not None:
            raise self.error


def dribble(conn: RawConn, data: bytes, pause: float = 0.001) -> None:
    """Send ``data`` one byte per write (TCP_NODELAY on), so the client sees many partial reads."""
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        conn.send(data[i : i + 1])
        time.sleep(pause)
