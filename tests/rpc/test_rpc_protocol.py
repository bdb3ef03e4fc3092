"""The envelope against vectors written by hand from the documented layout; garbage raises only
RpcProtocolError; the client core's bookkeeping on bytes alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boomnet.errors import CallCancelled, CallLost, DeadlineExceeded, InvalidMessage, LimitExceeded, RpcProtocolError
from boomnet.rpc import Control, RpcClient, decode, encode


def test_documented_layout() -> None:
    # version 1, REQUEST 0, method length 4, id 7, "ping", payload "hi"
    vector = bytes.fromhex("01 00 0004 0000000000000007") + b"ping" + b"hi"
    assert encode(7, Control.REQUEST, b"hi", b"ping") == vector
    env = decode(vector)
    assert (env.id, env.control, env.method, bytes(env.payload)) == (7, 0, "ping", b"hi")
    reply = bytes.fromhex("01 01 0000 ffffffffffffffff") + b"ok"
    env = decode(reply)
    assert (env.id, env.control, env.method, bytes(env.payload)) == (2**64 - 1, Control.REPLY, "", b"ok")


@pytest.mark.parametrize("data", [
    b"",
    bytes.fromhex("01 00 0004 00000000000000"),  # short header
    bytes.fromhex("02 01 0000 0000000000000001"),  # version 2
    bytes.fromhex("01 09 0000 0000000000000001"),  # unknown control
    bytes.fromhex("01 00 0009 0000000000000001") + b"abc",  # method runs past the end
    bytes.fromhex("01 01 0001 0000000000000001") + b"x",  # a method on a reply
    bytes.fromhex("01 00 0000 0000000000000001"),  # a request without a method
    bytes.fromhex("01 00 0002 0000000000000001") + b"\xff\xfe",  # method not UTF-8
])
def test_malformed_envelopes(data: bytes) -> None:
    with pytest.raises(RpcProtocolError):
        decode(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_raises_only_rpc_protocol_errors(data: bytes) -> None:
    try:
        env = decode(data)
    except RpcProtocolError:
        return
    assert encode(env.id, env.control, env.payload, env.method.encode()) == data  # what decodes, re-encodes


def test_encode_refuses_bad_ids() -> None:
    with pytest.raises(InvalidMessage):
        encode(-1, Control.REPLY)
    with pytest.raises(InvalidMessage):
        encode(2**64, Control.REPLY)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_client_bookkeeping_on_bytes() -> None:
    sent: list[bytes] = []
    clock = Clock()
    rpc = RpcClient(sent.append, clock=clock, max_stream_buffer=3)
    a = rpc.call("a", b"1", timeout=1.0)
    b = rpc.call("b", b"2")
    assert [decode(s).id for s in sent] == [1, 2] and a.sent
    rpc.on_envelope(decode(encode(2, Control.REPLY, b"B")))
    rpc.on_envelope(decode(encode(1, Control.REPLY, b"A")))  # any order
    assert (a.result, b.result) == (b"A", b"B")
    rpc.on_envelope(decode(encode(1, Control.REPLY, b"again")))  # a duplicate final reply
    rpc.on_envelope(decode(encode(99, Control.REPLY)))  # never issued
    assert (rpc.duplicates, rpc.unknown) == (1, 1)
    c = rpc.call("c", timeout=1.0)
    clock.now += 1.5
    assert rpc.expire() == 1 and isinstance(c.error, DeadlineExceeded)
    assert decode(sent[-1]).control == Control.CANCEL  # the peer is told
    rpc.on_envelope(decode(encode(c.id, Control.REPLY, b"late")))
    assert rpc.late == 1 and c.result is None  # dropped, never delivered
    d = rpc.stream("d")
    rpc.cancel(d)
    rpc.on_envelope(decode(encode(d.id, Control.ITEM, b"x")))
    assert isinstance(d.error, CallCancelled) and rpc.after_cancel == 1
    e = rpc.stream("e")
    for i in range(4):  # the consumer reads nothing: the 4th item is one too many
        rpc.on_envelope(decode(encode(e.id, Control.ITEM, b"%d" % i)))
    assert isinstance(e.error, LimitExceeded) and list(e.items) == [b"0", b"1", b"2"]
    f = rpc.call("f")
    rpc.send = None
    lost = rpc.fail_all("server gone")
    assert lost == [f] and isinstance(f.error, CallLost) and f.error.maybe_executed
    g = rpc.call("g")  # no connection: waits, not sent
    assert not g.sent
    rpc.connected(sent.append)
    assert g.sent and decode(sent[-1]).method == "g"
    assert len({decode(s).id for s in sent if decode(s).control == Control.REQUEST}) == 7  # ids never reused


def test_calls_in_flight_are_bounded() -> None:
    rpc = RpcClient(lambda data: None, max_in_flight=2)
    rpc.call("a")
    rpc.call("b")
    with pytest.raises(LimitExceeded):
        rpc.call("c")
