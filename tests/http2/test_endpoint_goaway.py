"""HttpEndpoint after a graceful GOAWAY, against nginx (HTTP/2 over TLS, ``keepalive_requests``
low so GOAWAY comes every few requests): the old connection finishes its streams on the side
while new requests go out on a new connection at once.

The peers: nginx; behind its ``/hold/<key>`` an aiohttp server that answers only when the test
releases that key (so a stream can be kept in flight across a GOAWAY without any sleep); for
the "connection dies while draining" cases a byte relay between the client and nginx that the
test can cut (TLS stays end to end); for the back-off rule, h2's server role on asyncio sending
GOAWAY(last stream 0) to every connection. nginx's ``$connection`` (the ``x-conn`` header, the
``/small`` body) says which connection answered; its access log counts what it processed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from boomnet.errors import ConnectionClosed, DeadlineExceeded
from boomnet.http import HttpEndpoint, HttpRequest
from boomnet.http.h2.driver import H2Driver
from boomnet.http.h2.handover import Draining, hand_over
from boomnet.http.target import HttpTarget
from boomnet.service import IOService
from boomnet.service.select import DirectSelector, EpollSelector, Selector
from boomnet.stream import TcpStream
from boomnet.stream.options import TlsOptions
from tests.conftest import free_port, spin
from tests.service.conftest import io_uring_or_skip
from tests.http2.conftest import NGINX, running_nginx
from tests.stream.helpers import open_descriptors

#: requests nginx serves on one connection before its GOAWAY
PER_CONNECTION = 8

SELECTORS: dict[str, Callable[[], Selector]] = {"epoll": EpollSelector, "direct": DirectSelector,
                                                "io_uring": io_uring_or_skip}

CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format counted '$connection $request_method $request_uri $status';
    access_log {dir}/access.log counted;
    keepalive_requests {per};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        location /small {{ add_header x-conn $connection always; return 200 "$connection"; }}
        location /hold/ {{ add_header x-conn $connection always; proxy_pass http://127.0.0.1:{up}; }}
    }}
    server {{
        listen 127.0.0.1:{h2c} http2;
        location /small {{ return 200 "$connection"; }}
        location /hold/ {{ proxy_pass http://127.0.0.1:{up}; }}
    }}
}}
"""


class Upstream:
    """aiohttp on a thread: ``/hold/<key>`` answers ``key`` once :meth:`release` is called."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.seen: Counter[str] = Counter()  # requests received per key (written on the loop thread)
        self._events: dict[str, asyncio.Event] = {}
        self._ready = threading.Event()
        self.port = 0
        self._runner: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "upstream did not start"

    def _event(self, key: str) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def _run(self) -> None:
        from aiohttp import web

        async def hold(request: web.Request) -> web.Response:
            key = request.match_info["key"]
            await request.read()
            self.seen[key] += 1
            await asyncio.wait_for(self._event(key).wait(), 60)
            return web.Response(text=key)

        async def start() -> None:
            app = web.Application()
            app.router.add_route("*", "/hold/{key}", hold)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def release(self, key: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self._event(key).set())

    def close(self) -> None:
        for key in list(self._events):
            self.release(key)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


async def _cancel_the_rest() -> None:
    """Cancel every other task of the running loop and wait for them (their transports close)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # one more turn: the aborted transports' connection_lost callbacks


class Relay:
    """Bytes both ways between each client connection and nginx; :meth:`cut` aborts one pair."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        ready = threading.Event()
        self.port = 0

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(target=lambda: (self.loop.run_until_complete(start()), self.loop.run_forever()),
                                        daemon=True)
        self._thread.start()
        assert ready.wait(10), "relay did not start"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.pairs.append((writer, up_writer))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except OSError:
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self, index: int) -> None:
        """Abort the ``index``-th connection (both sides: the client sees it die mid-stream)."""
        done = threading.Event()

        def abort() -> None:
            for w in self.pairs[index]:
                w.transport.abort()
            done.set()

        self.loop.call_soon_threadsafe(abort)
        assert done.wait(5)

    def close(self) -> None:
        async def stop() -> None:
            for pair in self.pairs:
                for w in pair:
                    w.transport.abort()
            self._server.close()
            await _cancel_the_rest()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class Nginx:
    def __init__(self, root: Path, tls: int, h2c: int, upstream: Upstream) -> None:
        self.root = root
        self.tls_url = f"https://localhost:{tls}"
        self.h2c_url = f"http://127.0.0.1:{h2c}"
        self.tls_port = tls
        self.upstream = upstream

    def log_lines(self, tag: str) -> list[str]:
        """Access-log lines of requests whose URI carries ``tag``."""
        return [line for line in (self.root / "access.log").read_text().splitlines() if tag in line]


@pytest.fixture(scope="module")
def nginx_goaway(cert_files: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if NGINX is None:
        pytest.skip("nginx not found: apt-get install nginx")
    d = tmp_path_factory.mktemp("nginx-goaway")
    upstream = Upstream()
    tls, h2c = free_port(), free_port()
    chain, key = cert_files
    (d / "nginx.conf").write_text(CONF.format(dir=d, per=PER_CONNECTION, tls=tls, h2c=h2c, up=upstream.port,
                                              chain=chain, key=key))
    try:
        with running_nginx(d, tls, h2c):
            yield Nginx(d, tls, h2c, upstream)
    finally:
        upstream.close()


@pytest.fixture
def relay(nginx_goaway: Nginx) -> Iterator[Relay]:
    r = Relay(nginx_goaway.tls_port)
    try:
        yield r
    finally:
        r.close()


def _socket_inodes(fds: list[int]) -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in fds}


def _open_sockets() -> set[str]:
    return set(open_descriptors())


def _conn(resp_req: HttpRequest) -> str:
    assert resp_req.response is not None, resp_req.error
    return resp_req.response.headers.get("x-conn") or ""


def _draining_targets(io: IOService[Any]) -> list[HttpTarget]:
    return [t for h, e in io if isinstance(e, Draining) and (t := io.target(h)) is not None]


def _goaway_with_hold(io: IOService[Any], ep: HttpEndpoint[Any], nginx: Nginx, *holds: tuple[str, str]
                      ) -> tuple[list[HttpRequest], list[HttpRequest]]:
    """Connect, put ``holds`` ((method, key)) in flight, then enough quick requests that nginx
    sends GOAWAY with the holds still unanswered; returns once the old connection drains on the
    side (the holds, the quick ones)."""
    spin(io, lambda: ep.http_version == "2", 10, "connected over HTTP/2")
    held = [ep.request(method, f"/hold/{key}", body=b"x" if method == "POST" else None) for method, key in holds]
    spin(io, lambda: all(nginx.upstream.seen[key] for _, key in holds), 10, "holds reached the upstream")
    quick = [ep.get(f"/small?q={i}") for i in range(PER_CONNECTION)]
    spin(io, lambda: ep.draining == 1, 10, "the old connection draining on the side")
    spin(io, lambda: all(q.done for q in quick), 10, "the quick requests, wherever they went")
    return held, quick


@pytest.mark.parametrize("selector", SELECTORS)
def test_new_requests_are_answered_on_a_new_connection_while_the_old_one_drains(
        nginx_goaway: Nginx, ca_file: str, selector: str) -> None:
    io: IOService[Any] = IOService(SELECTORS[selector]())
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    key = f"order-{selector}-{uuid.uuid4().hex[:8]}"
    io.register(ep)
    try:
        (hold,), quick = _goaway_with_hold(io, ep, nginx_goaway, ("GET", key))
        assert ep.in_flight >= 1  # the held stream, on the draining connection, still counts
        late = ep.get("/small?late")
        spin(io, lambda: late.done, 10, "the request made while the old connection drains")
        assert not hold.done  # answered before the old connection's slow stream ...
        old = _conn(quick[0])  # the second request on the first connection: answered before its GOAWAY
        assert _conn(late) != old and ep.connections == 2 and ep.http_version == "2"  # ... on the new one
        assert ep.in_flight == 1 and ep.draining == 1
        nginx_goaway.upstream.release(key)
        spin(io, lambda: hold.done, 10, "the held stream")
        assert hold.response is not None and hold.response.body == key.encode() and _conn(hold) == old
        spin(io, lambda: ep.draining == 0, 10, "the drained connection dropped")
        assert ep.in_flight == 0 and ep.connections == 2 and len(io) == 1
        assert all(q.response is not None and q.response.status == 200 for q in quick)
    finally:
        nginx_goaway.upstream.release(key)
        io.close()


@pytest.mark.parametrize("selector", SELECTORS)
def test_many_requests_across_goaways_each_processed_exactly_once(nginx_goaway: Nginx, ca_file: str,
                                                                   selector: str) -> None:
    io: IOService[Any] = IOService(SELECTORS[selector]())
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), request_timeout=60)
    tag = f"run-{uuid.uuid4().hex}"
    n = 30 * PER_CONNECTION
    io.register(ep)
    try:
        reqs = [ep.post(f"/small?{tag}&i={i}", b"%d" % i) for i in range(n // 2)]
        spin(io, lambda: ep.http_version == "2", 10, "connected")
        reqs += [ep.post(f"/small?{tag}&i={i}", b"%d" % i) for i in range(n // 2, n)]  # some while draining
        spin(io, lambda: all(r.done for r in reqs), 60, f"{n} POSTs")
        assert [r.error for r in reqs if r.error is not None] == []
        assert ep.connections >= n // PER_CONNECTION  # nginx really ended connections
        assert max(r.sends for r in reqs) >= 2  # and some requests went out again, unprocessed
        spin(io, lambda: ep.draining == 0 and ep.in_flight == 0, 10, "nothing left draining")
    finally:
        io.close()
    seen = Counter(line.split()[2] for line in nginx_goaway.log_lines(tag))
    assert sorted(seen.values()) == [1] * n  # every POST processed once: none lost, none twice
    assert len(seen) == n


def test_a_connection_dying_while_it_drains_retries_idempotent_requests_and_fails_the_rest(
        nginx_goaway: Nginx, relay: Relay, ca_file: str) -> None:
    io: IOService[Any] = IOService()
    tls = TlsOptions(ca_file=ca_file, server_hostname="localhost")
    ep: HttpEndpoint[Any] = HttpEndpoint(f"https://localhost:{relay.port}", tls=tls, check_interval=0.02)
    get_key, post_key = f"die-get-{uuid.uuid4().hex[:8]}", f"die-post-{uuid.uuid4().hex[:8]}"
    errors: list[BaseException] = []
    io.register(ep)
    try:
        (get, post), _ = _goaway_with_hold(io, ep, nginx_goaway, ("GET", get_key), ("POST", post_key))
        post.on_error = errors.append
        spin(io, lambda: len(relay.pairs) == 2, 10, "the new connection through the relay")
        relay.cut(0)  # the draining connection dies with both streams in flight
        spin(io, lambda: post.done and nginx_goaway.upstream.seen[get_key] == 2, 10, "the death noticed")
        assert isinstance(post.error, ConnectionClosed) and errors == [post.error]  # may have been processed
        assert nginx_goaway.upstream.seen[post_key] == 1  # and was not sent again
        assert not get.done and get.sends == 2  # idempotent: re-sent once, on the new connection
        nginx_goaway.upstream.release(get_key)
        spin(io, lambda: get.done, 10, "the re-sent GET")
        assert get.response is not None and get.response.body == get_key.encode()
        assert ep.draining == 0 and ep.in_flight == 0 and len(io) == 1
    finally:
        nginx_goaway.upstream.release(get_key)
        nginx_goaway.upstream.release(post_key)
        io.close()


def test_deadlines_fire_on_the_draining_connection_even_when_nothing_arrives(nginx_goaway: Nginx,
                                                                            ca_file: str) -> None:
    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    key = f"late-{uuid.uuid4().hex[:8]}"
    when: list[int] = []
    io.register(ep)
    try:
        spin(io, lambda: ep.http_version == "2", 10, "connected")
        hold = ep.get(f"/hold/{key}", timeout=2.0, on_error=lambda e: when.append(ep.draining))
        spin(io, lambda: nginx_goaway.upstream.seen[key] == 1, 10, "the hold at the upstream")
        quick = [ep.get(f"/small?q={i}") for i in range(PER_CONNECTION)]
        spin(io, lambda: ep.draining == 1 and all(q.done for q in quick), 10, "draining on the side")
        spin(io, lambda: hold.done, 10, "the deadline")
        assert isinstance(hold.error, DeadlineExceeded) and when == [1]  # failed on the draining connection
        spin(io, lambda: ep.draining == 0, 10, "the drained connection dropped")
        assert ep.in_flight == 0 and len(io) == 1
    finally:
        nginx_goaway.upstream.release(key)
        io.close()


@pytest.mark.parametrize("how", ["service closed", "endpoint deregistered"])
def test_ending_the_endpoint_closes_the_draining_connection_too(nginx_goaway: Nginx, ca_file: str, how: str) -> None:
    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    key = f"end-{uuid.uuid4().hex[:8]}"
    handle = io.register(ep)
    try:
        (hold,), _ = _goaway_with_hold(io, ep, nginx_goaway, ("GET", key))
        spin(io, lambda: ep.http_version == "2" and len(_draining_targets(io)) == 1, 10, "both connections up")
        current = io.target(handle)
        assert current is not None
        sockets = _socket_inodes([current.fileno(), _draining_targets(io)[0].fileno()])
        assert len(sockets) == 2 and sockets <= _open_sockets()
        if how == "service closed":
            io.close()
            assert not sockets & _open_sockets()  # both closed, at once
        else:
            io.deregister(handle)
            spin(io, lambda: not sockets & _open_sockets(), 10, "both sockets closed")
            assert len(io) == 0  # the draining registration went with its endpoint
            assert isinstance(hold.error, ConnectionClosed)  # told, not dropped silently
    finally:
        nginx_goaway.upstream.release(key)
        io.close()


def test_a_draining_connection_dropped_before_the_service_took_it_is_closed(nginx_goaway: Nginx) -> None:
    """The hand-over registers the draining side; the service asks it for its target on its next
    housekeeping. Closing the service before that must still close the socket."""
    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.h2c_url, h2c=True)
    io.register(ep)
    stream = TcpStream.connect("127.0.0.1", int(nginx_goaway.h2c_url.rsplit(":", 1)[1]))
    target = HttpTarget(stream, secure=False, authority="127.0.0.1", scheme="http", options=ep.options)
    try:
        deadline = time.monotonic() + 5
        while not target.establish() and time.monotonic() < deadline:
            pass
        assert target.h2 is not None
        sockets = _socket_inodes([target.fileno()])
        assert hand_over(ep, target, H2Driver(target.h2))
        assert len(io) == 2 and ep.draining == 1 and target.fileno() == -1  # the old target: a shell
        io.close()
        assert not sockets & _open_sockets()
    finally:
        io.close()


class _Recording(HttpEndpoint[Any]):
    """Records each connection's stream as ``conn<n>`` (what a replay plays back)."""

    def __init__(self, url: str, directory: Path) -> None:
        super().__init__(url, h2c=True, check_interval=0.02)
        self.directory = directory
        self.made = 0

    def create_stream(self, addr: Any, alpn: Any = None) -> Any:
        self.made += 1
        return super().create_stream(addr, alpn).into_recorded(f"conn{self.made}", directory=self.directory)


def test_a_replayed_goaway_drains_in_place(nginx_goaway: Nginx, tmp_path: Path) -> None:
    """A replay has one recorded connection and no second: the streams it still owes after the
    recorded GOAWAY are delivered from it (never handed to a draining side that dies with the
    replay)."""
    from boomnet.stream.recorded import wait_finishing

    key = f"replay-{uuid.uuid4().hex[:8]}"
    live = _Recording(nginx_goaway.h2c_url, tmp_path)
    io: IOService[Any] = IOService()
    io.register(live)
    try:
        (hold,), quick = _goaway_with_hold(io, live, nginx_goaway, ("GET", key))
        nginx_goaway.upstream.release(key)
        spin(io, lambda: hold.done and live.draining == 0, 10, "the live hold")
    finally:
        nginx_goaway.upstream.release(key)
        io.close()
    assert wait_finishing(None, 10.0)
    answers = [(r.response.status, r.response.body) for r in [hold, *quick] if r.response is not None and r.sends == 1]
    first = [r for r in [hold, *quick] if r.sends == 1]  # what the first connection carried

    replayed: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.h2c_url, h2c=True, check_interval=0.02)
    reqs = [replayed.get(r.target) for r in first]  # the same requests in the same order: the same stream ids
    io = IOService()
    io.register(replayed.replay("conn1", str(tmp_path)))
    sides: list[int] = []  # draining connections seen after each poll: a replay never makes one

    def replayed_all() -> bool:
        sides.append(replayed.draining)
        return all(r.done for r in reqs)

    try:
        spin(io, replayed_all, 10, "the replayed requests")
    finally:
        io.close()
    assert set(sides) == {0} and len(sides) >= 3  # (the GOAWAY and the hold's answer: separate reads)
    assert [r.error for r in reqs] == [None] * len(reqs)
    assert [(r.response.status, r.response.body) for r in reqs if r.response is not None] == answers
    assert reqs[0].response is not None and reqs[0].response.body == key.encode()  # owed after the GOAWAY


def test_a_goaway_before_any_answer_drains_in_place_until_the_first_answer(nginx_goaway: Nginx,
                                                                           ca_file: str) -> None:
    """A connection that answered nothing before its GOAWAY is not trusted with a quick
    reconnect (the service's back-off rule for servers ending fresh connections): it drains in
    place, and hands over only once it has answered one."""
    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    keys = [f"fresh-{i}-{uuid.uuid4().hex[:8]}" for i in range(PER_CONNECTION)]
    holds = [ep.get(f"/hold/{k}") for k in keys]  # all go out at once on connect: nginx's GOAWAY follows
    handle = io.register(ep)

    def goaway_seen() -> bool:
        target = io.target(handle)
        return target is not None and target.h2 is not None and target.h2.draining

    try:
        spin(io, goaway_seen, 10, "the GOAWAY on the fresh connection")
        late = ep.get("/small?late")
        assert ep.draining == 0 and ep.connections == 1 and ep.queued == 1  # nothing answered: no hand-over
        nginx_goaway.upstream.release(keys[0])
        spin(io, lambda: late.done, 10, "the late request, once the old connection answered one")
        assert holds[0].done and not any(h.done for h in holds[1:]) and ep.connections == 2
        assert _conn(late) != _conn(holds[0])
        for k in keys[1:]:
            nginx_goaway.upstream.release(k)
        spin(io, lambda: all(h.done for h in holds) and ep.draining == 0, 10, "the other holds")
        assert {_conn(h) for h in holds} == {_conn(holds[0])}
        assert [h.response.body for h in holds if h.response is not None] == [k.encode() for k in keys]
    finally:
        for k in keys:
            nginx_goaway.upstream.release(k)
        io.close()


def test_a_callback_failing_on_the_draining_connection_ends_it_and_the_rest_go_again(
        nginx_goaway: Nginx, ca_file: str, caplog: pytest.LogCaptureFixture) -> None:
    """An ``on_response`` that raises while the draining side delivers ends that connection (as
    it would the endpoint's own): its other idempotent streams go out again, on the new one."""
    io: IOService[Any] = IOService()
    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.tls_url, tls=TlsOptions(ca_file=ca_file), check_interval=0.02)
    a, b = f"bug-a-{uuid.uuid4().hex[:8]}", f"bug-b-{uuid.uuid4().hex[:8]}"
    io.register(ep)

    def buggy(response: Any) -> None:
        raise RuntimeError("a bug in the application's callback")

    try:
        (hold_a, hold_b), _ = _goaway_with_hold(io, ep, nginx_goaway, ("GET", a), ("GET", b))
        hold_a.on_response = buggy
        nginx_goaway.upstream.release(a)
        spin(io, lambda: nginx_goaway.upstream.seen[b] == 2, 10, "the other stream sent again")
        assert "a bug in the application's callback" in caplog.text and ep.draining == 0
        nginx_goaway.upstream.release(b)
        spin(io, lambda: hold_b.done, 10, "the re-sent stream")
        assert hold_b.response is not None and hold_b.sends == 2 and hold_b.response.body == b.encode()
    finally:
        nginx_goaway.upstream.release(a)
        nginx_goaway.upstream.release(b)
        io.close()


def test_a_detached_target_is_an_empty_shell_and_the_new_one_carries_on(nginx_goaway: Nginx) -> None:
    from boomnet.errors import InvalidState
    from boomnet.service.registry import close_quietly

    ep: HttpEndpoint[Any] = HttpEndpoint(nginx_goaway.h2c_url, h2c=True)
    stream = TcpStream.connect("127.0.0.1", int(nginx_goaway.h2c_url.rsplit(":", 1)[1]))
    shell = HttpTarget(stream, secure=False, authority="127.0.0.1", scheme="http", options=ep.options)
    deadline = time.monotonic() + 5
    while not shell.establish() and time.monotonic() < deadline:
        pass
    fd = shell.fileno()
    moved = shell.detach()
    try:
        assert shell.detached and not moved.detached and moved.h2 is not None and shell.h2 is None
        assert (shell.fileno(), shell.read_hint(), shell.establish()) == (-1, 0, False)
        assert getattr(shell, "stream", None) is None  # what the service closes with a target: nothing
        with pytest.raises(InvalidState):
            shell.detach()
        close_quietly(shell, "test")  # the service's teardown of the endpoint's old target
        assert moved.fileno() == fd and moved.stream is stream
        req = moved.h2.request("GET", "/small")
        while not req.done and time.monotonic() < deadline:
            moved.h2.poll()
        assert req.response is not None and req.response.status == 200  # the connection lives on
        assert "detached" in repr(shell)
    finally:
        moved.close()
    assert stream.closed


def test_requests_a_dead_draining_connection_gives_back_go_out_on_an_http11_successor(
        nginx_goaway: Nginx, relay: Relay, h1_only_tls: str, ca_file: str) -> None:
    """The next connection may speak HTTP/1.1 (the relay sends it to an HTTP/1.1-only server):
    what the draining side gives back goes out there, by the HTTP/1.1 rules."""
    io: IOService[Any] = IOService()
    tls = TlsOptions(ca_file=ca_file, server_hostname="localhost")
    ep: HttpEndpoint[Any] = HttpEndpoint(f"https://localhost:{relay.port}", tls=tls, check_interval=0.02)
    key = f"h1-{uuid.uuid4().hex[:8]}"
    io.register(ep)
    try:
        spin(io, lambda: ep.http_version == "2", 10, "the first connection, to nginx")
        relay.target = int(h1_only_tls.rsplit(":", 1)[1])  # every later connection: HTTP/1.1 only
        (hold,), _ = _goaway_with_hold(io, ep, nginx_goaway, ("GET", key))
        spin(io, lambda: ep.http_version == "1.1", 10, "the HTTP/1.1 successor")
        relay.cut(0)
        spin(io, lambda: hold.done, 10, "the GET, re-sent on the HTTP/1.1 connection")
        assert hold.response is not None and hold.sends == 2
        assert (hold.response.http_version, hold.response.status) == ("1.1", 404)  # (no /hold there)
        assert ep.draining == 0 and ep.in_flight == 0
    finally:
        nginx_goaway.upstream.release(key)
        io.close()


@pytest.fixture
def goaway_at_once() -> Iterator[str]:
    """An h2c server (h2's server role, on asyncio) that answers every connection's first bytes
    with GOAWAY(NO_ERROR, last stream 0): it processes nothing, ever."""
    import h2.config
    import h2.connection

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        try:
            data = await reader.read(65536)
            if data:
                conn.receive_data(data)
            conn.close_connection(last_stream_id=0)
            writer.write(conn.data_to_send())
            await writer.drain()
            await reader.read()  # until the client gives up on it
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            writer.close()

    async def start() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        async def stop() -> None:
            holder["server"].close()
            await _cancel_the_rest()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        if not t.is_alive():
            loop.close()


def test_a_server_that_goaways_every_connection_unanswered_gets_back_off(goaway_at_once: str) -> None:
    from boomnet.service import Backoff
    from boomnet.service.endpoint import Disconnect, DisconnectKind

    class Watched(HttpEndpoint[Any]):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.reasons: list[Disconnect] = []

        def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
            self.reasons.append(reason)
            return super().on_disconnect(reason, ctx)

    ep = Watched(goaway_at_once, h2c=True, backoff=Backoff(0.01, 2.0, 0.05), request_timeout=30)
    req = ep.get("/never")
    io: IOService[Any] = IOService()
    io.register(ep)
    try:
        spin(io, lambda: len(ep.reasons) >= 3, 10, "three connections ended")
        assert {r.kind for r in ep.reasons} == {DisconnectKind.CLOSED}  # not REQUESTED: the service backs off
        assert all("unanswered" in str(r.error) for r in ep.reasons)
        assert ep.draining == 0 and not req.done and req.sends >= 3  # never processed: still waiting, never failed
    finally:
        io.close()
