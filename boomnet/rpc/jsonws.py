"""RPC in disguise: correlate JSON requests and replies by an id field (a venue's WebSocket API).

    rpc = JsonCorrelator(id_field="id")
    rpc.connected(lambda data: ws.send_text(data))
    call = rpc.call_json("SUBSCRIBE", {"params": ["btcusdt@trade"]}, timeout=5, callback=on_ack)
    for frame in ws.read_batch():
        if not rpc.on_text(frame.payload):      # not a reply: market data
            handle(frame)

Every exchange's WebSocket trading API is a request/response protocol over one connection:
``{"id": 7, "method": "order.place", ...}`` answered by ``{"id": 7, ...}``. This gives such APIs
what :class:`~boomnet.rpc.client.RpcClient` gives binary RPC — ids never reused on a connection,
deadlines (a late reply is dropped and counted, never given to the wrong caller), failing every
pending call at once on a disconnect (:class:`~boomnet.errors.CallLost`) — with the request
written as ``{"method": ..., **params, "<id_field>": id}`` and a reply recognised by its id.
A reply carrying ``"error"`` (Binance: ``{"code": ..., "msg": ...}``) fails its call with
:class:`~boomnet.rpc.client.RpcError`; anything else completes it with the decoded reply.
Most venues have no CANCEL: cancelling (or a deadline) only stops waiting.

The quick test (``on_text``) costs one ``orjson.loads`` of messages that *might* be replies: a
message is parsed only when its first bytes could hold the id field (``{"result"`` / ``{"id"``
prefixes are checked without parsing), so market data pays a bytes comparison, not a parse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..errors import InvalidMessage, ProtocolError
from .client import Call, RpcClient, RpcError

__all__ = ["JsonCorrelator"]


class JsonCorrelator(RpcClient):
    """Correlation of JSON request/reply pairs by ``id_field`` (see the module doc)."""

    def __init__(self, *, id_field: str = "id", reply_hint: tuple[bytes, ...] | None = None, **options: Any) -> None:
        super().__init__(None, **options)
        self.id_field = id_field
        key = orjson.dumps(id_field)
        # replies put the id first ({"id":..}) or after result/error ({"result":null,"id":..})
        self._hints = reply_hint or (b"{" + key, b'{"result"', b'{"error"', b'{"code"', b'{"status"')

    def call_json(self, method: str, fields: Mapping[str, Any] | None = None, *, timeout: float | None = None,
                  callback: Callable[[Call], object] | None = None) -> Call:
        """Start a call whose request is ``{"method": method, **fields, "<id_field>": id}``."""
        return self._start(method, fields, timeout, callback, None, streaming=False)

    def _encode_request(self, call_id: int, method: str, payload: Any) -> bytes:
        body: dict[str, Any] = {"method": method}
        if payload:
            if not isinstance(payload, Mapping):
                raise InvalidMessage("a JSON call's payload is a mapping of fields")
            body.update(payload)
        body[self.id_field] = call_id
        return orjson.dumps(body)

    def _send_cancel(self, call_id: int) -> None:
        pass  # the venue has no cancel: the call only stops waiting

    def on_text(self, data: bytes | bytearray | memoryview) -> bool:
        """``True`` if ``data`` was a reply to one of our calls (consumed); ``False`` otherwise."""
        raw = bytes(data[:16]).lstrip()
        if not raw.startswith(self._hints):
            return False
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False  # not ours to judge: the caller's handler will see it
        if not isinstance(msg, dict):
            return False
        call_id = msg.get(self.id_field)
        if type(call_id) is not int:
            return False
        call: Call | None = self._calls.get(call_id)
        if call is None:
            self._straggler(call_id)
            return True
        error = msg.get("error")
        if error is not None:
            self._finish(call, error=RpcError(f"{call.method}: {error}"), why="done")
        else:
            call.result = msg
            self._finish(call, why="done")
        return True

    def expect_reply(self, msg: Any) -> None:
        """For tests: raise if ``msg`` is not shaped like a reply."""
        if not isinstance(msg, dict) or self.id_field not in msg:
            raise ProtocolError(f"not a reply: {msg!r}")
