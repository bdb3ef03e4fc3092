"""An RPC server written only from the documented envelope layout (boomnet/rpc/protocol.py's
docstring) with asyncio streams and struct — none of boomnet's code.

Framing: 4-byte big-endian length, then the envelope:
    u8 version=1 | u8 control | u16 method length | u64 id | method | payload
controls: 0 REQUEST, 1 REPLY, 2 ITEM, 3 END, 4 CANCEL, 5 ERROR.

Methods: echo (reply now), hold (keep until `release` arrives, then answer all held in reverse
order), slow:<ms> (reply after ms), stream:<n> (n ITEMs then END; stops on CANCEL), fail.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from typing import Any

HDR = struct.Struct(">BBHQ")


def envelope(control: int, call_id: int, payload: bytes = b"", method: bytes = b"") -> bytes:
    body = HDR.pack(1, control, len(method), call_id) + method + payload
    return struct.pack(">I", len(body)) + body


class EnvelopePeer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.cancels: list[int] = []
        self.requests = 0
        self.server: Any = None
        self.writers: list[asyncio.StreamWriter] = []
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        held: list[tuple[int, bytes]] = []
        streams: dict[int, asyncio.Task[None]] = {}

        async def stream(call_id: int, n: int) -> None:
            for i in range(n):
                writer.write(envelope(2, call_id, b"%d" % i))
                await writer.drain()
                await asyncio.sleep(0.001)
            writer.write(envelope(3, call_id))

        async def slow(call_id: int, ms: int, payload: bytes) -> None:
            await asyncio.sleep(ms / 1000)
            writer.write(envelope(1, call_id, payload))

        try:
            while True:
                (length,) = struct.unpack(">I", await reader.readexactly(4))
                body = await reader.readexactly(length)
                version, control, mlen, call_id = HDR.unpack_from(body)
                assert version == 1
                method = body[12 : 12 + mlen].decode()
                payload = body[12 + mlen :]
                if control == 4:
                    self.cancels.append(call_id)
                    task = streams.pop(call_id, None)
                    if task is not None:
                        task.cancel()
                    continue
                self.requests += 1
                if method == "echo":
                    writer.write(envelope(1, call_id, payload))
                elif method == "hold":
                    held.append((call_id, payload))
                elif method == "release":
                    for cid, p in reversed(held):
                        writer.write(envelope(1, cid, p))
                    held.clear()
                    writer.write(envelope(1, call_id, b"released"))
                elif method.startswith("slow:"):
                    asyncio.ensure_future(slow(call_id, int(method[5:]), payload))
                elif method.startswith("stream:"):
                    streams[call_id] = asyncio.ensure_future(stream(call_id, int(method[7:])))
                elif method == "fail":
                    writer.write(envelope(5, call_id, b"it failed"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in streams.values():
                task.cancel()
            writer.close()

    def kill_connections(self) -> None:
        """Abort every connection (as a crashed server would)."""
        def kill() -> None:
            for w in self.writers:
                w.transport.abort()
        self.loop.call_soon_threadsafe(kill)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for w in self.writers:
                w.transport.abort()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
