"""Secrets in recordings, against real peers: the peer gets every secret, the file gets none,
and the redacted recording still replays.

Peers: aiohttp.web (HTTP), websockets (a WebSocket login), a raw socket (a FIX Logon).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from websockets.sync.server import ServerConnection, serve

from boomnet.errors import ConnectionClosed, RecordingError
from boomnet.http import HttpConnection, encode_request
from boomnet.http.blocking import establish, exchange
from boomnet.stream import RecordedStream, ReplayStream, TcpStream
from boomnet.stream.recorded import dropped_recordings
from boomnet.stream.redact import DEFAULT_REDACTOR, _unmask
from boomnet.ws import WebSocket
from boomnet.ws.frame import Opcode

from .helpers import DEADLINE, Peer, read_exactly, wait_established

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a0f2a5a5b3c8d1e7f6a4b2c1d0e9f8a"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"
SECRETS = (API_KEY, SIGNATURE, BEARER)


def file_bytes(rec: RecordedStream) -> bytes:
    assert rec.wait_closed()
    return Path(rec.path).read_bytes()


def assert_no_secret(data: bytes, secrets: tuple[str, ...] = SECRETS) -> None:
    for secret in secrets:
        assert secret.encode() not in data, f"{secret[:8]}... is in the recording"


# --- HTTP: aiohttp ---------------------------------------------------------------------------


class AioPeer:
    """aiohttp.web in a thread; keeps what each request carried so the test can check the peer
    got the secrets unredacted (the recording must not change the stream)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str, str]] = []
        app = web.Application()
        app.router.add_route("*", "/api/v3/{name}", self.handle)
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append((
            request.headers.get("X-MBX-APIKEY", ""), request.headers.get("Authorization", ""),
            request.query.get("signature", ""), body, request.path,
        ))
        return web.json_response({"ok": request.match_info["name"], "n": len(self.seen)})

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def aio_peer() -> Iterator[AioPeer]:
    peer = AioPeer()
    yield peer
    peer.stop()


def signed_requests(host: str) -> list[tuple[str, bytes, bytes]]:
    """Binance-style signed REST calls: key header, signed query, signed form body, bearer."""
    requests = []
    for method, target, headers, body in (
        ("GET", f"/api/v3/account?timestamp=1&signature={SIGNATURE}", {"X-MBX-APIKEY": API_KEY}, None),
        ("POST", "/api/v3/order", {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"},
         f"symbol=BTCUSDT&side=BUY&timestamp=1&signature={SIGNATURE}".encode()),
        ("GET", "/api/v3/me", {"Authorization": f"Bearer {BEARER}"}, None),
    ):
        head, payload = encode_request(method, target, host, headers, body)
        requests.append((method, head, payload))
    return requests


def run_http(conn: HttpConnection, host: str) -> list[tuple[int, bytes]]:
    out = []
    for method, head, body in signed_requests(host):
        response = exchange(conn, method, head, body, time.monotonic() + DEADLINE)
        out.append((response.status, bytes(response.body)))
    return out


def test_http_credentials_reach_the_server_but_not_the_recording(aio_peer: AioPeer, tmp_path: Path) -> None:
    host = f"127.0.0.1:{aio_peer.port}"
    stream = TcpStream.connect("127.0.0.1", aio_peer.port).into_recorded("rest", directory=tmp_path)
    conn = HttpConnection(stream, host)
    establish(conn, time.monotonic() + DEADLINE)
    live = run_http(conn, host)
    conn.close()
    assert [status for status, _ in live] == [200, 200, 200]
    # the server got every secret as sent: the recording never changes the stream
    assert aio_peer.seen[0][:3] == (API_KEY, "", SIGNATURE)
    assert aio_peer.seen[1][0] == API_KEY and aio_peer.seen[1][3].endswith(f"signature={SIGNATURE}")
    assert aio_peer.seen[2][1] == f"Bearer {BEARER}"

    raw = file_bytes(stream)
    assert_no_secret(raw)
    assert b"X-MBX-APIKEY: " + b"*" * len(API_KEY) in raw and b"symbol=BTCUSDT&side=BUY" in raw

    # the redacted recording replays, requests compared (masked bytes match what is written)
    replay = ReplayStream.from_file("rest", directory=tmp_path, compare_writes=True)
    assert replay.recording.redacted_out
    replayed = run_http(HttpConnection(replay, host), host)
    assert replayed == live


def test_replay_still_catches_a_different_request(aio_peer: AioPeer, tmp_path: Path) -> None:
    host = f"127.0.0.1:{aio_peer.port}"
    stream = TcpStream.connect("127.0.0.1", aio_peer.port).into_recorded("rest2", directory=tmp_path)
    conn = HttpConnection(stream, host)
    establish(conn, time.monotonic() + DEADLINE)
    run_http(conn, host)
    conn.close()
    stream.wait_closed()
    replay = ReplayStream.from_file("rest2", directory=tmp_path, compare_writes=True)
    first = next(replay.recording.writes())
    assert b"signature=" + b"*" * len(SIGNATURE) in first
    replay.write(first[: first.index(b"timestamp=1")])  # identical so far
    with pytest.raises(RecordingError, match="differ"):
        replay.write(b"timestamp=2")  # a non-secret byte still has to match


# --- WebSocket: websockets --------------------------------------------------------------------

LOGON = f'{{"id":"l1","method":"session.logon","params":{{"apiKey":"{API_KEY}","signature":"{SIGNATURE}","timestamp":1}}}}'


def test_websocket_login_is_redacted_and_the_session_replays(tmp_path: Path) -> None:
    received: list[str] = []

    def handler(ws: ServerConnection) -> None:
        msg = ws.recv(timeout=DEADLINE)
        received.append(str(msg))
        ws.send('{"id":"l1","status":200,"result":{"authorizedSince":1}}')
        ws.send('{"e":"trade","p":"1.0"}')

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ws-api"
        stream = TcpStream.connect("127.0.0.1", port).into_recorded("wsapi", directory=tmp_path)
        ws = WebSocket(stream, url)
        wait_established(ws)  # type: ignore[arg-type]
        ws.send_text(LOGON)
        live = read_texts(ws, 2)
        ws.close()
        stream.close()
        server.shutdown()
        thread.join(DEADLINE)
    assert received == [LOGON]  # the server saw the real credentials
    assert live[0].startswith('{"id":"l1","status":200')

    raw = file_bytes(stream)
    assert_no_secret(raw)
    recording = ReplayStream.from_file("wsapi", directory=tmp_path).recording
    writes = list(recording.writes())
    key = header_value(writes[0], b"sec-websocket-key")
    assert key is not None and len(key) == 24  # the upgrade key is kept: the replay needs it
    login = unmask_client_frame(writes[1])
    assert login == LOGON.replace(API_KEY, "*" * len(API_KEY)).replace(SIGNATURE, "*" * len(SIGNATURE)).encode()

    replay_ws = WebSocket(ReplayStream.from_file("wsapi", directory=tmp_path), url, key=key)
    wait_established(replay_ws)  # type: ignore[arg-type]
    replay_ws.send_text(LOGON)
    assert read_texts(replay_ws, 2) == live


def read_texts(ws: WebSocket, count: int) -> list[str]:
    texts: list[str] = []
    end = time.monotonic() + DEADLINE
    while len(texts) < count:
        for frame in ws.read_batch():
            if frame.opcode == Opcode.TEXT:
                texts.append(bytes(frame.payload).decode())
        assert time.monotonic() < end, f"got {len(texts)} of {count} messages"
        time.sleep(0.0005)
    return texts


def header_value(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode()
    return None


def unmask_client_frame(frame: bytes) -> bytes:
    assert frame[1] & 0x80 and frame[1] & 0x7F == 126  # masked, 16-bit length (our login's size)
    return _unmask(frame[8:], frame[4:8])


# --- FIX: a raw socket peer -------------------------------------------------------------------


def fix_message(fields: list[tuple[int, str]]) -> bytes:
    """A FIX 4.4 message with correct BodyLength and CheckSum (FIX spec, not boomnet code)."""
    body = b"".join(b"%d=%s\x01" % (tag, value.encode()) for tag, value in fields)
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    checksum = sum(head + body) % 256
    return head + body + b"10=%03d\x01" % checksum


def test_fix_logon_password_and_signature_are_redacted(tmp_path: Path) -> None:
    logon = fix_message([
        (35, "A"), (34, "1"), (49, "CLIENT"), (52, "20240101-00:00:00.000"), (56, "VENUE"),
        (95, str(len(SIGNATURE))), (96, SIGNATURE), (98, "0"), (108, "30"), (553, "trader1"), (554, BEARER),
    ])
    reply = fix_message([(35, "A"), (34, "1"), (49, "VENUE"), (56, "CLIENT"), (98, "0"), (108, "30")])
    got: list[bytes] = []

    def venue(conn: socket.socket) -> None:
        data = b""
        while not data.endswith(b"\x01") or b"\x0110=" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        got.append(data)
        conn.sendall(reply)

    with Peer(venue) as peer:
        stream = TcpStream.connect("127.0.0.1", peer.port).into_recorded("fix", directory=tmp_path)
        wait_established(stream)
        stream.write(logon)
        assert read_exactly(stream, len(reply)) == reply
        stream.close()
        peer.join()
    assert got == [logon]
    raw = file_bytes(stream)
    assert_no_secret(raw)
    assert b"553=trader1\x01" in raw and b"35=A\x01" in raw
    replay = ReplayStream.from_file("fix", directory=tmp_path, compare_writes=True)
    replay.write(logon)  # the masked recording matches the real logon
    assert read_exactly(replay, len(reply)) == reply


# --- the switches -----------------------------------------------------------------------------


def test_redact_none_records_clear_text_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from .test_recording import Scripted

    with caplog.at_level(logging.WARNING, logger="boomnet.stream.recorded"):
        rec = RecordedStream(Scripted([b"ok"]), "clear", directory=tmp_path, redact=None)
    assert any(r.levelno == logging.WARNING and "WITHOUT redaction" in r.getMessage() for r in caplog.records)
    rec.write(f'{{"apiKey":"{API_KEY}"}}'.encode())
    rec.close()
    assert API_KEY.encode() in file_bytes(rec)
    assert not ReplayStream.from_file("clear", directory=tmp_path).recording.redacted_out


def test_inbound_redaction_is_off_by_default_and_on_request(tmp_path: Path) -> None:
    from .test_recording import Scripted

    echo = f'{{"listenKey":"{API_KEY}"}}'.encode()
    plain = RecordedStream(Scripted([echo]), "in-default", directory=tmp_path)
    assert read_exactly(plain, len(echo)) == echo
    plain.close()
    assert API_KEY.encode() in file_bytes(plain)  # the documented default: reads are kept as read

    red = RecordedStream(Scripted([echo]), "in-redacted", directory=tmp_path, redact_in=DEFAULT_REDACTOR)
    assert read_exactly(red, len(echo)) == echo  # the caller still reads the real bytes
    red.close()
    assert API_KEY.encode() not in file_bytes(red)
    replay = ReplayStream.from_file("in-redacted", directory=tmp_path)
    assert replay.recording.redacted_in
    assert read_exactly(replay, len(echo)) == echo.replace(API_KEY.encode(), b"*" * len(API_KEY))


class Broken:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def redact_out(self, data: bytes) -> bytes:
        if self.mode == "raise":
            raise RuntimeError("bug in a user redactor")
        return data[:-1]


@pytest.mark.parametrize("mode", ["raise", "shorter"])
def test_a_broken_redactor_drops_the_recording_not_the_stream(tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    from .test_recording import Scripted

    inner = Scripted([b"a", b"b"])
    before = dropped_recordings()
    rec = RecordedStream(inner, "broken", directory=tmp_path, redact=Broken(mode))
    with caplog.at_level(logging.ERROR, logger="boomnet.stream.recorded"):
        rec.write(f"password={API_KEY}".encode())  # nothing raised into the caller
    assert inner.written == f"password={API_KEY}".encode()  # the stream got it
    assert not rec.recording and rec.failure is not None and "redactor" in rec.failure
    assert dropped_recordings() == before + 1
    assert [r.levelno for r in caplog.records].count(logging.ERROR) == 1
    assert read_exactly(rec, 2) == b"ab"
    with pytest.raises(ConnectionClosed):
        rec.recv_into(bytearray(4))
    rec.close()
    with pytest.raises(RecordingError, match="dropped"):
        rec.wait_closed()
    assert API_KEY.encode() not in Path(rec.path).read_bytes()
