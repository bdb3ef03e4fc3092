"""Pipelined requests when the server ends the connection (issue 10) and the non-idempotent guard
(issue 19), observed at the server: every request gets exactly one response, nothing is
processed twice, POST never shares the wire and is never re-sent on its own.

The raw server here is written from RFC 9112, not from boomnet's code: it parses request heads
(and Content-Length bodies), answers each request with its own path as the body, and records for
every request the connection it came on and how many responses that connection had already
*sent* when the request's bytes arrived (which shows pipelining from the outside).
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import termios
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from boomnet.errors import ConnectionClosed
from boomnet.http import HttpEndpoint
from boomnet.service import IOService


@dataclass
class Seen:
    conn: int
    method: str
    path: str
    sent_before: int  # responses this connection had sent when the request arrived


@dataclass
class Policy:
    #: answer this many requests per connection, then end it (None: never)
    answer: int | None = None
    #: how the connection ends after ``answer`` responses: "close-header" (the last response says
    #: Connection: close, then FIN), "fin" (plain close, no header), "rst" (abortive close)
    end: str = "fin"
    #: hold each response this long after its request arrived (a slow server), so a pipelining
    #: client has time to put more requests on the wire before the answer
    delay: float = 0.0
    #: paths whose request makes the server close without answering (after reading it)
    kill: frozenset[str] = frozenset()
    #: only on the first connection (later ones behave normally)
    first_only: bool = False


class CountingServer:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.seen: list[Seen] = []
        self.answered: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.closed = threading.Event()  # set when a connection was ended by the policy
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn, n), daemon=True)
            n += 1
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        policy = self.policy
        active = not policy.first_only or index == 0
        buf = b""
        wire = b""  # everything received on this connection, to note arrivals
        sent = 0
        conn.settimeout(5)

        def recv() -> bytes:
            # note every request head completed by this read, with the responses sent so far
            nonlocal wire
            chunk = conn.recv(65536)
            before = wire.count(b"\r\n\r\n")
            wire += chunk
            for head in wire.split(b"\r\n\r\n")[before:-1]:
                method, path, _ = head.split(b"\r\n")[0].decode("latin-1").split(" ")
                with self.lock:
                    self.seen.append(Seen(index, method, path, sent))
            return chunk

        try:
            for _ in range(1000):
                while b"\r\n\r\n" not in buf:
                    if self._stop.is_set():
                        return
                    r, _, _ = select.select([conn], [], [], 0.1)
                    if not r:
                        continue
                    chunk = recv()
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buf) < length:
                    chunk = recv()
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[length:]
                if active and path in policy.kill:
                    self._end(conn, "fin")
                    return
                if policy.delay:
                    # keep reading meanwhile: a pipelining client's next requests show up now
                    deadline = time.monotonic() + policy.delay
                    while (left := deadline - time.monotonic()) > 0:
                        r, _, _ = select.select([conn], [], [], left)
                        if r:
                            chunk = recv()
                            if not chunk:
                                return
                            buf += chunk
                last = active and policy.answer is not None and sent + 1 >= policy.answer
                body = path.encode()
                extra = b"Connection: close\r\n" if last and policy.end == "close-header" else b""
                with self.lock:  # counted before sending: the client may finish before sendall returns
                    self.answered[path] += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))
                sent += 1
                if last:
                    self._end(conn, policy.end)
                    return
        except OSError:
            return
        finally:
            conn.close()

    def arrival(self, path: str) -> list[tuple[int, int]]:
        """(connection, responses it had sent when the request arrived), per arrival of ``path``."""
        with self.lock:
            return [(s.conn, s.sent_before) for s in self.seen if s.path == path]

    def _end(self, conn: socket.socket, how: str) -> None:
        if how == "rst":
            # An abortive close discards what the kernel has not sent yet: wait until every byte
            # written was acknowledged, so "answered" means the client's kernel has it.
            deadline = time.monotonic() + 2
            while fcntl.ioctl(conn, termios.TIOCOUTQ, b"\0\0\0\0") != b"\0\0\0\0" and time.monotonic() < deadline:
                time.sleep(0.001)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            conn.shutdown(socket.SHUT_WR)
        conn.close()
        self.closed.set()

    def received(self, path: str) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.path == path)

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join(5)
        for t in self._threads:
            t.join(5)
        self.sock.close()


@pytest.fixture
def io():
    service = IOService().with_backoff(0.01, 2.0, 0.1)
    yield service
    service.close()


@pytest.fixture
def make_server():
    servers: list[CountingServer] = []

    def make(**kw) -> CountingServer:
        server = CountingServer(Policy(**kw))
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


def run_until(io: IOService, done, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    for _ in range(2_000_000):
        io.poll()
        if done() or time.monotonic() > deadline:
            break
        time.sleep(0.0002)
    assert done(), "condition not reached in time"


class Recorder:
    def __init__(self) -> None:
        self.responses: dict[str, list[bytes]] = {}
        self.errors: dict[str, list[BaseException]] = {}

    def kw(self, path: str) -> dict:
        return {
            "on_response": lambda r: self.responses.setdefault(path, []).append(bytes(r.body)),
            "on_error": lambda e: self.errors.setdefault(path, []).append(e),
        }


def connected(io: IOService, ep: HttpEndpoint) -> None:
    io.register(ep)
    run_until(io, lambda: ep._http is not None)


def submit_gets(ep: HttpEndpoint, rec: Recorder, count: int) -> list:
    return [ep.get(f"/r{i}", **rec.kw(f"/r{i}")) for i in range(count)]


def assert_exactly_once(server: CountingServer, rec: Recorder, paths: list[str]) -> None:
    assert rec.errors == {}
    assert {p: rec.responses.get(p) for p in paths} == {p: [p.encode()] for p in paths}
    assert {p: server.answered[p] for p in paths} == {p: 1 for p in paths}  # none processed twice


# --- the server answers N of M pipelined requests, then ends the connection -----------------------


@pytest.mark.parametrize("end", ["close-header", "fin", "rst"])
def test_n_of_m_pipelined_then_server_ends(io, make_server, end):
    server = make_server(answer=3, end=end, delay=0.05)
    ep = HttpEndpoint(server.url(), pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    reqs = submit_gets(ep, rec, 8)
    assert ep.in_flight == 8  # all on the wire before the first answer
    run_until(io, lambda: all(r.done for r in reqs))
    assert_exactly_once(server, rec, [f"/r{i}" for i in range(8)])
    if end == "close-header":
        # behind "Connection: close" nothing was processed: re-sent with no cap, however often
        assert max(r.sends for r in reqs) >= 3


def test_requests_behind_close_are_resent_without_a_cap(io, make_server):
    # every connection answers two requests, the second with "close": /r5 goes out 3 times
    # (pipelined on connections 1 and 2, behind a close each time), and is answered once
    server = make_server(answer=2, end="close-header", delay=0.05)
    ep = HttpEndpoint(server.url(), pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    reqs = submit_gets(ep, rec, 6)
    assert ep.in_flight == 6
    run_until(io, lambda: all(r.done for r in reqs))
    assert_exactly_once(server, rec, [f"/r{i}" for i in range(6)])
    assert [r.sends for r in reqs] == [1, 1, 2, 2, 3, 3]


def test_requests_behind_close_go_one_at_a_time_on_each_new_connection(io, make_server):
    # every connection answers one request and says close: with re-sent requests queued, each
    # new connection carries one request (it never proves itself), so each goes out twice
    server = make_server(answer=1, end="close-header", delay=0.05)
    ep = HttpEndpoint(server.url(), pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    reqs = submit_gets(ep, rec, 5)
    assert ep.in_flight == 5
    run_until(io, lambda: all(r.done for r in reqs))
    assert_exactly_once(server, rec, [f"/r{i}" for i in range(5)])
    assert [r.sends for r in reqs] == [1, 2, 2, 2, 2]


def test_a_request_that_kills_every_connection_is_given_up(io, make_server):
    # the server closes silently on /r0 every time: it is re-sent once, then fails; the
    # request behind it is not blamed and is answered
    server = make_server(kill=frozenset({"/r0"}))
    ep = HttpEndpoint(server.url(), pipelining=True)
    rec = Recorder()
    connected(io, ep)
    bad, good = ep.get("/r0", **rec.kw("/r0")), ep.get("/r1", **rec.kw("/r1"))
    run_until(io, lambda: bad.done and good.done)
    assert isinstance(bad.error, ConnectionClosed) and bad.sends == 2 and server.received("/r0") == 2
    assert rec.responses["/r1"] == [b"/r1"] and server.answered["/r1"] == 1


def test_resent_requests_are_not_pipelined_until_the_connection_answered(io, make_server):
    server = make_server(answer=2, end="close-header", delay=0.05, first_only=True)
    ep = HttpEndpoint(server.url(), pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    reqs = submit_gets(ep, rec, 6)
    run_until(io, lambda: all(r.done for r in reqs))
    assert_exactly_once(server, rec, [f"/r{i}" for i in range(6)])
    # on the second connection /r2 (re-sent) goes alone; /r3 only after /r2 was answered
    assert server.arrival("/r2")[-1] == (1, 0)
    assert server.arrival("/r3")[-1] == (1, 1)
    # once it answered, pipelining resumes: /r4 and /r5 arrive together behind /r3
    assert server.arrival("/r4")[-1] == (1, 1) and server.arrival("/r5")[-1] == (1, 1)


def test_responses_in_the_socket_are_read_after_a_failed_write(io, make_server):
    # The server answers /r0 and resets the connection. The next write fails (ECONNRESET), but
    # the answer to /r0 is already in the client's socket: it must be delivered, not re-sent.
    server = make_server(answer=1, end="rst", first_only=True)
    ep = HttpEndpoint(server.url(), pipelining=True)
    rec = Recorder()
    connected(io, ep)
    first = ep.get("/r0", **rec.kw("/r0"))
    assert server.closed.wait(5)  # answered and reset; the client has not read anything yet
    second = ep.get("/r1", **rec.kw("/r1"))  # the write fails under request()
    run_until(io, lambda: first.done and second.done)
    assert_exactly_once(server, rec, ["/r0", "/r1"])
    assert first.sends == 1 and server.received("/r0") == 1


# --- non-idempotent requests: never pipelined, never re-sent automatically ------------------------


def test_post_is_never_pipelined_behind_a_get(io, make_server):
    server = make_server(delay=0.2)
    ep = HttpEndpoint(server.url(), pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    get = ep.get("/g", **rec.kw("/g"))
    post = ep.post("/p", b"order", **rec.kw("/p"))
    after = ep.get("/g2", **rec.kw("/g2"))
    assert ep.in_flight == 1 and ep.queued == 2  # the POST waits, and so does what is behind it
    run_until(io, lambda: get.done and post.done and after.done)
    assert rec.errors == {}
    # at the server: the POST arrived only after the GET's response had been sent, and the GET
    # behind the POST only after the POST's response
    assert server.arrival("/p") == [(0, 1)]
    assert server.arrival("/g2") == [(0, 2)]


def test_get_is_not_pipelined_behind_a_post(io, make_server):
    server = make_server(delay=0.2)
    ep = HttpEndpoint(server.url(), pipelining=True)
    rec = Recorder()
    connected(io, ep)
    post = ep.post("/p", b"x", **rec.kw("/p"))
    get = ep.get("/g", **rec.kw("/g"))
    assert ep.in_flight == 1
    run_until(io, lambda: post.done and get.done)
    assert server.arrival("/g") == [(0, 1)]


@pytest.mark.parametrize("pipelining", [False, True])
def test_post_is_never_resent_automatically(io, make_server, pipelining):
    # the server reads the POST and closes without answering: it may have acted on it
    server = make_server(kill=frozenset({"/p"}), first_only=True)
    ep = HttpEndpoint(server.url(), pipelining=pipelining)
    rec = Recorder()
    connected(io, ep)
    warm = ep.get("/warm", **rec.kw("/warm"))  # an answered request first: the connection served
    run_until(io, lambda: warm.done)
    post = ep.post("/p", b"order", **rec.kw("/p"))
    run_until(io, lambda: post.done)
    assert isinstance(post.error, ConnectionClosed) and post.sends == 1
    assert server.received("/p") == 1
    later = ep.get("/after", **rec.kw("/after"))  # the endpoint itself goes on, reconnected
    run_until(io, lambda: later.done)
    assert server.received("/p") == 1 and later.response is not None


def test_idempotent_request_resent_once_after_a_silent_close(io, make_server):
    # the connection dies with the GET unanswered (no close signal): re-sent once, answered once
    server = make_server(kill=frozenset({"/r1"}), first_only=True)
    ep = HttpEndpoint(server.url())
    rec = Recorder()
    connected(io, ep)
    reqs = submit_gets(ep, rec, 3)
    run_until(io, lambda: all(r.done for r in reqs))
    assert_exactly_once(server, rec, ["/r0", "/r1", "/r2"])
    assert reqs[1].sends == 2 and server.received("/r1") == 2


# --- nginx: keepalive_requests ends connections with "Connection: close" ---------------------------


@pytest.mark.nginx
def test_pipelining_across_nginx_keepalive_requests_limit(io, nginx):
    ep = HttpEndpoint(f"http://127.0.0.1:{nginx.counted_port}", pipelining=True, max_pipeline=8)
    rec = Recorder()
    connected(io, ep)
    paths = [f"/count/{i}" for i in range(20)]
    reqs = [ep.get(p, **rec.kw(p)) for p in paths]
    run_until(io, lambda: all(r.done for r in reqs))
    assert rec.errors == {}
    bodies = {p: rec.responses[p] for p in paths}
    assert all(len(b) == 1 and b[0].split()[0] == p.encode() for p, b in bodies.items())
    ports = Counter(b[0].split()[1] for b in bodies.values())
    assert max(ports.values()) <= 3 and len(ports) >= 7  # nginx's limit, honoured
    processed = nginx.processed()
    assert Counter(p for p in processed if p.startswith("/count/")) == Counter(paths)  # once each
