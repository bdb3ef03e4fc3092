"""H2Connection against independent HTTP/2 servers: hypercorn (ASGI) and nginx (TLS and h2c)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from boomnet.errors import BodyTooLarge, DeadlineExceeded, HttpProtocolError
from boomnet.http.h2 import connect_h2, run_until_done
from boomnet.http.limits import HttpLimits


def test_many_requests_in_flight_on_one_connection(hypercorn_url: str, ca_file: str) -> None:
    conn = connect_h2(hypercorn_url, ca_file=ca_file)
    try:
        reqs = [conn.request("POST", "/echo", body=b"%05d" % i) for i in range(300)]
        assert conn.in_flight == 300  # beyond the server's concurrency they wait, in order
        run_until_done(conn, reqs)
        assert [r.response.body for r in reqs if r.response] == [b"%05d" % i for i in range(300)]
        assert all(r.response.http_version == "2" and r.response.status == 200 for r in reqs if r.response)
        assert len({r.stream_id for r in reqs}) == 300
    finally:
        conn.close()


def test_large_upload_and_download_respect_flow_control(hypercorn_url: str, ca_file: str) -> None:
    conn = connect_h2(hypercorn_url, ca_file=ca_file)
    try:
        big = bytes(range(256)) * 40960  # 10 MiB: far over the initial 64 KiB windows
        up = conn.request("POST", "/echo", body=big)
        down = conn.request("GET", "/bytes/10485760")
        run_until_done(conn, [up, down], timeout=60)
        assert up.response is not None and up.response.headers.get("x-length") == str(len(big))
        assert hashlib.sha256(up.response.body).digest() == hashlib.sha256(big).digest()
        assert down.response is not None and len(down.response.body) == 10485760
    finally:
        conn.close()


def test_trailers_and_slow_streams_do_not_block_others(hypercorn_url: str, ca_file: str) -> None:
    conn = connect_h2(hypercorn_url, ca_file=ca_file)
    try:
        slow = conn.request("GET", "/slow/800")
        fast = [conn.request("GET", "/count") for _ in range(20)]
        tr = conn.request("GET", "/trailers", headers=[("te", "trailers")])
        run_until_done(conn, [*fast, tr])
        assert not slow.done  # 20 quick answers came while the slow stream was still open
        assert tr.response is not None and tr.response.body == b"with trailers"
        assert ("x-checksum", "abc") in tr.trailers
        run_until_done(conn, [slow])
        assert slow.response is not None and slow.response.body == b"slow"
    finally:
        conn.close()


def test_body_limit_and_deadline_fail_one_stream_only(hypercorn_url: str, ca_file: str) -> None:
    conn = connect_h2(hypercorn_url, ca_file=ca_file, limits=HttpLimits(max_body_size=100_000))
    try:
        import time

        too_big = conn.request("GET", "/bytes/100001")
        exact = conn.request("GET", "/bytes/100000")
        late = conn.request("GET", "/slow/2000", deadline=time.monotonic() + 0.2)
        ok = conn.request("GET", "/count")
        run_until_done(conn, [too_big, exact, late, ok])
        assert isinstance(too_big.error, BodyTooLarge)
        assert exact.response is not None and len(exact.response.body) == 100_000
        assert isinstance(late.error, DeadlineExceeded)
        assert ok.response is not None and ok.response.status == 200
        after = conn.request("GET", "/count")  # the connection is still good
        run_until_done(conn, [after])
        assert after.response is not None
    finally:
        conn.close()


def test_nginx_tls_and_h2c(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    tls_url, h2c_url, root = nginx_h2
    for url, kw in ((tls_url, {"ca_file": ca_file}), (h2c_url, {"prior_knowledge": True})):
        conn = connect_h2(url, **kw)  # type: ignore[arg-type]
        try:
            small = [conn.request("GET", "/small") for _ in range(50)]
            big = conn.request("GET", "/10mb.bin")
            run_until_done(conn, [*small, big], timeout=60)
            assert all(r.response is not None and r.response.body == b"ok" for r in small)
            assert big.response is not None
            assert big.response.body == (root / "www" / "10mb.bin").read_bytes()
        finally:
            conn.close()


def test_nginx_goaway_after_1000_requests_none_lost_none_twice(nginx_h2: tuple[str, str, Path], ca_file: str) -> None:
    """nginx's default ends an HTTP/2 connection after 1,000 requests with a graceful GOAWAY.
    10,000 requests: every one answered exactly once (retried only when never processed)."""
    tls_url, _, _ = nginx_h2
    total, done, retried, connections = 10_000, 0, 0, 0
    todo = list(range(total))
    answered: dict[int, int] = {}
    conn = None
    while todo and connections < 50:
        conn = connect_h2(tls_url, ca_file=ca_file)
        connections += 1
        batch: list[tuple[int, object]] = []
        while todo and conn.available and len(batch) < 2000:
            i = todo.pop(0)
            batch.append((i, conn.request("GET", f"/small?i={i}")))
        reqs = [r for _, r in batch]
        run_until_done(conn, reqs, timeout=60)  # type: ignore[arg-type]
        for i, r in batch:
            if r.response is not None:  # type: ignore[attr-defined]
                answered[i] = answered.get(i, 0) + 1
                done += 1
            else:
                assert r.retry, f"request {i} failed without being retriable: {r.error!r}"  # type: ignore[attr-defined]
                retried += 1
                todo.insert(0, i)
        conn.close()
    assert done == total and sorted(answered) == list(range(total))
    assert set(answered.values()) == {1}
    assert connections >= 10  # the server really did end connections (1,000 requests each)
    assert retried > 0  # and some requests were sent after its GOAWAY's last stream


def test_alpn_without_h2_is_a_clear_error(ca_file: str, cert_files: tuple[str, str]) -> None:
    import socket
    import ssl
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_files)
    ctx.set_alpn_protocols(["http/1.1"])

    def serve() -> None:
        c, _ = srv.accept()
        try:
            s = ctx.wrap_socket(c, server_side=True)
            s.recv(1)
            s.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(HttpProtocolError, match="did not negotiate h2"):
            connect_h2(f"https://localhost:{port}", ca_file=ca_file)
    finally:
        t.join(timeout=5)
        srv.close()



def test_connect_h2_gives_up_at_its_timeout_when_the_handshake_never_ends() -> None:
    """A server that accepts and never speaks TLS: ConnectTimeout at ``timeout``, socket closed."""
    import socket
    import time

    from boomnet.errors import ConnectTimeout

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(ConnectTimeout):
            connect_h2(f"https://localhost:{port}", timeout=0.3)
        assert 0.25 < time.monotonic() - start < 5


def test_run_until_done_raises_at_its_timeout(hypercorn_url: str, ca_file: str) -> None:
    conn = connect_h2(hypercorn_url, ca_file=ca_file)
    try:
        slow = conn.request("GET", "/slow/2000")
        with pytest.raises(DeadlineExceeded):
            run_until_done(conn, [slow], timeout=0.1)
        assert not slow.done  # the request keeps its own (later) deadline; only the wait gave up
    finally:
        conn.close()
