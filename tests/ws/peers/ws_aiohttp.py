"""The ``aiohttp`` web WebSocket handler as an interop peer."""

from __future__ import annotations

from typing import Any

from aiohttp import WSMsgType, web

from .base import (
    BAD_ACCEPT_PATH,
    REJECT_PATH,
    SUBPROTOCOL,
    PeerServer,
    SessionRecord,
    converse,
    raw_fragments,
)


class AiohttpConn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, record: SessionRecord) -> None:
        self.ws = ws
        self.request = request
        self.record = record

    async def recv(self) -> tuple[str, bytes] | None:
        ws = self.ws
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                return "text", msg.data.encode()
            if kind is WSMsgType.BINARY:
                return "binary", msg.data
            if kind is WSMsgType.PING:  # autoping is off so that pongs reach us; answer pings here
                await ws.pong(msg.data)
            elif kind is WSMsgType.PONG:
                self.record.pongs.append(msg.data)
            else:
                if kind is WSMsgType.CLOSE:  # aiohttp has already answered it (autoclose)
                    self.record.close = (msg.data, msg.extra)
                return None

    async def send(self, data: bytes, text: bool) -> None:
        await self.ws.send_frame(data, WSMsgType.TEXT if text else WSMsgType.BINARY)

    async def send_fragments(self, parts: list[bytes], text: bool) -> None:
        self.write_raw(raw_fragments(parts, text))  # aiohttp's API sends whole messages only

    async def ping(self, payload: bytes) -> None:
        await self.ws.ping(payload)  # the pong comes back through recv()

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())
        self.record.close = (self.ws.close_code, None)  # aiohttp keeps the peer's code, not its reason

    def write_raw(self, data: bytes) -> None:
        transport = self.request.transport
        assert transport is not None
        transport.write(data)


class AiohttpPeer(PeerServer):
    library = "aiohttp"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handler)
        app.on_response_prepare.append(self._tamper)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _tamper(self, request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(BAD_ACCEPT_PATH) and "Sec-WebSocket-Accept" in response.headers:
            response.headers["Sec-WebSocket-Accept"] = "bm90IHRoZSByaWdodCBhY2NlcHQ="

    async def _handler(self, request: web.Request) -> Any:
        if request.path.startswith(REJECT_PATH):
            raise web.HTTPForbidden(text="go away\n", headers={"X-Reject-Reason": "test"})
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,), autoping=False, max_msg_size=0, compress=False, heartbeat=None
        )
        await ws.prepare(request)
        record = self.open_session(request.path_qs, list(request.headers.items()))
        record.subprotocol = ws.ws_protocol
        await converse(AiohttpConn(ws, request, record), record)
        if not ws.closed:
            await ws.close()
        return ws
