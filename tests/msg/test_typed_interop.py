"""Typed messages against independent peers: an asyncio peer using stdlib ``json`` (lines) and
one using ``msgspec.msgpack`` on plain dicts with struct length prefixes — neither knows our
classes; ours decode their answers into the user's Struct."""

from __future__ import annotations

import asyncio
import json
import struct

import msgspec
import pytest

from boomnet.msg import Clt, Typed

from .peers import LoopThread


class Order(msgspec.Struct):
    id: int
    side: str
    qty: float
    tags: list[str] = []


def answer(order: dict) -> dict:
    return {"id": order["id"] + 1000, "side": "sell" if order["side"] == "buy" else "buy", "qty": -order["qty"], "tags": ["ack"]}


async def json_peer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while line := await r.readline():
        w.write(json.dumps(answer(json.loads(line))).encode() + b"\n")
        await w.drain()
    w.close()


async def msgpack_peer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        while True:
            (n,) = struct.unpack(">I", await r.readexactly(4))
            body = msgspec.msgpack.encode(answer(msgspec.msgpack.decode(await r.readexactly(n))))
            w.write(struct.pack(">I", len(body)) + body)
            await w.drain()
    except asyncio.IncompleteReadError:
        w.close()


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_typed_against_dict_peers(loops: LoopThread, fmt: str) -> None:
    handler = json_peer if fmt == "json" else msgpack_peer

    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_server(handler, "127.0.0.1", 0)

    server = loops.run(start())
    try:
        clt: Clt[Order] = Clt.connect("127.0.0.1", server.sockets[0].getsockname()[1], codec=Typed(Order, format=fmt), spin_sleep=0.0002)
        orders = [Order(i, "buy" if i % 2 else "sell", i * 1.5, ["x"] * (i % 3)) for i in range(50)]
        for o in orders:
            clt.push(o)
        clt.flush(timeout=5)
        got = [clt.recv(timeout=5) for _ in orders]
        assert got == [Order(**answer(msgspec.to_builtins(o))) for o in orders]
        assert all(type(g) is Order for g in got)
        clt.close()
    finally:
        loops.close_server(server)
