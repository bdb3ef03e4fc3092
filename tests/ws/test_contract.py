"""The WebSocket's promises to its user, on bytes (both decoders): options fail at construction,
``close()`` completes a peer close held back behind data, the zero-copy contract (and the debug
mode that enforces it), strict UTF-8 (overlong forms, surrogates, > U+10FFFF), the C fast path's
version gate and its loud fallback, and the sans-I/O protocol in the server role."""

from __future__ import annotations

import struct
import warnings

import pytest

import boomnet
import boomnet.errors
from boomnet.errors import InvalidUtf8, LocalError, WebSocketClosed, WebSocketProtocolError
from boomnet.ws import (
    CloseCode,
    Decoder,
    Frame,
    Opcode,
    Protocol,
    Role,
    WebSocket,
    WebsocketEndpoint,
    WsLimits,
    WsOptions,
    _native,
    connect,
)
from boomnet.ws.frame import is_valid_close_code

from . import wire
from .test_codec import MemoryStream, client_frames, decoder_impl, open_client, server_frame  # noqa: F401 - both decoders

# --- options: typos are TypeError, bad values LocalError, at construction --------------------------


def test_misspelt_option_is_a_type_error_everywhere() -> None:
    with pytest.raises(TypeError, match="handshake_timout"):
        WebSocket(MemoryStream([]), "ws://x/", handshake_timout=3)
    with pytest.raises(TypeError, match="handshake_timout"):
        WebsocketEndpoint("ws://example.com/", handshake_timout=3)
    with pytest.raises(TypeError, match="ping_intervall"):
        WsOptions().replace(ping_intervall=1)
    with pytest.raises(TypeError, match="handshake_timout"):  # before any connect is tried
        connect("ws://127.0.0.1:9/", handshake_timout=3)


@pytest.mark.parametrize("bad", [
    {"ping_interval": 0}, {"ping_timeout": -1}, {"idle_timeout": 0.0}, {"close_timeout": None},
    {"handshake_timeout": True}, {"compression": "gzip"}, {"max_message_size": 0},
    {"ping_interval": 5, "ping_timeout": None}, {"subprotocols": "chat"}, {"limits": {"max_frame_size": 1}},
])
def test_out_of_range_values_are_local_errors(bad: dict) -> None:
    with pytest.raises(LocalError):
        WsOptions(**bad)
    with pytest.raises(LocalError):
        WebsocketEndpoint("ws://example.com/", **bad)


def test_options_keep_the_old_keywords_and_fold_limits() -> None:
    ws = WebSocket(MemoryStream([]), "ws://x/", max_message_size=1000, max_frame_size=500, ping_interval=None)
    assert ws.options.limits == WsLimits(max_frame_size=500, max_message_size=1000)
    assert ws.options.ping_interval is None and ws.options.idle_timeout == 60.0
    base = WsOptions(ping_interval=5.0)
    assert WebSocket(MemoryStream([]), "ws://x/", base, idle_timeout=None).options == base.replace(idle_timeout=None)
    assert (WsOptions().ping_interval, WsOptions().ping_timeout, WsOptions().idle_timeout) == (20.0, 10.0, 60.0)
    with pytest.raises(LocalError):
        WsLimits(max_frame_size=0)


def test_endpoint_options_and_liveness_timer() -> None:
    ep = WebsocketEndpoint("wss://example.com:9443/ws", verify=False, connect_timeout=2.0, ping_interval=2.0)
    assert ep.tls.verify is False and ep.tcp.connect_timeout == 2.0 and ep.ws.ping_interval == 2.0
    assert [t.interval for t in ep._timers] == [0.5]  # a quarter of the shortest timeout
    quiet = WebsocketEndpoint("ws://example.com/", ping_interval=None, idle_timeout=None)
    assert list(quiet._timers) == []


# --- close codes ---------------------------------------------------------------------------------


def test_close_code_enum_is_complete_and_wire_rules_hold() -> None:
    assert [int(c) for c in CloseCode] == [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010,
                                          1011, 1012, 1013, 1014, 1015]
    assert [c for c in range(1000, 1016) if is_valid_close_code(c)] == [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
    assert [is_valid_close_code(c) for c in (0, 999, 1016, 2999, 3000, 4999, 5000, 65535)] == [
        False, False, False, False, True, True, False, False]


def test_frame_record() -> None:
    frame = Frame(Opcode.BINARY, False, memoryview(b"ab"))
    assert (frame.opcode, frame.fin, frame.bytes()) == (Opcode.BINARY, False, b"ab")
    assert Frame().bytes() == b"" and Frame().opcode == Opcode.TEXT and Frame().fin
    assert Frame(payload=memoryview("✓".encode())).text() == "✓"


# --- close() after a peer close held back behind data (issue 19) ------------------------------------


def test_close_completes_the_peers_deferred_close_instead_of_starting_a_new_one() -> None:
    ws, stream = open_client([server_frame(1, b"last") + server_frame(8, struct.pack("!H", 4001) + b"bye")])
    assert [f.opcode for f in ws.read_batch()] == [Opcode.TEXT, Opcode.CLOSE]
    assert not ws.closed  # held back so the application can answer "last"
    ws.close(1000, "mine")
    # the peer's handshake is completed at once: its code echoed, no second close of ours
    assert client_frames(stream.written) == [(Opcode.CLOSE, struct.pack("!H", 4001))]
    assert ws.closed and stream.is_closed and ws.close_code == 4001 and ws.close_reason == "bye"
    with pytest.raises(WebSocketClosed):
        ws.read_batch()


# --- the zero-copy contract and debug views ---------------------------------------------------------


def test_without_debug_views_a_held_payload_shows_other_bytes() -> None:
    """The documented hazard (what debug mode exists to catch)."""
    ws, _ = open_client([server_frame(1, b"AAAA"), server_frame(1, b"BBBB")], debug_views=False)
    held = ws.read_batch()[0].payload
    assert bytes(held) == b"AAAA"
    ws.read_batch()
    assert bytes(held) != b"AAAA"  # silently other bytes: the contract was broken


@pytest.mark.parametrize("via_env", [False, True])
def test_debug_views_release_every_payload_at_the_next_read(via_env: bool, monkeypatch) -> None:
    if via_env:
        monkeypatch.setenv("BOOMNET_DEBUG_VIEWS", "1")
        opts: dict = {}
    else:
        monkeypatch.delenv("BOOMNET_DEBUG_VIEWS", raising=False)
        opts = {"debug_views": True}
    batch1 = server_frame(1, b"AAAA") + server_frame(9, b"ping") + server_frame(2, b"CC", fin=False) + server_frame(0, b"DD")
    ws, _ = open_client([batch1, server_frame(1, b"BBBB")], **opts)
    assert ws.options.debug_views
    first = ws.read_batch()
    assert [(f.opcode, f.bytes()) for f in first] == [(Opcode.TEXT, b"AAAA"), (Opcode.PING, b"ping"), (Opcode.BINARY, b"CCDD")]
    held_frame, held_view = first[0], first[0].payload
    second = ws.read_batch()
    assert [f.bytes() for f in second] == [b"BBBB"]  # fresh views for the new batch
    assert second is not first and second[0] is not held_frame  # nothing reused
    for frame in first:
        with pytest.raises(ValueError):
            bytes(frame.payload)
    with pytest.raises(ValueError):
        held_view[0]
    assert held_frame.payload is held_view


# --- strict UTF-8 in both decoders (the C path once accepted overlong forms) ---------------------------

BAD_UTF8 = [
    b"\xc0\x80", b"\xc1\xbf",  # overlong 2-byte forms
    b"\xe0\x80\x80", b"\xe0\x9f\xbf",  # overlong 3-byte
    b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf",  # overlong 4-byte
    b"\xed\xa0\x80", b"\xed\xbf\xbf",  # UTF-16 surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",  # above U+10FFFF
    b"\x80", b"\xe2\x82",  # lone continuation; truncated at the end of a whole message
]


@pytest.mark.parametrize("bad", BAD_UTF8, ids=[b.hex() for b in BAD_UTF8])
def test_invalid_utf8_is_refused_whole_fragmented_and_still_arriving(bad: bytes) -> None:
    for prefix in (b"", b"ascii-long-enough-for-the-8-byte-fast-loop "):
        dec = Decoder()
        dec.feed(server_frame(1, b"ok") + server_frame(1, prefix + bad + b"tail"))
        assert [f.bytes() for f in dec.decode()] == [b"ok"] and isinstance(dec.error, InvalidUtf8), (prefix, bad)
        dec = Decoder()  # across fragments
        dec.feed(server_frame(1, prefix, fin=False) + server_frame(0, bad, fin=False) + server_frame(0, b"x"))
        dec.decode()
        assert isinstance(dec.error, InvalidUtf8), bad
    if bad != b"\xe2\x82":  # a truncated sequence may still complete while the frame arrives
        dec = Decoder()
        dec.feed(server_frame(1, bad + b"x" * 1000)[:12])
        assert dec.decode() == [] and isinstance(dec.error, InvalidUtf8), bad


def test_valid_utf8_boundaries_pass() -> None:
    good = ["\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]
    dec = Decoder()
    dec.feed(b"".join(server_frame(1, g.encode()) for g in good))
    assert [f.text() for f in dec.decode()] == good and dec.error is None


def test_c_validator_refuses_the_same_bytes() -> None:
    speedups = pytest.importorskip("boomnet.ws._speedups")
    for bad in BAD_UTF8:
        assert speedups.utf8_valid(b"abc" + bad) is False, bad


# --- the C fast path gate -------------------------------------------------------------------------------


def test_untested_cpython_falls_back_loudly(caplog) -> None:
    with pytest.warns(RuntimeWarning, match=r"CPython 3\.99 .*slower"):
        module, why = _native.load(version=(3, 99), implementation="CPython", env={})
    assert module is None and "3.99" in why
    assert any("C fast path off" in r.getMessage() for r in caplog.records)


def test_failed_build_falls_back_loudly() -> None:
    def missing():
        raise ImportError("No module named 'boomnet.ws._speedups'")

    with pytest.warns(RuntimeWarning, match="did not build"):
        module, _why = _native.load(version=(3, 11), implementation="CPython", env={}, importer=missing)
    assert module is None


def test_pure_python_by_request_is_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module, why = _native.load(version=(3, 11), implementation="CPython", env={"BOOMNET_PURE_PYTHON": "1"})
    assert module is None and why == "disabled by BOOMNET_PURE_PYTHON"


def test_speedups_status_is_public() -> None:
    assert boomnet.speedups_enabled() is (_native.speedups is not None)
    assert boomnet.speedups_status() == _native.reason
    if _native.speedups is not None:
        assert _native.load(env={})[1] == "enabled"


# --- the protocol alone, in the server role (sans-I/O, bytes only) ------------------------------------


def test_server_role_requires_masked_frames_and_sends_unmasked() -> None:
    proto = Protocol(Role.SERVER, WsOptions())
    proto.start(0.0)
    proto.decoder.feed(wire.frame(wire.TEXT, b"hello", mask_key=b"\x01\x02\x03\x04") + wire.frame(wire.PING, b"p", mask_key=b"abcd"))
    assert [(f.opcode, f.bytes()) for f in proto.receive()] == [(Opcode.TEXT, b"hello"), (Opcode.PING, b"p")]
    assert proto.next_pong() == wire.frame(wire.PONG, b"p")  # unmasked
    assert proto.encode_data(Opcode.TEXT, b"hi", True) == wire.frame(wire.TEXT, b"hi")
    proto.decoder.feed(wire.frame(wire.TEXT, b"unmasked"))
    with pytest.raises(WebSocketProtocolError, match="unmasked"):
        proto.receive()
    assert proto.closed and proto.outgoing == [wire.frame(wire.CLOSE, struct.pack("!H", 1002))]


def test_client_role_protocol_close_handshake_as_data() -> None:
    proto = Protocol(Role.CLIENT, WsOptions(close_timeout=2.0))
    proto.start(10.0)
    proto.close(10.0, CloseCode.GOING_AWAY, "bye")
    sent, _ = wire.parse(proto.outgoing[0])
    assert sent[0].masked and sent[0].payload == struct.pack("!H", 1001) + b"bye"
    assert proto.deadline() == 12.0  # the driver asks when to come back
    assert not proto.close_expired(11.9) and proto.close_expired(12.1) and proto.closed and proto.done


def test_protocol_receive_holds_a_close_behind_data_then_raises() -> None:
    proto = Protocol(Role.CLIENT, WsOptions())
    assert not proto.open and not proto.closed
    proto.start(0.0)
    assert proto.open
    proto.decoder.feed(wire.frame(wire.TEXT, b"last") + wire.frame(wire.CLOSE, struct.pack("!H", 1001)))
    assert [f.opcode for f in proto.receive()] == [Opcode.TEXT, Opcode.CLOSE]
    assert proto.open and proto.outgoing == []  # held back: the application may still answer
    with pytest.raises(WebSocketClosed) as closed:
        proto.receive()
    assert closed.value.code == 1001 and proto.closed and proto.done
    sent, _ = wire.parse(proto.outgoing[0])
    assert [(f.opcode, f.payload) for f in sent] == [(wire.CLOSE, struct.pack("!H", 1001))]


def test_sending_after_our_close_is_websocket_closed_not_a_protocol_error() -> None:
    ws, _ = open_client([b""])
    ws.close()
    assert not ws.open and not ws.closed  # CLOSING: waiting for the peer's answer
    for send in (lambda: ws.send_text("late"), lambda: ws.send_binary(b"late"), lambda: ws.send_ping(b"")):
        with pytest.raises(WebSocketClosed, match="close handshake has started"):
            send()
    fresh = WebSocket(MemoryStream([]), "ws://x/")
    with pytest.raises(WebSocketProtocolError, match="not open yet"):
        fresh.send_text("too early")


def test_protocol_deadline_follows_pings_pongs_and_idle() -> None:
    proto = Protocol(Role.CLIENT, WsOptions(ping_interval=20.0, ping_timeout=5.0, idle_timeout=60.0))
    assert proto.deadline() is None  # not open yet
    proto.start(100.0)
    assert proto.deadline() == 120.0  # the first ping is due (not "sent at 0 + timeout")
    proto.check_liveness(120.0)
    sent, _ = wire.parse(proto.outgoing.pop())
    assert sent[0].opcode == wire.PING and sent[0].masked
    assert proto.deadline() == 125.0  # its pong is due
    proto.decoder.feed(wire.frame(wire.PONG, sent[0].payload))
    assert [f.opcode for f in proto.receive()] == [Opcode.PONG]
    assert proto.deadline() == 140.0  # answered: the next ping, one interval after the last
    quiet = Protocol(Role.CLIENT, WsOptions(ping_interval=None, idle_timeout=30.0))
    quiet.start(0.0)
    assert quiet.deadline() == 30.0
    off = Protocol(Role.CLIENT, WsOptions(ping_interval=None, idle_timeout=None))
    off.start(0.0)
    assert off.deadline() is None


def test_failure_reports_its_code_and_control_payload_limit_is_exact() -> None:
    ws, _ = open_client([server_frame(5, b"bad")])
    with pytest.raises(WebSocketProtocolError):
        ws.read_batch()
    assert ws.close_code == 1002
    proto = Protocol(Role.CLIENT, WsOptions(ping_interval=1.0, ping_timeout=1.0))
    proto.start(0.0)
    proto.check_liveness(1.0)
    with pytest.raises(boomnet.errors.PeerTimeout):
        proto.check_liveness(2.0)
    assert proto.close_code == CloseCode.ABNORMAL_CLOSURE  # no close came from the peer
    ws, stream = open_client([b""])
    ws.send_ping(b"p" * 125)
    ws.send_pong(b"p" * 125)
    assert client_frames(stream.written) == [(Opcode.PING, b"p" * 125), (Opcode.PONG, b"p" * 125)]
    for send in (ws.send_ping, ws.send_pong):
        with pytest.raises(ValueError, match="125"):
            send(b"p" * 126)


def test_liveness_and_close_timeouts_at_their_exact_boundaries() -> None:
    proto = Protocol(Role.CLIENT, WsOptions(ping_interval=None, idle_timeout=30.0))
    proto.start(0.0)
    proto.check_liveness(29.999)
    with pytest.raises(boomnet.errors.PeerTimeout, match="no data"):
        proto.check_liveness(30.0)  # silent for exactly idle_timeout: dead
    proto = Protocol(Role.CLIENT, WsOptions(ping_interval=10.0, ping_timeout=5.0, idle_timeout=None))
    proto.start(0.0)
    proto.check_liveness(9.999)
    assert proto.outgoing == []
    proto.check_liveness(10.0)  # the ping leaves exactly on time
    assert len(proto.outgoing) == 1
    proto.check_liveness(14.999)
    with pytest.raises(boomnet.errors.PeerTimeout, match="no pong"):
        proto.check_liveness(15.0)
    proto = Protocol(Role.CLIENT, WsOptions(close_timeout=2.0))
    proto.start(0.0)
    proto.close(10.0)
    assert not proto.close_expired(12.0) and proto.close_expired(12.000001)  # strictly after


def test_auto_pong_off_and_a_second_close_while_closing() -> None:
    ws, stream = open_client([server_frame(9, b"hb") + server_frame(1, b"x"), b"", b""], auto_pong=False)
    assert [f.opcode for f in ws.read_batch()] == [Opcode.PING, Opcode.TEXT]
    assert client_frames(stream.written) == []  # the application answers pings itself
    ws.close(1000)
    ws.close(1001)  # already closing: nothing more is sent, still waiting for the answer
    assert client_frames(stream.written) == [(Opcode.CLOSE, struct.pack("!H", 1000))]
    assert not ws.closed and not stream.is_closed


def test_documented_defaults_and_option_types() -> None:
    limits = WsOptions().limits
    assert (limits.max_frame_size, limits.max_message_size, limits.read_buffer_size) == (16 << 20, 16 << 20, 256 << 10)
    options = WsOptions()
    assert (options.handshake_timeout, options.close_timeout, options.compression) == (10.0, 5.0, None)
    assert options.auto_pong and options.validate_utf8 and options.assemble and options.mask
    with pytest.raises(TypeError, match="WsOptions"):
        WebSocket(MemoryStream([]), "ws://x/", {"ping_interval": 1})  # type: ignore[arg-type]


def test_frame_repr_previews_32_bytes() -> None:
    assert repr(Frame(Opcode.TEXT, True, memoryview(b"a" * 32))) == f"Frame(TEXT, fin=True, 32 bytes, {b'a' * 32!r})"
    assert repr(Frame(Opcode.BINARY, False, memoryview(b"b" * 33))) == f"Frame(BINARY, fin=False, 33 bytes, {b'b' * 32!r}...)"


def test_limits_accept_one_and_subprotocols_become_a_tuple() -> None:
    assert WsLimits(max_frame_size=1, max_message_size=1, read_buffer_size=1).max_frame_size == 1
    with pytest.raises(LocalError):
        WsLimits(read_buffer_size=True)  # type: ignore[arg-type]
    assert WsOptions(subprotocols=["chat", "v2"]).subprotocols == ("chat", "v2")  # type: ignore[arg-type]
    assert hash(WsOptions(subprotocols=["chat"], headers=None)) == hash(WsOptions(subprotocols=("chat",)))  # type: ignore[arg-type]
