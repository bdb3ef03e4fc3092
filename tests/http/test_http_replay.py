"""The HTTP connection is stream-agnostic: record a TLS exchange with nginx, replay it offline."""

from __future__ import annotations

import gzip
import time

import pytest

from boomnet.errors import ConnectionClosed
from boomnet.http import HttpConnection, encode_request
from boomnet.http.blocking import establish, exchange
from boomnet.stream import ReplayStream, TcpStream

pytestmark = pytest.mark.nginx

REQUESTS = [
    ("GET", "/small.txt", None),
    ("GET", "/text.txt", {"Accept-Encoding": "gzip"}),  # chunked
    ("HEAD", "/big.bin", None),
    ("GET", "/big.bin", None),
]


def _run(conn: HttpConnection, host: str) -> list:
    out = []
    for method, path, headers in REQUESTS:
        head, body = encode_request(method, path, host, headers)
        out.append(exchange(conn, method, head, body, time.monotonic() + 10))
    return out


def test_record_then_replay(nginx, ca_file, tmp_path):
    host = f"127.0.0.1:{nginx.tls_port}"
    stream = TcpStream.connect("127.0.0.1", nginx.tls_port).into_tls("127.0.0.1", ca_file=ca_file).into_recorded(
        "http", directory=tmp_path
    )
    live_conn = HttpConnection(stream, host)
    establish(live_conn, time.monotonic() + 5)
    live = _run(live_conn, host)
    live_conn.close()
    assert gzip.decompress(live[1].body) == nginx.text_content and live[3].body == nginx.big_content

    replay_conn = HttpConnection(ReplayStream.from_file("http", directory=tmp_path, compare_writes=True), host)
    replayed = _run(replay_conn, host)
    assert [(r.status, r.headers.items(), r.body) for r in replayed] == [
        (r.status, r.headers.items(), r.body) for r in live
    ]
    assert replay_conn.poll() == [] and not replay_conn.reusable  # the recording ended: EOF
    with pytest.raises(ConnectionClosed):
        replay_conn.send_request("GET", "/small.txt")
