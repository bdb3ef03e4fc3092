"""nats-py (the official asyncio client) as the independent peer, run on its own thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import nats


class NatsPyPeer:
    """Subscribe and/or publish with nats-py from a background event loop."""

    def __init__(self, servers: Sequence[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.received: list[tuple[str, bytes, dict[str, str] | None]] = []
        self.nc: Any = self._run(nats.connect(servers=list(servers), max_reconnect_attempts=-1,
                                               reconnect_time_wait=0.05, allow_reconnect=True))

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def subscribe(self, subject: str) -> None:
        async def cb(msg: Any) -> None:
            self.received.append((msg.subject, msg.data, msg.headers))

        async def sub() -> None:
            await self.nc.subscribe(subject, cb=cb)
            await self.nc.flush()

        self._run(sub())

    def publish(self, subject: str, payloads: Sequence[bytes], headers: dict[str, str] | None = None) -> None:
        async def pub() -> None:
            for p in payloads:
                await self.nc.publish(subject, p, headers=headers)
            await self.nc.flush()

        self._run(pub(), timeout=30)

    def request(self, subject: str, payload: bytes, timeout: float = 5.0) -> Any:
        return self._run(self.nc.request(subject, payload, timeout=timeout), timeout=timeout + 1)

    def close(self) -> None:
        try:
            self._run(self.nc.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()
