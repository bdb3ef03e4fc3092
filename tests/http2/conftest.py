"""HTTP/2 servers: hypercorn (an ASGI app, TLS + ALPN h2) and nginx with http2 (TLS and h2c);
and an HTTP/1.1-only TLS server (aiohttp, no h2 in its ALPN) for the fallback."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server did not listen on {port}")


@pytest.fixture(scope="module")
def hypercorn_url(cert_files: tuple[str, str]) -> Iterator[str]:
    yield from _hypercorn(cert_files)


@pytest.fixture(scope="module")
def hypercorn_idle_close_url(cert_files: tuple[str, str]) -> Iterator[str]:
    """hypercorn closing connections idle for 1 s (its --keep-alive)."""
    yield from _hypercorn(cert_files, "--keep-alive", "1")


def _hypercorn(cert_files: tuple[str, str], *extra: str) -> Iterator[str]:
    port = free_port()
    chain, key = cert_files
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "--certfile", chain, "--keyfile", key, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *extra, "tests.http2.asgi_app:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        _wait_port(port, proc)
        yield f"https://localhost:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NGINX_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        root {dir}/www;
        location /small {{ return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{h2c} http2;
        root {dir}/www;
        location /small {{ return 200 "ok"; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx_h2(cert_files: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    if NGINX is None:
        pytest.skip("nginx not found: apt-get install nginx")
    d = tmp_path_factory.mktemp("nginx-h2")
    (d / "www").mkdir()
    (d / "www" / "10mb.bin").write_bytes(os.urandom(10 * 1024 * 1024))
    tls, h2c = free_port(), free_port()
    chain, key = cert_files
    (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, tls=tls, h2c=h2c, chain=chain, key=key))
    with running_nginx(d, tls, h2c):
        yield f"https://localhost:{tls}", f"http://127.0.0.1:{h2c}", d


@contextlib.contextmanager
def running_nginx(d: Path, *ports: int) -> Iterator[None]:
    """nginx on ``d/nginx.conf`` (prefix ``d``) until the block ends: up once every port listens;
    stopped gracefully (SIGQUIT), killed if it has not gone 10 s later."""
    assert NGINX is not None
    proc = subprocess.Popen([NGINX, "-c", str(d / "nginx.conf"), "-p", str(d)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        for port in ports:
            _wait_port(port, proc)
        yield
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture(scope="module")
def h1_only_tls(server_cert: Any) -> Iterator[str]:
    """aiohttp over TLS, its ALPN answering http/1.1 only. ``/`` says "h1"; ``/peer`` the client's port."""
    import asyncio

    from aiohttp import web

    server_ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(server_ssl_context)
    server_ssl_context.set_alpn_protocols(["http/1.1"])

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="h1")

    async def peer(request: web.Request) -> web.Response:
        return web.Response(text=str(request.transport.get_extra_info("peername")[1]))  # type: ignore[union-attr]

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        app.router.add_get("/peer", peer)
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
    try:
        yield f"https://localhost:{holder['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        if not t.is_alive():
            loop.close()
