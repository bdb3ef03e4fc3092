"""Protocol counters reach ``IOService.stats()``: RpcClientEndpoint over a real loopback server."""

from __future__ import annotations

import time
from typing import Any

from boomnet.rpc import Request, RpcClientEndpoint, RpcServerEndpoint
from boomnet.service import IOService


def test_rpc_client_metrics_are_in_stats() -> None:
    def echo(req: Request) -> bytes:
        return req.payload

    with IOService() as io:
        server = RpcServerEndpoint("127.0.0.1", 0, handlers={"echo": echo})
        io.register(server)
        end = time.monotonic() + 5
        while server.address is None:
            assert time.monotonic() < end
            io.poll()
        client = RpcClientEndpoint("127.0.0.1", server.address[1])
        h = io.register(client)
        calls = [client.call("echo", b"%d" % i, timeout=5) for i in range(7)]
        while not all(c.done for c in calls):
            assert time.monotonic() < end + 5
            io.poll()
            io.wait(0.001)
        (snap,) = [s for s in io.stats() if s.handle == h.id]
        metrics: dict[str, Any] = snap.metrics
        assert metrics["completed"] == 7.0 and metrics["in_flight"] == 0.0 and metrics["lost_on_disconnect"] == 0.0
        assert snap.kind == "RpcClientEndpoint" and snap.connected


def test_nats_endpoint_metrics_are_in_stats() -> None:
    import os
    import shutil
    import socket
    import subprocess

    import pytest

    from boomnet.bus import Msg, NatsEndpoint

    nats = shutil.which("nats-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if nats is None:
        pytest.skip("nats-server not found: apt-get install nats-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([nats, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with IOService() as io:
            got: list[bytes] = []
            ep = NatsEndpoint([f"nats://127.0.0.1:{port}"], name="metrics-test")
            h = io.register(ep)

            def on_msg(msg: Msg, ctx: Any) -> None:
                got.append(bytes(msg.payload))

            ep.subscribe("t.x", handler=on_msg)
            end = time.monotonic() + 15
            while not io.is_connected(h):
                assert time.monotonic() < end, "no connection to nats-server"
                io.poll()
                io.wait(0.01)
            for i in range(3):
                ep.publish("t.x", b"%d" % i)
            while len(got) < 3:
                assert time.monotonic() < end, got
                io.poll()
                io.wait(0.001)
            (snap,) = io.stats()
            assert snap.metrics["published"] == 3.0 and snap.metrics["subscriptions"] == 1.0
            assert snap.metrics["delivered"] == 3.0 and snap.metrics["dropped"] == 0.0
    finally:
        proc.kill()
        proc.wait(10)
