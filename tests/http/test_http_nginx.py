"""The client against nginx (an independent server), plain and TLS."""

from __future__ import annotations

import gzip
import select

import pytest

from boomnet.connect import Origin
from boomnet.errors import CertificateError, TlsError
from boomnet.http import HttpClient, request
from boomnet.stream.options import TlsOptions

pytestmark = pytest.mark.nginx


@pytest.fixture
def client(ca_file):
    with HttpClient(tls=TlsOptions(ca_file=ca_file), request_timeout=10) as c:
        yield c


@pytest.mark.parametrize("tls", [False, True])
def test_static_files(client, nginx, tls):
    small = client.get(nginx.url("/small.txt", tls=tls))
    assert (small.status, small.body) == (200, b"small file\n")
    assert small.headers["server"].startswith("nginx")
    big = client.get(nginx.url("/big.bin", tls=tls))
    assert big.headers["content-length"] == str(len(nginx.big_content))
    assert big.body == nginx.big_content
    missing = client.get(nginx.url("/missing", tls=tls))
    assert missing.status == 404 and b"nginx" in missing.body
    assert client.connections_opened == 1  # all three on one keep-alive connection


@pytest.mark.parametrize("tls", [False, True])
def test_gzip_is_chunked(client, nginx, tls):
    resp = client.get(nginx.url("/text.txt", tls=tls), {"Accept-Encoding": "gzip"})
    assert resp.headers["transfer-encoding"] == "chunked" and resp.headers["content-encoding"] == "gzip"
    assert gzip.decompress(resp.body) == nginx.text_content
    again = client.get(nginx.url("/small.txt", tls=tls))
    assert again.body == b"small file\n" and client.connections_opened == 1


def test_head_and_conditional_get(client, nginx):
    head = client.head(nginx.url("/big.bin"))
    assert head.body == b"" and int(head.headers["content-length"]) == len(nginx.big_content)
    etag = head.headers["etag"]
    not_modified = client.get(nginx.url("/big.bin"), {"If-None-Match": etag})
    assert not_modified.status == 304 and not_modified.body == b""
    assert client.get(nginx.url("/return")).body == b"returned\n"
    assert client.connections_opened == 1


def test_keep_alive_reuses_the_same_connection(client, nginx):
    ports = {client.get(nginx.url("/peer")).text() for _ in range(10)}
    assert len(ports) == 1 and client.pool.stats.reused == 9


def test_keepalive_requests_limit_is_handled(client, nginx):
    # nginx closes after 3 requests per connection (with "Connection: close" on the 3rd)
    ports = [client.get(nginx.url("/peer", port=nginx.limited_port)).text() for _ in range(7)]
    assert len(set(ports[0:3])) == 1 and len(set(ports[3:6])) == 1 and ports[0] != ports[3] != ports[6]
    assert client.connections_opened == 3


def test_server_idle_close_detected_before_reuse(client, nginx):
    url = nginx.url("/peer", port=nginx.idle_port)
    first = client.get(url).text()
    (conn,) = client.pool.idle_connections(Origin.of(url))
    p = select.poll()
    p.register(conn.fileno(), select.POLLIN)
    assert p.poll(3000), "nginx did not close the idle connection"
    assert client.get(url).text() != first
    assert client.pool.stats.discarded == 1 and client.connections_opened == 2


def test_pool_keys_separate_plain_and_tls(client, nginx):
    client.get(nginx.url("/small.txt"))
    client.get(nginx.url("/small.txt", tls=True))
    client.get(nginx.url("/small.txt"))
    client.get(nginx.url("/small.txt", tls=True))
    assert client.connections_opened == 2 and client.pool.idle() == 2


def test_tls_verification_is_on_by_default(nginx):
    with pytest.raises(CertificateError):
        request("GET", nginx.url("/small.txt", tls=True), request_timeout=5)


def test_tls_with_ca_file_one_shot(nginx, ca_file):
    resp = request("GET", nginx.url("/small.txt", tls=True), tls=TlsOptions(ca_file=ca_file), request_timeout=5)
    assert resp.body == b"small file\n"


def test_tls_verify_false(nginx):
    resp = request("GET", nginx.url("/small.txt", tls=True), tls=TlsOptions(verify=False), request_timeout=5)
    assert resp.body == b"small file\n"


def test_tls_to_plain_port_fails_cleanly(nginx, ca_file):
    with pytest.raises(TlsError):
        request("GET", f"https://127.0.0.1:{nginx.port}/small.txt", tls=TlsOptions(ca_file=ca_file), request_timeout=5)
