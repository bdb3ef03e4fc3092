"""Real, independent HTTP peers on loopback for the HTTP client tests.

* ``aio_server``  - aiohttp.web in a background thread (its own event loop): chunked, EOF-ended,
  HEAD, 204/304, 100-continue, slow responses, connection-closing tricks.
* ``aio_idle_close_server`` - the same app with a 0.2 s keep-alive timeout (server closes idle).
* ``nginx`` - /usr/sbin/nginx from a generated config in a tmp dir: static files (plain + TLS),
  gzip => chunked, a keepalive_requests-limited port and a short keepalive_timeout port.
* ``raw_server`` - a socket server replying with crafted bytes (only for malformed responses).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- aiohttp -----------------------------------------------------------------------------------


class _EofResponse(web.StreamResponse):
    """A response without Content-Length or chunking: its body ends when the connection closes."""

    _length_check = False  # aiohttp's own switch (used by WebSocketResponse) to skip framing


def _make_app() -> web.Application:
    seen: dict[tuple, int] = {}  # requests per client connection, for /stale

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def peer(request: web.Request) -> web.Response:
        # the client's port identifies the connection a request came on
        return web.Response(text=str(request.transport.get_extra_info("peername")[1]))

    async def chunked(request: web.Request) -> web.StreamResponse:
        n = int(request.query.get("n", "5"))
        size = int(request.query.get("size", "10"))
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(n):
            await resp.write(bytes([65 + i % 26]) * size)
            if "pause" in request.query:
                await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async def eof(request: web.Request) -> web.StreamResponse:
        resp = _EofResponse()
        resp.force_close()
        await resp.prepare(request)
        for i in range(3):
            await resp.write(b"part%d;" % i)
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async def head(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 100)

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, headers={"ETag": '"abc"'})

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body, headers={"X-Expect": request.headers.get("Expect", "")})

    async def refuse_expect(request: web.Request) -> web.Response | None:
        return web.Response(status=417, text="no thanks")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text="late")

    async def slow_body(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = 10
        await resp.prepare(request)
        await resp.write(b"12345")
        await asyncio.sleep(float(request.query.get("delay", "1")))
        await resp.write(b"67890")
        return resp

    async def close(request: web.Request) -> web.Response:
        resp = web.Response(text="bye")
        resp.force_close()
        return resp

    async def stale(request: web.Request) -> web.Response:
        # The 2nd request on a connection is met by a close without any response: what a client
        # sees when the server timed out an idle keep-alive connection just as it was reused.
        key = request.transport.get_extra_info("peername")
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            request.transport.close()
            raise asyncio.CancelledError()
        return web.Response(text=f"ok {seen[key]}")

    async def big(request: web.Request) -> web.Response:
        size = int(request.query.get("size", "1000000"))
        return web.Response(body=bytes(range(256)) * (size // 256) + b"z" * (size % 256))

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/peer", peer)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/eof", eof)
    app.router.add_route("*", "/head", head)
    app.router.add_get("/status/{code}", status)
    app.router.add_post("/echo", echo)
    app.router.add_post("/refuse-expect", echo, expect_handler=refuse_expect)
    app.router.add_get("/slow", slow)
    app.router.add_get("/slow-body", slow_body)
    app.router.add_get("/close", close)
    app.router.add_route("*", "/stale", stale)
    app.router.add_get("/big", big)
    return app


class AioServer:
    """aiohttp.web on 127.0.0.1 in a daemon thread with its own loop."""

    def __init__(self, **runner_options: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(_make_app(), access_log=None, shutdown_timeout=0.5, **runner_options)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="aiohttp-peer")
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _shutdown(self) -> None:
        await self.runner.cleanup()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:  # handlers of connections the server still tracks
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="session")
def aio_server():
    server = AioServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aio_idle_close_server():
    """Closes keep-alive connections idle for more than 0.2 s."""
    server = AioServer(keepalive_timeout=0.2)
    yield server
    server.stop()


# --- nginx -------------------------------------------------------------------------------------


class Nginx:
    def __init__(self, root: Path, cert_files: tuple[str, str]) -> None:
        self.root = root
        self.www = root / "www"
        self.www.mkdir()
        (self.www / "small.txt").write_bytes(b"small file\n")
        self.big_content = os.urandom(1 << 20) * 3 + b"tail"  # ~3 MiB, incompressible-ish
        (self.www / "big.bin").write_bytes(self.big_content)
        self.text_content = b"".join(b"line %06d of a compressible text file\n" % i for i in range(60000))
        (self.www / "text.txt").write_bytes(self.text_content)
        self.port, self.tls_port, self.limited_port, self.idle_port = (_free_port() for _ in range(4))
        self.counted_port = _free_port()
        self.access_log = root / "counted.log"
        chain, key = cert_files
        tmp = root
        conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    log_format counted "$request_uri";
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    gzip on;
    gzip_types text/plain application/octet-stream;
    gzip_min_length 0;
    types {{ text/plain txt; }}
    server {{
        listen 127.0.0.1:{self.port};
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        root {self.www};
        location = /return {{ return 200 "returned\\n"; }}
        location = /peer {{ return 200 "$remote_port"; }}
    }}
    server {{
        listen 127.0.0.1:{self.limited_port};
        keepalive_requests 3;
        root {self.www};
        location = /peer {{ return 200 "$remote_port"; }}
    }}
    server {{
        # keepalive_requests 3 with an access log: every request nginx *processed*, by URI
        listen 127.0.0.1:{self.counted_port};
        keepalive_requests 3;
        access_log {self.access_log} counted;
        location /count/ {{ return 200 "$request_uri $remote_port"; }}
    }}
    server {{
        listen 127.0.0.1:{self.idle_port};
        keepalive_timeout 200ms;
        root {self.www};
        location = /peer {{ return 200 "$remote_port"; }}
    }}
}}
"""
        (root / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],  # type: ignore[list-item]
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        for _ in range(1000):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = (self.root / "error.log").read_text() if (self.root / "error.log").exists() else ""
                raise RuntimeError(f"nginx exited: {err} {log}")
            try:
                for port in (self.port, self.tls_port, self.limited_port, self.idle_port, self.counted_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        raise RuntimeError("nginx did not start listening")

    def processed(self) -> list[str]:
        """URIs nginx processed on the counted port, in order (its access log, written per request)."""
        if not self.access_log.exists():
            return []
        return self.access_log.read_text().split()

    def url(self, path: str, *, tls: bool = False, port: int | None = None) -> str:
        if tls:
            return f"https://127.0.0.1:{self.tls_port}{path}"
        return f"http://127.0.0.1:{port or self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory, cert_files: tuple[str, str]):
    if NGINX is None:
        pytest.skip("NGINX NOT FOUND: install nginx (apt-get install nginx) to run the nginx HTTP tests")
    server = Nginx(tmp_path_factory.mktemp("nginx"), cert_files)
    yield server
    server.stop()


# --- raw crafted bytes -------------------------------------------------------------------------


class RawServer:
    """Accepts connections; for each request head, calls ``respond(path)`` -> (bytes, close?)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, bool]] = {}
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True, name="raw-http-peer")
        self.thread.start()

    def route(self, path: str, payload: bytes, close: bool = True) -> str:
        self.routes[path] = (payload, close)
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        try:
            for _ in range(100):  # bounded number of requests per connection
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                payload, close = self.routes.get(path, (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False))
                conn.sendall(payload)
                if close:
                    conn.shutdown(socket.SHUT_WR)
                    return
        except OSError:
            return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(scope="session")
def raw_server():
    server = RawServer()
    yield server
    server.stop()
