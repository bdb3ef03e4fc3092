"""What every interop peer shares: the event-loop thread, per-connection records, the conversation.

Each peer library (websockets, aiohttp, picows) adapts its connection object to :class:`Conn`;
:func:`converse` then runs the same script over any of them, so the tests are written once:

* a text message ``!{json}`` is a command (see :func:`run_command`); any other message is echoed
  back with the same type;
* what the server observed (request headers, messages, pongs, the client's close) goes into a
  :class:`SessionRecord` that the test thread reads — the servers live in this process.

The client names its connection with ``?sid=...`` so a test finds its own record.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from .. import wire

#: paths with special handshake behaviour (honoured by every peer that can)
REJECT_PATH = "/reject"  # 403 with header X-Reject-Reason: test and a short body
BAD_ACCEPT_PATH = "/badaccept"  # 101 with a wrong Sec-WebSocket-Accept
SUBPROTOCOL = "chat.v2"  # the one subprotocol every peer supports

WAIT = 5.0


class LoopThread:
    """An asyncio loop in a daemon thread; the peers' servers run on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ws-peers", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), 5.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)
            if not self._thread.is_alive():
                self.loop.close()


@dataclass
class SessionRecord:
    """What the server saw on one connection (written by the loop thread, read by the test)."""

    path: str
    headers: list[tuple[str, str]]
    subprotocol: str | None = None
    received: list[tuple[str, bytes]] = field(default_factory=list)  # ("text" | "binary", payload)
    pongs: list[bytes] = field(default_factory=list)
    done_ops: list[str] = field(default_factory=list)  # commands completed, in order
    close: tuple[int | None, str | None] | None = None  # the client's close frame (code, reason)
    ended: threading.Event = field(default_factory=threading.Event)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


class Conn(Protocol):
    """One server-side connection, as :func:`converse` drives it."""

    async def recv(self) -> tuple[str, bytes] | None:
        """The next data message (pongs go to the record), or ``None`` once closed."""

    async def send(self, data: bytes, text: bool) -> None: ...

    async def send_fragments(self, parts: list[bytes], text: bool) -> None:
        """One message as ``len(parts)`` frames, using the library's own framing where it can."""

    async def ping(self, payload: bytes) -> None:
        """Send a ping; the matching pong is appended to ``record.pongs`` when it arrives."""

    async def close(self, code: int, reason: str) -> None:
        """Start the close handshake and record the client's answering close frame."""

    def write_raw(self, data: bytes) -> None:
        """Put bytes on the wire as they are (whole unmasked frames), in one transport write."""


async def converse(conn: Conn, record: SessionRecord) -> None:
    """Echo data messages; run ``!{json}`` commands. Ends when the connection does."""
    try:
        while True:
            msg = await conn.recv()
            if msg is None:
                return
            kind, data = msg
            record.received.append(msg)
            if kind == "text" and data[:1] == b"!":
                command = json.loads(data[1:])
                keep_going = await run_command(conn, command)
                record.done_ops.append(command["op"])
                if not keep_going:
                    return
            else:
                await conn.send(data, kind == "text")
    finally:
        record.ended.set()


async def run_command(conn: Conn, cmd: dict[str, Any]) -> bool:
    """Execute one command; ``False`` when the connection is finished."""
    op = cmd["op"]
    text = cmd.get("text", True)
    if op == "fragments":  # one message in len(parts) frames
        await conn.send_fragments([bytes.fromhex(p) for p in cmd["parts"]], text)
    elif op == "burst":  # many small messages, sent back to back
        for i in range(cmd["count"]):
            await conn.send(f"m{i}".encode(), True)
    elif op == "ping":
        await conn.ping(bytes.fromhex(cmd["payload"]))
    elif op == "raw":  # crafted frames, one write
        conn.write_raw(bytes.fromhex(cmd["hex"]))
    elif op == "close":
        await conn.close(cmd["code"], cmd.get("reason", ""))
        return False
    elif op == "sized":  # a server-generated message of exactly `size` bytes
        await conn.send(pattern(cmd["size"]), text)
    else:
        raise ValueError(f"unknown command {op!r}")
    return True


def pattern(size: int) -> bytes:
    """Deterministic ASCII filler of ``size`` bytes (valid as text and binary)."""
    unit = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
    return (unit * (size // len(unit) + 1))[:size]


def command(op: str, **args: Any) -> str:
    """The text message that asks the server to run ``op``."""
    return "!" + json.dumps({"op": op, **args})


def raw_fragments(parts: list[bytes], text: bool) -> bytes:
    """A fragmented message as server frames (for peers whose API cannot send fin=False)."""
    out = []
    for i, part in enumerate(parts):
        opcode = (wire.TEXT if text else wire.BINARY) if i == 0 else wire.CONT
        out.append(wire.frame(opcode, part, fin=i == len(parts) - 1))
    return b"".join(out)


class PeerServer:
    """A running WebSocket server of one library; subclasses implement :meth:`start`."""

    library = "?"
    #: handshake tricks this library's server cannot play
    unsupported: frozenset[str] = frozenset()

    def __init__(self, loops: LoopThread, ssl_context: Any | None) -> None:
        self.loops = loops
        self.ssl_context = ssl_context
        self.port = 0
        self._records: dict[str, SessionRecord] = {}
        self._counter = 0

    @property
    def scheme(self) -> str:
        return "wss" if self.ssl_context is not None else "ws"

    def url(self, path: str = "/", sid: str | None = None) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.scheme}://127.0.0.1:{self.port}{path}{sep}sid={sid}" if sid else \
            f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def new_sid(self) -> str:
        self._counter += 1
        return f"s{self._counter}"

    def open_session(self, path: str, headers: list[tuple[str, str]]) -> SessionRecord:
        record = SessionRecord(path, headers)
        sid = parse_qs(urlsplit(path).query).get("sid", [""])[0]
        if sid:
            self._records[sid] = record
        return record

    def session(self, sid: str, timeout: float = WAIT) -> SessionRecord:
        wait_until(lambda: sid in self._records, timeout, f"{self.library}: no session {sid}")
        return self._records[sid]

    async def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.library} {self.scheme}://127.0.0.1:{self.port}>"


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll ``condition`` (bounded in time) — for state written by the peers' loop thread."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)
