"""Independent loopback peers for the service tests: a raw TCP server and a `websockets` server.

Both live on background threads with bounded lifetimes; nothing here uses boomnet code.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import serve

DEADLINE = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (racy by nature; fine on loopback)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred: Callable[[], bool], timeout: float = DEADLINE, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


class TcpPeer:
    """Greets every accepted connection with ``greeting`` and (if ``echo``) echoes what it reads.

    ``greeting=b"", echo=False`` makes a silent server: it accepts and never says a word.
    """

    def __init__(self, *, greeting: bytes = b"hello\n", echo: bool = True, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family, backlog=1024)
        self.listener.setblocking(False)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.greeting = greeting
        self.echo = echo
        self.accepted = 0
        self.eofs = 0
        self.received = bytearray()
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.listener, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-peer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.01):
                with self._lock:
                    if key.fileobj is self.listener:
                        self._accept()
                    elif key.fileobj in self.conns:
                        self._read(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return
            c.setblocking(False)
            self.accepted += 1
            self.conns.append(c)
            self._sel.register(c, selectors.EVENT_READ)
            if self.greeting:
                c.send(self.greeting)

    def _read(self, c: socket.socket) -> None:
        try:
            data = c.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eofs += 1
            self._drop(c)
            return
        self.received += data
        self._on_data(c, data)

    def _on_data(self, c: socket.socket, data: bytes) -> None:
        """What the server does with bytes it read (subclasses answer differently)."""
        if self.echo:
            try:
                c.send(data)
            except OSError:
                pass

    def _drop(self, c: socket.socket, reset: bool = False) -> None:
        self._sel.unregister(c)
        self.conns.remove(c)
        if reset:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self.conns)

    def send_all(self, data: bytes) -> None:
        with self._lock:
            for c in self.conns:
                c.send(data)

    def kill_all(self, *, reset: bool = False) -> int:
        """Close every accepted connection (FIN, or RST with ``reset``); return how many."""
        with self._lock:
            n = len(self.conns)
            for c in list(self.conns):
                self._drop(c, reset)
            return n

    def close(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)
        with self._lock:
            for c in list(self.conns):
                self._drop(c)
        self._sel.close()
        self.listener.close()


class WsPeer:
    """A `websockets` server in a background asyncio loop: says ``welcome``, echoes every message."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ws-peer", daemon=True)
        self._thread.start()
        self.connections: set[Any] = set()
        self.opened = 0
        self.received: list[str | bytes] = []
        self._tls = ssl_context is not None
        async def start() -> Any:
            return await serve(self._handler, "127.0.0.1", 0, ssl=ssl_context, process_request=self._process_request)

        self._server = self._run(start())
        self.port = self._server.sockets[0].getsockname()[1]

    def _run(self, coro: Any, timeout: float = DEADLINE) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @staticmethod
    def _process_request(connection: Any, request: Any) -> Any:
        if request.path.startswith("/reject"):
            return connection.respond(403, "go away\n")
        return None

    async def _handler(self, ws: Any) -> None:
        self.connections.add(ws)
        self.opened += 1
        try:
            await ws.send("welcome")
            async for msg in ws:
                self.received.append(msg)
                if msg == "close-me":  # the exchange going into maintenance
                    await ws.close(1001, "maintenance")
                    break
                await ws.send(msg)
        except Exception:
            pass
        finally:
            self.connections.discard(ws)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'wss' if self._tls else 'ws'}://{host}:{self.port}{path}"

    def broadcast(self, message: str) -> None:
        async def go() -> None:
            for ws in list(self.connections):
                await ws.send(message)

        self._run(go())

    def drop_all(self) -> int:
        """Abort every connection's transport (no close frame): the client sees EOF."""

        async def go() -> int:
            conns = list(self.connections)
            for ws in conns:
                ws.transport.abort()
            return len(conns)

        return self._run(go())

    def close(self) -> None:
        async def stop() -> None:
            for ws in list(self.connections):  # no close handshake: the client may not be polled now
                ws.transport.abort()
            self._server.close(close_connections=False)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except Exception:
                pass
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self._run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(DEADLINE)
            if not self._thread.is_alive():
                self.loop.close()


class RawWsPeer(TcpPeer):
    """A hand-rolled WebSocket server (independent of boomnet): upgrades, then sends ``script``
    — raw frame bytes — in ONE write, so the client reads them as one batch."""

    def __init__(self, script: bytes) -> None:
        self.script = script
        self._inbox: dict[socket.socket, bytes] = {}
        super().__init__(greeting=b"", echo=False)

    def _on_data(self, c: socket.socket, data: bytes) -> None:
        import base64
        import hashlib

        head = self._inbox.pop(c, b"") + data
        if b"\r\n\r\n" not in head:
            self._inbox[c] = head  # the upgrade request is not complete yet
            return
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        c.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.script
        )
