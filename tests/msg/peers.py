"""Independent peers: asyncio streams + struct, written from each format's description (never
from boomnet's encoder). Each runs on one event-loop thread per test session."""

from __future__ import annotations

import asyncio
import ssl
import struct
import threading
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

T = TypeVar("T")

Reader = Callable[[asyncio.StreamReader], Awaitable[Any]]
Writer = Callable[[Any], bytes]


# --- framings, from their specs ---------------------------------------------------------------


async def read_lp4(r: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack(">I", await r.readexactly(4))
    return await r.readexactly(n)


def write_lp4(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


async def read_lp2le_incl(r: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack("<H", await r.readexactly(2))
    return await r.readexactly(n - 2)


def write_lp2le_incl(payload: bytes) -> bytes:
    return struct.pack("<H", len(payload) + 2) + payload


async def read_datagram(r: asyncio.StreamReader) -> tuple[int, bytes]:
    # connect-rs: u32 size (= 4 + payload: version, tag and payload), u16 version, u16 tag
    (size,) = struct.unpack(">I", await r.readexactly(4))
    version, tag = struct.unpack(">HH", await r.readexactly(4))
    assert version == 1, version
    return tag, await r.readexactly(size - 4)


def write_datagram(msg: tuple[int, bytes]) -> bytes:
    tag, payload = msg
    return struct.pack(">IHH", 4 + len(payload), 1, tag) + payload


async def read_line(r: asyncio.StreamReader) -> bytes:
    return (await r.readuntil(b"\n"))[:-1]


def write_line(payload: bytes) -> bytes:
    return payload + b"\n"


FRAMINGS: dict[str, tuple[Reader, Writer]] = {
    "lp4": (read_lp4, write_lp4),  # type: ignore[dict-item]
    "lp2le_incl": (read_lp2le_incl, write_lp2le_incl),  # type: ignore[dict-item]
    "datagram": (read_datagram, write_datagram),  # type: ignore[dict-item]
    "lines": (read_line, write_line),  # type: ignore[dict-item]
}


def transform(kind: str, msg: Any) -> Any:
    """What the echo peer sends back: reversed payload (a datagram also gets tag + 1), so a
    test proves both directions were parsed, not just bytes reflected."""
    if kind == "datagram":
        tag, payload = msg
        return ((tag + 1) % 65536, payload[::-1])
    return msg[::-1]


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="msg-peers")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> "asyncio.Future[T]":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[return-value]

    def close_server(self, server: asyncio.AbstractServer) -> None:
        """Close an asyncio server on its loop thread (asyncio objects are not thread-safe)."""

        async def close() -> None:
            server.close()
            await server.wait_closed()

        self.run(close())

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class EchoPeer:
    """An asyncio server that answers each frame of ``kind`` with ``transform(kind, frame)``."""

    def __init__(self, loops: LoopThread, kind: str, ssl_context: ssl.SSLContext | None = None,
                 path: str | None = None, slow: float = 0.0) -> None:
        self.loops, self.kind, self.slow = loops, kind, slow
        self.received: list[Any] = []
        self.errors: list[BaseException] = []
        self.server = loops.run(self._start(ssl_context, path))
        sock = self.server.sockets[0]
        self.address = sock.getsockname()

    async def _start(self, ctx: ssl.SSLContext | None, path: str | None) -> asyncio.AbstractServer:
        if path is not None:
            return await asyncio.start_unix_server(self._handle, path, ssl=ctx, limit=1 << 20)
        return await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ctx, limit=1 << 20)

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        read, write = FRAMINGS[self.kind]
        try:
            while True:
                try:
                    msg = await read(r)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                self.received.append(msg)
                w.write(write(transform(self.kind, msg)))
                await w.drain()
                if self.slow:
                    await asyncio.sleep(self.slow)
        except BaseException as e:  # surfaced by the test through .errors
            self.errors.append(e)
        finally:
            w.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        self.loops.run(stop())


async def client_session(host: str, port: int, kind: str, msgs: list[Any], ssl_context: ssl.SSLContext | None = None,
                         server_hostname: str | None = None) -> list[Any]:
    """Connect, send ``msgs`` framed as ``kind``, read as many answers, close."""
    read, write = FRAMINGS[kind]
    r, w = await asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=server_hostname, limit=1 << 20)
    try:
        for m in msgs:
            w.write(write(m))
        await w.drain()
        return [await read(r) for _ in msgs]
    finally:
        w.close()
