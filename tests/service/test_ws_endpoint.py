"""WebsocketEndpoint on the IOService against the independent `websockets` server (ws and wss)."""

from __future__ import annotations

import pytest

from boomnet.errors import ConnectTimeout, HandshakeError, RecordingError, WebSocketClosed
from boomnet.service import Backoff, DisconnectKind, IOService
from boomnet.stream import ReplayStream
from boomnet.ws import Opcode, WebSocket, WebsocketEndpoint

from .conftest import make_selector, poll_for, poll_until
from .peers import RawWsPeer, TcpPeer, WsPeer

FAST = Backoff(0.01, 2.0, 0.05)


class Chat(WebsocketEndpoint):
    """Subscribes on connect; collects text messages."""

    def __init__(self, url: str, **options) -> None:
        super().__init__(url, **options)
        self.got: list[str] = []
        self.connects = 0
        self.reasons: list = []
        self.reconnect = True

    def on_connected(self, ws, ctx) -> None:
        self.connects += 1
        ws.send_text("subscribe")

    def poll(self, ws, ctx) -> None:
        for frame in ws.read_batch():
            if frame.opcode == Opcode.TEXT:
                self.got.append(frame.text())

    def on_disconnect(self, reason, ctx) -> bool:
        self.reasons.append(reason)
        return self.reconnect


def test_ws_endpoint_subscribes_and_receives(service_factory, ws_peer):
    svc = service_factory(backoff=FAST)
    ep = Chat(ws_peer.url("/feed?x=1"))
    handle = svc.register(ep)
    poll_until(svc, lambda: ep.got == ["welcome", "subscribe"], what="welcome and the echoed subscribe")
    assert isinstance(svc.target(handle), WebSocket)
    ws_peer.broadcast("tick")
    poll_until(svc, lambda: ep.got[-1:] == ["tick"])
    assert ws_peer.received == ["subscribe"]


def test_wss_endpoint_with_ca_file_over_a_resolved_name(service_factory, server_ssl_context, ca_file):
    peer = WsPeer(ssl_context=server_ssl_context)
    try:
        svc = service_factory(backoff=FAST)
        ep = Chat(peer.url(host="localhost"), ca_file=ca_file)
        svc.register(ep)
        poll_until(svc, lambda: ep.got == ["welcome", "subscribe"], what="TLS, upgrade and echo")
        assert ep.reasons == []
    finally:
        peer.close()


def test_wss_with_an_unknown_ca_fails_to_connect(service_factory, server_ssl_context):
    peer = WsPeer(ssl_context=server_ssl_context)
    try:
        svc = service_factory(backoff=FAST)
        ep = Chat(peer.url())
        ep.reconnect = False
        svc.register(ep)
        poll_until(svc, lambda: ep.reasons, what="the certificate to be refused")
        assert ep.reasons[0].kind is DisconnectKind.CONNECT_FAILED
        assert ep.connects == 0 and len(svc) == 0
    finally:
        peer.close()


def test_ws_reconnects_after_the_server_drops_it(service_factory, ws_peer):
    svc = service_factory(backoff=FAST)
    ep = Chat(ws_peer.url())
    svc.register(ep)
    poll_until(svc, lambda: ep.got == ["welcome", "subscribe"])
    assert ws_peer.drop_all() == 1
    poll_until(svc, lambda: ep.connects == 2 and ep.got.count("subscribe") == 2, what="reconnect and resubscribe")
    assert ep.reasons[0].kind is DisconnectKind.CLOSED


def test_server_close_frame_is_noticed_without_any_endpoint_workaround(service_factory, ws_peer):
    """After a close frame the WebSocket closes its stream: no readiness event will ever follow,
    so the service itself must come back to the endpoint to let ``read_batch`` raise."""
    svc = service_factory(backoff=FAST)
    ep = Chat(ws_peer.url())
    svc.register(ep)
    poll_until(svc, lambda: ep.got == ["welcome", "subscribe"])
    handle = next(h for h, e in svc if e is ep)
    svc.target(handle).send_text("close-me")
    poll_until(svc, lambda: ep.reasons, what="the close frame to end the connection")
    (reason,) = ep.reasons
    assert reason.kind is DisconnectKind.CLOSED
    assert isinstance(reason.error, WebSocketClosed) and reason.error.code == 1001
    poll_until(svc, lambda: ep.connects == 2, what="reconnect after the close frame")


def test_close_frame_in_the_same_batch_as_data_is_noticed(service_factory):
    """The WebSocket defers such a close to the next read and says so through buffered() > 0."""
    # one write: TEXT "last", then CLOSE 1001 — the client reads both in one batch
    peer = RawWsPeer(b"\x81\x04last" + b"\x88\x02\x03\xe9")
    try:
        svc = service_factory(backoff=Backoff(10.0, 2.0, 10.0))
        ep = Chat(f"ws://127.0.0.1:{peer.port}/")
        svc.register(ep)
        poll_until(svc, lambda: ep.got == ["last"], what="the data frame")
        poll_until(svc, lambda: ep.reasons, timeout=1.0, what="the close that came with it")
        assert isinstance(ep.reasons[0].error, WebSocketClosed)
    finally:
        peer.close()


def test_rejected_upgrade_is_a_connect_failure(service_factory, ws_peer):
    svc = service_factory(backoff=FAST)
    ep = Chat(ws_peer.url("/reject"))
    ep.reconnect = False
    svc.register(ep)
    poll_until(svc, lambda: ep.reasons)
    (reason,) = ep.reasons
    assert reason.kind is DisconnectKind.CONNECT_FAILED
    assert isinstance(reason.error, HandshakeError) and reason.error.status == 403


def test_slow_handshake_does_not_stall_other_endpoints(service_factory, ws_peer):
    silent = TcpPeer(greeting=b"", echo=False)  # accepts, never answers the upgrade
    try:
        svc = service_factory(backoff=FAST)
        slow = Chat(f"ws://127.0.0.1:{silent.port}/", handshake_timeout=1.0)
        slow.reconnect = False
        fast = Chat(ws_peer.url())
        svc.register(slow)
        svc.register(fast)
        poll_until(svc, lambda: fast.got == ["welcome", "subscribe"], what="the healthy endpoint")
        ws_peer.broadcast("while the other one hangs")
        poll_until(svc, lambda: fast.got[-1:] == ["while the other one hangs"])
        assert slow.reasons == [] and slow.connects == 0
        poll_until(svc, lambda: slow.reasons, what="the handshake timeout")
        (reason,) = slow.reasons
        assert reason.kind is DisconnectKind.CONNECT_FAILED and isinstance(reason.error, ConnectTimeout)
        assert len(svc) == 1 and fast.reasons == []
    finally:
        silent.close()


def test_auto_disconnect_sends_close_and_reconnects(service_factory, ws_peer):
    ttl = iter([0.05, 100.0])
    svc = service_factory(backoff=Backoff(5.0, 2.0, 5.0))  # a recycle must not wait for back-off
    ep = Chat(ws_peer.url(), auto_disconnect=lambda: next(ttl))
    svc.register(ep)
    poll_until(svc, lambda: ep.connects == 2 and ep.got.count("welcome") == 2, what="recycle")
    assert [r.kind for r in ep.reasons] == [DisconnectKind.EXPIRED]
    assert ws_peer.opened == 2


def test_replay_runs_the_same_endpoint_code_without_a_socket(tmp_path, ws_peer):
    class Recording(Chat):
        def create_websocket(self, addr, ctx):
            stream = self.create_stream(addr).into_recorded("session", directory=tmp_path)
            return WebSocket(stream, self.url)

    live = IOService(make_selector("epoll"), backoff=FAST, check_every=1)
    rec = Recording(ws_peer.url())
    handle = live.register(rec)
    poll_until(live, lambda: rec.got == ["welcome", "subscribe"])
    for word in ("one", "two", "three"):
        ws_peer.broadcast(word)
    poll_until(live, lambda: rec.got[-1:] == ["three"])
    live.deregister(handle)  # closes the target and finishes the recording
    live.close()

    replay_svc = IOService(make_selector("epoll"), check_every=1)
    replayed = Chat(ws_peer.url()).replay("session", directory=str(tmp_path))
    replay_handle = replay_svc.register(replayed)
    seen_fd: list[int] = []

    class Ctx:
        pass

    poll_until(replay_svc, lambda: replay_handle not in replay_svc, Ctx(), what="the replay to run out")
    seen_fd.append(replayed.connects)
    assert replayed.got == rec.got  # the same messages, through the same endpoint code
    assert replayed.connects == 1
    assert [r.kind for r in replayed.reasons] == [DisconnectKind.CLOSED]  # run once, not reconnected
    replay_svc.close()


def test_replay_target_has_no_descriptor(tmp_path, ws_peer):
    class Recording(Chat):
        def create_websocket(self, addr, ctx):
            return WebSocket(self.create_stream(addr).into_recorded("s2", directory=tmp_path), self.url)

    with IOService(make_selector("direct"), backoff=FAST, check_every=1) as live:
        rec = Recording(ws_peer.url())
        h = live.register(rec)
        poll_until(live, lambda: rec.got == ["welcome", "subscribe"])
        live.deregister(h)
    stream = ReplayStream.from_file("s2", directory=tmp_path)
    ws = Chat(ws_peer.url()).create_replay_target(stream, None)
    assert ws.fileno() == -1
    poll_for_open = 0
    while not ws.establish() and poll_for_open < 100:
        poll_for_open += 1
    assert ws.open


def test_missing_recording_is_a_connect_failure(tmp_path):
    with IOService(check_every=1) as svc:
        ep = Chat("ws://127.0.0.1:1/").replay("nope", directory=str(tmp_path))
        svc.register(ep)
        poll_until(svc, lambda: ep.reasons)
        assert ep.reasons[0].kind is DisconnectKind.CONNECT_FAILED
        assert isinstance(ep.reasons[0].error, RecordingError)
        poll_for(svc, 0.01)
        assert len(svc) == 0


def test_ws_options_pass_through():
    ep = WebsocketEndpoint("wss://example.com:9443/ws?a=b", headers={"X-Key": "k"}, verify=False, max_message_size=1024)
    assert ep.host == "example.com" and ep.port == 9443 and ep.secure
    assert ep.ws_options == {"headers": {"X-Key": "k"}, "max_message_size": 1024}
    assert "wss://example.com:9443/ws?a=b" in repr(ep)
    with pytest.raises(ValueError):
        WebsocketEndpoint("http://example.com/")
