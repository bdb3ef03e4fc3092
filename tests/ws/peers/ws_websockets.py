"""The ``websockets`` (asyncio API) server as an interop peer."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .base import BAD_ACCEPT_PATH, REJECT_PATH, SUBPROTOCOL, PeerServer, SessionRecord, converse


class WebsocketsConn:
    def __init__(self, ws: ServerConnection, record: SessionRecord) -> None:
        self.ws = ws
        self.record = record
        self._pong_tasks: set[asyncio.Task[None]] = set()

    async def recv(self) -> tuple[str, bytes] | None:
        try:
            msg = await self.ws.recv()
        except ConnectionClosed:
            self._record_close()
            return None
        return ("text", msg.encode()) if isinstance(msg, str) else ("binary", bytes(msg))

    def _record_close(self) -> None:
        rcvd = self.ws.protocol.close_rcvd
        self.record.close = (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)

    async def send(self, data: bytes, text: bool) -> None:
        await self.ws.send(data, text=text)

    async def send_fragments(self, parts: list[bytes], text: bool) -> None:
        await self.ws.send(parts, text=text)  # an iterable is sent as one fragmented message

    async def ping(self, payload: bytes) -> None:
        waiter = await self.ws.ping(payload)  # resolved by a pong with this very payload

        async def on_pong() -> None:
            await waiter
            self.record.pongs.append(payload)

        task = asyncio.ensure_future(on_pong())
        self._pong_tasks.add(task)
        task.add_done_callback(self._pong_tasks.discard)

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)
        self._record_close()

    def write_raw(self, data: bytes) -> None:
        self.ws.transport.write(data)


class WebsocketsPeer(PeerServer):
    library = "websockets"

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            ssl=self.ssl_context,
            max_size=None,
            compression=None,
            ping_interval=None,
            close_timeout=2,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=lambda conn, offered: SUBPROTOCOL if SUBPROTOCOL in offered else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if request.path.startswith(REJECT_PATH):
            response = connection.respond(HTTPStatus.FORBIDDEN, "go away\n")
            response.headers["X-Reject-Reason"] = "test"
            return response
        return None

    def _process_response(self, connection: ServerConnection, request: Any, response: Any) -> Any:
        if request.path.startswith(BAD_ACCEPT_PATH) and response.status_code == 101:
            del response.headers["Sec-WebSocket-Accept"]
            response.headers["Sec-WebSocket-Accept"] = "bm90IHRoZSByaWdodCBhY2NlcHQ="
        return response

    async def _handler(self, ws: ServerConnection) -> None:
        record = self.open_session(ws.request.path, list(ws.request.headers.raw_items()))
        record.subprotocol = ws.subprotocol
        await converse(WebsocketsConn(ws, record), record)
