"""IOService.run / run_in_thread and the asyncio bridge, with real sockets: an RPC server and
client on the IOService thread, awaited from asyncio; a feed into an async for."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from boomnet.aio import AsyncBridge
from boomnet.errors import LocalError
from boomnet.rpc import Call, Request, RpcClientEndpoint, RpcServerEndpoint
from boomnet.service import IOService


def _server_and_client(io: IOService[Any]) -> tuple[RpcServerEndpoint, RpcClientEndpoint]:
    server = RpcServerEndpoint("127.0.0.1", 0, handlers={"echo": lambda req: req.payload})
    io.register(server)
    deadline = time.monotonic() + 5
    while server.address is None and time.monotonic() < deadline:
        io.poll()
    client = RpcClientEndpoint("127.0.0.1", server.address[1])
    io.register(client)
    return server, client


def test_run_until_and_duration() -> None:
    io: IOService[Any] = IOService()
    try:
        seen: list[int] = []
        polls = io.run(until=lambda: len(seen) > 3 or bool(seen.append(1)))
        assert polls >= 4 * 256
        t0 = time.monotonic()
        io.run(idle=0.001, duration=0.1)  # sleeps in wait(): nothing to do
        assert 0.09 < time.monotonic() - t0 < 2.0
        with pytest.raises(LocalError):
            io.run(idle=0)
    finally:
        io.close()


def test_run_in_thread_call_soon_stop_join() -> None:
    io: IOService[Any] = IOService()
    loop = io.run_in_thread(idle=0.001)
    try:
        done = threading.Event()
        where: list[str] = []
        loop.call_soon(lambda: (where.append(threading.current_thread().name), done.set()))
        assert done.wait(2) and where == ["boomnet-io"]
    finally:
        loop.stop()
        loop.join()
        io.close()
    assert not loop.running


def test_pinning_to_a_cpu_that_does_not_exist_fails_loudly() -> None:
    io: IOService[Any] = IOService()
    try:
        with pytest.raises(LocalError, match="cannot pin"):
            io.run_in_thread(cpu=10_000)
    finally:
        io.close()


def test_await_rpc_calls_made_on_the_loop_thread() -> None:
    async def main() -> list[bytes]:
        io: IOService[Any] = IOService()
        _, client = _server_and_client(io)
        try:
            async with AsyncBridge(io) as bridge:
                calls = [bridge.complete(lambda done, i=i: client.call("echo", b"%d" % i, timeout=5, callback=done))
                         for i in range(200)]
                results: list[Call] = await asyncio.wait_for(asyncio.gather(*calls), 10)
                n = await bridge.call(lambda: client.rpc.completed)
                assert n == 200
                return [c.result for c in results]
        finally:
            io.close()

    assert asyncio.run(main()) == [b"%d" % i for i in range(200)]


def test_exceptions_cross_back_to_asyncio() -> None:
    async def main() -> None:
        io: IOService[Any] = IOService()
        try:
            async with AsyncBridge(io) as bridge:
                with pytest.raises(ZeroDivisionError):
                    await bridge.call(lambda: 1 / 0)
        finally:
            io.close()

    asyncio.run(main())


def test_a_feed_delivers_in_order_and_drops_oldest_when_behind() -> None:
    async def main() -> None:
        io: IOService[Any] = IOService()
        try:
            async with AsyncBridge(io) as bridge:
                pushers: list[Any] = []
                feed = bridge.feed(pushers.append, maxsize=1000)
                await asyncio.wait_for(_until(lambda: bool(pushers)), 5)
                push = pushers[0]

                def produce(n: int, start: int) -> None:
                    for i in range(start, start + n):
                        push(i)

                await bridge.call(produce, 500, 0)  # fits
                got = []
                async for item in feed:
                    got.append(item)
                    if len(got) == 500:
                        break
                assert got == list(range(500))
                await bridge.call(produce, 5000, 500)  # asyncio is not reading: bounded
                assert feed.dropped == 4000
                rest = []
                async for item in feed:
                    rest.append(item)
                    if len(rest) == 1000:
                        break
                assert rest == list(range(4500, 5500))  # the newest survive
        finally:
            io.close()

    asyncio.run(main())


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.001)


def test_handler_requests_answered_from_asyncio() -> None:
    """A server handler that needs asyncio (e.g. a database) defers, and replies from it."""
    async def main() -> bytes:
        io: IOService[Any] = IOService()
        pending: list[Request] = []
        server = RpcServerEndpoint("127.0.0.1", 0, handlers={"slow": lambda req: pending.append(req)})
        io.register(server)
        while server.address is None:
            io.poll()
        client = RpcClientEndpoint("127.0.0.1", server.address[1])
        io.register(client)
        try:
            async with AsyncBridge(io) as bridge:
                fut = bridge.complete(lambda done: client.call("slow", b"x", timeout=5, callback=done))
                await asyncio.wait_for(_until(lambda: bool(pending)), 5)
                await asyncio.sleep(0.01)  # "asyncio work"
                await bridge.call(pending[0].reply, b"from asyncio")
                call = await asyncio.wait_for(fut, 5)
                return call.result
        finally:
            io.close()

    assert asyncio.run(main()) == b"from asyncio"
