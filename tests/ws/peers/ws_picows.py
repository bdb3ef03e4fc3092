"""The ``picows`` server as an interop peer (callback API bridged to :class:`~.base.Conn`)."""

from __future__ import annotations

import asyncio
from typing import Any

from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from .. import wire
from .base import BAD_ACCEPT_PATH, REJECT_PATH, SUBPROTOCOL, PeerServer, SessionRecord, converse

_DATA = {WSMsgType.TEXT: "text", WSMsgType.BINARY: "binary"}


def _close_info(payload: bytes) -> tuple[int | None, str | None]:
    # Parsed by hand: picows maps codes onto an enum that lacks the 3000-4999 range.
    if len(payload) < 2:
        return None, None
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")


class PicowsConn(WSListener):
    """Listener and :class:`Conn` in one: frames are assembled into messages for ``recv``."""

    def __init__(self, server: PicowsPeer, path: str, headers: list[tuple[str, str]], subprotocol: str | None):
        super().__init__()
        self.server = server
        self.record: SessionRecord = server.open_session(path, headers)
        self.record.subprotocol = subprotocol
        self.transport: WSTransport | None = None
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._parts: list[bytes] = []
        self._kind = ""
        self._close_sent = False
        self._close_answered: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- picows callbacks ---------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self._task = asyncio.ensure_future(converse(self, self.record))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind in _DATA or kind is WSMsgType.CONTINUATION:
            if kind is not WSMsgType.CONTINUATION:
                self._kind, self._parts = _DATA[kind], []
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                self._queue.put_nowait((self._kind, b"".join(self._parts)))
        elif kind is WSMsgType.PONG:
            self.record.pongs.append(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            payload = frame.get_payload_as_bytes()
            self.record.close = _close_info(payload)
            if not self._close_sent:  # the client started the close handshake: answer it
                self._close_sent = True
                transport.send(WSMsgType.CLOSE, payload[:2])
            if self._close_answered is not None and not self._close_answered.done():
                self._close_answered.set_result(None)
            transport.disconnect()
        # PING is answered by picows itself (enable_auto_pong)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._queue.put_nowait(None)
        if self._close_answered is not None and not self._close_answered.done():
            self._close_answered.set_result(None)

    # --- Conn -----------------------------------------------------------------------------------

    async def recv(self) -> tuple[str, bytes] | None:
        return await self._queue.get()

    async def send(self, data: bytes, text: bool) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT if text else WSMsgType.BINARY, data)

    async def send_fragments(self, parts: list[bytes], text: bool) -> None:
        assert self.transport is not None
        for i, part in enumerate(parts):
            kind = (WSMsgType.TEXT if text else WSMsgType.BINARY) if i == 0 else WSMsgType.CONTINUATION
            self.transport.send(kind, part, fin=i == len(parts) - 1)

    async def ping(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send_ping(payload)

    async def close(self, code: int, reason: str) -> None:
        assert self.transport is not None
        self._close_answered = asyncio.get_running_loop().create_future()
        self._close_sent = True
        self.transport.send(WSMsgType.CLOSE, wire.close_payload(code, reason))
        try:
            await asyncio.wait_for(self._close_answered, 5.0)
        finally:
            self.transport.disconnect()

    def write_raw(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.underlying_transport.write(data)


class PicowsPeer(PeerServer):
    library = "picows"
    unsupported = frozenset({"bad_accept"})  # picows always computes Sec-WebSocket-Accept itself

    async def start(self) -> None:
        self._server = await ws_create_server(
            self._route, "127.0.0.1", 0, ssl=self.ssl_context, max_frame_size=64 * 1024 * 1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _route(self, request: WSUpgradeRequest) -> Any:
        path = request.path.decode()
        if path.startswith(REJECT_PATH):
            response = WSUpgradeResponse.create_error_response(403, b"go away\n", {"X-Reject-Reason": "test"})
            return WSUpgradeResponseWithListener(response, None)
        assert not path.startswith(BAD_ACCEPT_PATH), "picows cannot send a wrong Sec-WebSocket-Accept"
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
        listener = PicowsConn(self, path, list(request.headers.items()), chosen)
        if chosen is None:
            return listener
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": chosen})
        return WSUpgradeResponseWithListener(response, listener)
