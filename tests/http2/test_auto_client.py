"""AutoClient: protocol per origin by ALPN over connectors + the generic pool, against nginx
(HTTP/2 over TLS, h2c) and an HTTP/1.1-only TLS server (aiohttp), and the pool's own rules."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boomnet.connect import Origin, Pool
from boomnet.errors import LimitExceeded, LocalError
from boomnet.http.auto import AutoClient
from boomnet.stream.options import TlsOptions


def test_http2_by_alpn_many_requests_share_one_connection(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, root = nginx_h2
    with AutoClient(tls=TlsOptions(ca_file=ca_file)) as http:
        rs = http.gather([("GET", f"{tls_url}/small?i={i}") for i in range(300)])
        assert [r.body for r in rs] == [b"ok"] * 300
        assert {r.http_version for r in rs} == {"2"}
        assert http.pool.stats.created == 1  # one HTTP/2 connection carried all 300
        big = http.get(f"{tls_url}/10mb.bin")
        assert big.body == (root / "www" / "10mb.bin").read_bytes()
        assert http.pool.stats.created == 1 and http.pool.stats.reused == 1


def test_h2c_with_prior_knowledge(nginx_h2: tuple[str, str, Path]) -> None:
    _, h2c_url, _ = nginx_h2
    with AutoClient(h2c_prior_knowledge=True) as http:
        r = http.get(f"{h2c_url}/small")
        assert (r.status, r.body, r.http_version) == (200, b"ok", "2")


def test_goaway_retries_are_transparent_and_nothing_is_sent_twice(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    with AutoClient(tls=TlsOptions(ca_file=ca_file), timeout=60) as http:
        rs = http.gather([("GET", f"{tls_url}/small?i={i}") for i in range(3000)])
        assert len(rs) == 3000 and all(r.body == b"ok" for r in rs)
        assert [r.url for r in rs] == [f"{tls_url}/small?i={i}" for i in range(3000)]
        assert http.pool.stats.created >= 3  # nginx ended connections after 1,000 requests each


@pytest.fixture
def h1_only_tls(server_ssl_context: ssl.SSLContext) -> Iterator[str]:
    import asyncio

    from aiohttp import web

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="h1")

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    t.start()
    assert ready.wait(10)
    yield f"https://localhost:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)


def test_alpn_falls_back_to_http11(h1_only_tls: str, ca_file: str) -> None:
    with AutoClient(tls=TlsOptions(ca_file=ca_file)) as http:
        rs = http.gather([("GET", f"{h1_only_tls}/") for _ in range(5)])
        assert [(r.body, r.http_version) for r in rs] == [(b"h1", "1.1")] * 5
        assert http.pool.stats.created == 1 and http.pool.stats.reused == 4  # keep-alive, one at a time


class Fake:
    def __init__(self, cap: int = 1) -> None:
        self.cap = cap
        self.alive = True

    def reusable(self) -> bool:
        return self.alive

    def capacity(self) -> int:
        return self.cap

    def close(self) -> None:
        self.alive = False


def test_pool_rules() -> None:
    made: list[Fake] = []

    def connect(key: Origin) -> Fake:
        made.append(Fake())
        return made[-1]

    pool: Pool[Origin, Fake] = Pool(connect, max_idle_per_key=2, idle_timeout=10, max_per_key=3)
    k = Origin("https", "a", 443)
    a = pool.acquire(k)
    a.cap = 0  # an HTTP/1.1-like connection in use takes no second request
    b = pool.acquire(k)
    b.cap = 0
    assert a is not b and len(made) == 2
    a.cap = b.cap = 1
    pool.release(k, a)
    pool.release(k, b)
    assert pool.acquire(k) is b  # LIFO: the most recently released first
    pool.release(k, b, clean=False)  # dirty: closed, never handed out again
    assert not b.alive and pool.acquire(k) is a
    shared = pool.acquire(k)  # an HTTP/2-like connection with room is shared, not duplicated
    assert shared is a and len(made) == 2
    a.cap = 0
    c = pool.acquire(k)
    c.cap = 0
    d = pool.acquire(k)
    d.cap = 0
    assert len({id(a), id(c), id(d)}) == 3
    with pytest.raises(LimitExceeded):
        pool.acquire(k)  # a fourth connection would exceed max_per_key=3
    with pytest.raises(LocalError):
        pool.release(k, Fake())  # not from this pool


def test_pool_expires_idle_and_bounds_idle_per_key() -> None:
    now = [0.0]
    pool: Pool[str, Fake] = Pool(lambda key: Fake(0), max_idle_per_key=1, idle_timeout=5, clock=lambda: now[0])
    x, y = pool.acquire("k"), pool.acquire("k")
    x.cap = y.cap = 1
    pool.release("k", x)
    pool.release("k", y)  # only one idle is kept: y is closed
    assert pool.idle("k") == 1 and not y.alive and x.alive
    now[0] = 6.0
    assert pool.acquire("k") is not x and not x.alive  # expired on the way out
    assert pool.stats.expired == 1
