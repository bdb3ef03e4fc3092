"""HttpClient chooses HTTP/2 or HTTP/1.1 per origin (ALPN; h2c with prior knowledge) over the one
generic pool, against nginx (HTTP/2 over TLS, h2c), hypercorn (ASGI) and an HTTP/1.1-only TLS
server (aiohttp); the pool's rules on both protocols; a user's connector layer in the stack."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from boomnet.connect import Connector, Origin, Pool, TcpConnector, TlsConnector
from boomnet.errors import BodyTooLarge, DeadlineExceeded, HttpProtocolError, LimitExceeded, LocalError
from boomnet.http import HttpClient, HttpLimits
from boomnet.http.negotiate import ALPN_H2_H1
from boomnet.stream.base import Stream
from boomnet.stream.options import TlsOptions
from boomnet.stream.wrapper import WrappingStream


def test_http2_by_alpn_many_requests_share_one_connection(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, root = nginx_h2
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        rs = http.gather([("GET", f"{tls_url}/small?i={i}") for i in range(300)])
        assert [r.body for r in rs] == [b"ok"] * 300
        assert {r.http_version for r in rs} == {"2"}
        assert http.pool.stats.created == 1  # one HTTP/2 connection carried all 300
        big = http.get(f"{tls_url}/10mb.bin")
        assert big.body == (root / "www" / "10mb.bin").read_bytes() and big.http_version == "2"
        assert http.pool.stats.created == 1 and http.pool.stats.reused == 1
        assert http.get(f"{tls_url}/small").url == f"{tls_url}/small"


def test_h2c_with_prior_knowledge_and_plain_http11_otherwise(nginx_h2: tuple[str, str, Path]) -> None:
    _, h2c_url, _ = nginx_h2
    with HttpClient(h2c=True) as http:
        r = http.get(f"{h2c_url}/small")
        assert (r.status, r.body, r.http_version) == (200, b"ok", "2")
    with HttpClient() as http, pytest.raises(HttpProtocolError):
        http.get(f"{h2c_url}/small")  # without prior knowledge http:// speaks HTTP/1.1: nginx's h2c port refuses it


def test_http2_off_and_require(nginx_h2: tuple[str, str, Path], h1_only_tls: str, ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    with HttpClient(tls=TlsOptions(ca_file=ca_file), http2="off") as http:
        assert http.tls.alpn == ("http/1.1",)
        assert http.get(f"{tls_url}/small").http_version == "1.1"  # nginx speaks both: we asked for 1.1
    with HttpClient(tls=TlsOptions(ca_file=ca_file), http2="require") as http:
        assert http.tls.alpn == ("h2",)
        assert http.get(f"{tls_url}/small").http_version == "2"
        with pytest.raises(HttpProtocolError, match="did not negotiate h2"):
            http.get(f"{h1_only_tls}/")
        assert http.pool.in_use() == 0 and http.pool.idle(Origin.of(h1_only_tls)) == 0
    with pytest.raises(LocalError):
        HttpClient(tls=TlsOptions(alpn=("http/1.1",)), http2="require")


def test_goaway_retries_are_transparent_and_nothing_is_sent_twice(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    with HttpClient(tls=TlsOptions(ca_file=ca_file), request_timeout=60) as http:
        rs = http.gather([("GET", f"{tls_url}/small?i={i}") for i in range(10_000)])
        assert len(rs) == 10_000 and all(r.body == b"ok" for r in rs)
        assert [r.url for r in rs] == [f"{tls_url}/small?i={i}" for i in range(10_000)]
        assert http.pool.stats.created >= 10  # nginx ended connections after 1,000 requests each


def test_nothing_sent_twice_counted_by_the_server(hypercorn_url: str, ca_file: str) -> None:
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        before = int(http.get(f"{hypercorn_url}/count").body)
        rs = http.gather([("POST", f"{hypercorn_url}/echo", None, b"%d" % i) for i in range(250)])
        assert [r.body for r in rs] == [b"%d" % i for i in range(250)]
        assert int(http.get(f"{hypercorn_url}/count").body) == before + 251  # each POST exactly once


def test_alpn_falls_back_to_http11(h1_only_tls: str, ca_file: str) -> None:
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        rs = http.gather([("GET", f"{h1_only_tls}/") for _ in range(5)])
        assert [(r.body, r.http_version) for r in rs] == [(b"h1", "1.1")] * 5
        assert http.pool.stats.created == 1 and http.pool.stats.reused == 4  # keep-alive, one at a time
        (pooled,) = http.pool.idle_connections(Origin.of(h1_only_tls))
        assert pooled.stream.alpn_protocol == "http/1.1" and pooled.h1 is not None


def test_one_client_both_protocols_one_pool(nginx_h2: tuple[str, str, Path], h1_only_tls: str, ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        rs = http.gather([("GET", f"{tls_url}/small"), ("GET", f"{h1_only_tls}/"), ("GET", f"{tls_url}/small")])
        assert [(r.body, r.http_version) for r in rs] == [(b"ok", "2"), (b"h1", "1.1"), (b"ok", "2")]
        assert http.pool.idle(Origin.of(tls_url)) == 1 and http.pool.idle(Origin.of(h1_only_tls)) == 1


# --- the pool's rules for HTTP/2 -----------------------------------------------------------------


def test_http2_connection_is_shared_until_its_stream_limit(hypercorn_url: str, ca_file: str) -> None:
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        key = Origin.of(hypercorn_url)
        a = http._acquire(key, deadline=1e18)
        assert a.h2 is not None and a.capacity() == a.h2.max_concurrent > 1
        b = http._acquire(key, deadline=1e18)
        assert b is a and http.pool.stats.shared == 1  # room for more streams: shared, not duplicated
        reqs = [a.h2.request("GET", "/slow/300") for _ in range(a.h2.max_concurrent)]
        assert a.capacity() == 0
        c = http._acquire(key, deadline=1e18)  # full: only now a second connection
        assert c is not a and http.pool.stats.created == 2
        from boomnet.http.blocking import wait_h2

        wait_h2(a.h2, reqs, deadline=__import__("time").monotonic() + 20)
        assert all(r.response is not None and r.response.body == b"slow" for r in reqs)
        for p in (a, a, c):
            http._release(p, clean=True)
        assert http.pool.in_use(key) == 0 and http.pool.idle(key) == 2


def test_timed_out_http2_stream_is_reset_and_the_connection_stays_clean(hypercorn_url: str, ca_file: str) -> None:
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        assert http.get(f"{hypercorn_url}/count").http_version == "2"
        (pooled,) = http.pool.idle_connections(Origin.of(hypercorn_url))
        with pytest.raises(DeadlineExceeded):
            http.get(f"{hypercorn_url}/slow/1500", timeout=0.2)
        # the late stream was reset (RST_STREAM) alone: the same connection answers the next
        # request with its own response, not the late one
        assert http.pool.idle_connections(Origin.of(hypercorn_url)) == [pooled] and not pooled.stream.closed
        r = http.post(f"{hypercorn_url}/echo", b"mine")
        assert r.body == b"mine" and http.pool.stats.created == 1


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt: a blocking call abandoned mid-wait."""


def test_interrupted_http2_request_closes_its_connection(hypercorn_url: str, ca_file: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import boomnet.http.client as client_module

    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        http.get(f"{hypercorn_url}/count")
        (pooled,) = http.pool.idle_connections(Origin.of(hypercorn_url))
        real = client_module.wait_h2

        def interrupted(conn, requests, deadline, grace=0.0):  # type: ignore[no-untyped-def]
            conn.poll()  # the request is out; then ^C, its stream still open
            raise Interrupt

        monkeypatch.setattr(client_module, "wait_h2", interrupted)
        with pytest.raises(Interrupt):
            http.get(f"{hypercorn_url}/slow/300")
        monkeypatch.setattr(client_module, "wait_h2", real)
        assert pooled.stream.closed and http.pool.idle() == 0 and http.pool.in_use() == 0  # dirty: never reused
        assert http.get(f"{hypercorn_url}/count").status == 200 and http.pool.stats.created == 2


def test_same_limits_and_error_classes_on_both_protocols(nginx_h2: tuple[str, str, Path], h1_only_tls: str,
                                                         ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    with HttpClient(tls=TlsOptions(ca_file=ca_file), limits=HttpLimits(max_body_size=1000)) as http:
        with pytest.raises(BodyTooLarge):
            http.get(f"{tls_url}/10mb.bin")  # HTTP/2: the stream is reset, the connection kept
        assert http.get(f"{tls_url}/small").body == b"ok" and http.pool.stats.created == 1
    with HttpClient(tls=TlsOptions(ca_file=ca_file), limits=HttpLimits(max_header_count=1)) as http:
        with pytest.raises(HttpProtocolError):  # HeaderTooLarge on either protocol
            http.get(f"{h1_only_tls}/")
        with pytest.raises(HttpProtocolError):
            http.get(f"{tls_url}/small")
    with HttpClient(tls=TlsOptions(ca_file=ca_file), max_per_key=1) as http:
        held = http._acquire(Origin.of(h1_only_tls), deadline=1e18)
        with pytest.raises(LimitExceeded):
            http.get(f"{h1_only_tls}/")
        http._release(held, clean=True)


# --- a user's layer in the connector stack -------------------------------------------------------


class Tap(WrappingStream):
    """A user's layer: sees the plaintext the protocol writes (above TLS)."""

    def __init__(self, inner: Stream, seen: bytearray) -> None:
        super().__init__(inner)
        self.seen = seen

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.seen += data
        self.inner.write(data)


class TapConnector:
    """Any object with ``key`` and ``connect(origin)`` stacks in: here above TLS."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.connects: list[Origin] = []
        self.seen = bytearray()

    @property
    def key(self) -> object:
        return ("tap", self.inner.key)

    def connect(self, origin: Origin) -> Stream:
        self.connects.append(origin)
        return Tap(self.inner.connect(origin), self.seen)


def test_a_custom_layer_in_the_stack_is_used_for_both_protocols(nginx_h2: tuple[str, str, Path], h1_only_tls: str,
                                                                ca_file: str) -> None:
    tls_url, _, _ = nginx_h2
    tap = TapConnector(TlsConnector(TcpConnector(), TlsOptions(ca_file=ca_file), alpn=ALPN_H2_H1))
    assert isinstance(tap, Connector)
    with HttpClient(connector=tap) as http:
        h2 = http.get(f"{tls_url}/small")
        assert h2.http_version == "2"  # the ALPN answer is seen through the user's layer
        assert bytes(tap.seen).startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # the h2 preface went through it
        tap.seen.clear()
        h1 = http.get(f"{h1_only_tls}/")
        assert h1.http_version == "1.1" and bytes(tap.seen).startswith(b"GET / HTTP/1.1\r\n")
    assert tap.connects == [Origin.of(tls_url), Origin.of(h1_only_tls)]
    with pytest.raises(LocalError):
        HttpClient(connector=tap, tls=TlsOptions(ca_file=ca_file))  # options go to the stack's layers


def test_recording_connector_records_an_http2_exchange(nginx_h2: tuple[str, str, Path], ca_file: str,
                                                       tmp_path: Path) -> None:
    from boomnet.connect import RecordingConnector

    tls_url, _, _ = nginx_h2
    stack = RecordingConnector(TlsConnector(TcpConnector(), TlsOptions(ca_file=ca_file), alpn=ALPN_H2_H1), "h2",
                               directory=str(tmp_path))
    with HttpClient(connector=stack) as http:
        assert http.get(f"{tls_url}/small").http_version == "2"
    from boomnet.stream.recorded import wait_finishing

    assert wait_finishing(None, 10.0)  # recordings are written by a background thread: let them finish
    files = [f for f in tmp_path.iterdir() if f.is_file()]
    assert files and any(b"PRI * HTTP/2.0" in f.read_bytes() for f in files)


def test_autoclient_is_a_deprecated_alias(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    from boomnet.http.auto import AutoClient

    tls_url, _, _ = nginx_h2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        http = AutoClient(tls=TlsOptions(ca_file=ca_file), timeout=5)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with http:
        assert isinstance(http, HttpClient) and http.get(f"{tls_url}/small").http_version == "2"


# --- the generic pool itself ----------------------------------------------------------------------


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
    assert pool.in_use() == 3 and pool.idle() == 0


def test_pool_expires_idle_and_bounds_idle_per_key() -> None:
    now = [0.0]
    pool: Pool[str, Fake] = Pool(lambda key: Fake(0), max_idle_per_key=1, idle_timeout=5, clock=lambda: now[0])
    x, y = pool.acquire("k"), pool.acquire("k")
    x.cap = y.cap = 1
    pool.release("k", x)
    pool.release("k", y)  # only one idle is kept: y is closed
    assert pool.idle("k") == 1 and pool.idle_connections("k") == [x] and not y.alive and x.alive
    now[0] = 6.0
    assert pool.acquire("k") is not x and not x.alive  # expired on the way out
    assert pool.stats.expired == 1


def test_an_idle_http2_connection_the_server_closed_is_never_handed_out(hypercorn_idle_close_url: str,
                                                                        ca_file: str) -> None:
    import select

    url = hypercorn_idle_close_url
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        assert http.get(f"{url}/count").http_version == "2"
        (pooled,) = http.pool.idle_connections(Origin.of(url))
        p = select.poll()
        p.register(pooled.fileno(), select.POLLIN)
        assert p.poll(5000), "hypercorn did not end the idle connection"  # its GOAWAY / close
        # a POST is never retried: it succeeds only because the pool saw the end before using it
        assert http.post(f"{url}/echo", b"order").body == b"order"
        assert pooled.stream.closed and http.pool.stats.discarded == 1 and http.pool.stats.created == 2


def test_a_stale_http2_connection_is_retried_once_for_idempotent_requests_only(
        hypercorn_idle_close_url: str, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import select

    from boomnet.errors import ConnectionClosed
    from boomnet.http.pooled import PooledConnection

    # the race the probe cannot close: the server's close arrives just after the pool checked
    monkeypatch.setattr(PooledConnection, "reusable", lambda self: self.h2 is not None and self.h2.available)
    url = hypercorn_idle_close_url
    with HttpClient(tls=TlsOptions(ca_file=ca_file)) as http:
        for method, body in (("GET", None), ("POST", b"order")):
            http.get(f"{url}/count")
            (pooled,) = http.pool.idle_connections(Origin.of(url))
            p = select.poll()
            p.register(pooled.fileno(), select.POLLIN)
            assert p.poll(5000), "hypercorn did not end the idle connection"
            if method == "GET":
                assert http.get(f"{url}/count").status == 200  # failed on the stale one, sent again fresh
            else:
                with pytest.raises(ConnectionClosed):
                    http.post(f"{url}/echo", body)  # may not be sent twice: the caller decides
            assert pooled.stream.closed
