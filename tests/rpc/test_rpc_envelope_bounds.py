"""The RPC envelope at its exact limits, vectors written by hand from the layout documented in
boomnet/rpc/protocol.py: ``[u8 version = 1][u8 control][u16 method length][u64 call id]
[method][payload]``, big-endian; a method name only (and always) on a REQUEST."""

from __future__ import annotations

import pytest

from boomnet.errors import InvalidMessage, RpcProtocolError
from boomnet.rpc import Control, decode, encode
from boomnet.rpc import protocol as protocol_mod


def env(control: int, call_id: int, method: bytes = b"", payload: bytes = b"", *, version: int = 1,
        mlen: int | None = None) -> bytes:
    return (bytes([version, control]) + (len(method) if mlen is None else mlen).to_bytes(2, "big")
            + call_id.to_bytes(8, "big") + method + payload)


def test_documented_constants() -> None:
    assert protocol_mod.VERSION == 1 and protocol_mod.HEADER_SIZE == 12
    assert [int(c) for c in Control] == [0, 1, 2, 3, 4, 5]
    assert [c.name for c in Control] == ["REQUEST", "REPLY", "ITEM", "END", "CANCEL", "ERROR"]


def test_call_id_range() -> None:
    for call_id in (0, 1, 2**63, 2**64 - 1):
        wire = encode(call_id, Control.REPLY, b"p")
        assert wire == env(1, call_id, payload=b"p")
        assert decode(wire).id == call_id
    for call_id in (-1, 2**64, 2**65):
        with pytest.raises(InvalidMessage, match="is not a u64"):
            encode(call_id, Control.REPLY)


def test_method_name_length_limit() -> None:
    longest = b"m" * 0xFFFF
    wire = encode(1, Control.REQUEST, b"", longest)
    assert wire[:4] == b"\x01\x00\xff\xff" and decode(wire).method == "m" * 0xFFFF
    with pytest.raises(InvalidMessage, match="longer than 65,535"):
        encode(1, Control.REQUEST, b"", longest + b"m")


def test_the_shortest_envelope_and_one_byte_less() -> None:
    header_only = env(1, 9)
    assert len(header_only) == 12
    e = decode(header_only)
    assert (e.id, e.control, e.method, bytes(e.payload)) == (9, Control.REPLY, "", b"")
    with pytest.raises(RpcProtocolError, match="11 bytes is shorter than its 12-byte header"):
        decode(header_only[:11])


@pytest.mark.parametrize("control", [1, 2, 3, 4, 5])
def test_every_control_without_a_method(control: int) -> None:
    e = decode(env(control, 3, payload=b"xy"))
    assert (e.control, e.method, bytes(e.payload)) == (control, "", b"xy")
    with pytest.raises(RpcProtocolError, match=f"a method name on a {Control(control).name} envelope"):
        decode(env(control, 3, b"m", b"xy"))


def test_controls_out_of_range_and_versions() -> None:
    for control in (6, 255):
        with pytest.raises(RpcProtocolError, match=f"unknown RPC control code {control}"):
            decode(env(control, 1))
    for version in (0, 2, 255):
        with pytest.raises(RpcProtocolError, match=f"version {version} "):
            decode(env(1, 1, version=version))


def test_method_boundaries() -> None:
    e = decode(env(0, 4, b"abc"))  # the method ends exactly at the end: an empty payload
    assert (e.method, bytes(e.payload)) == ("abc", b"")
    e = decode(env(0, 4, b"abc", b"!"))
    assert (e.method, bytes(e.payload)) == ("abc", b"!")
    e = decode(env(0, 4, "é".encode(), b"p"))
    assert e.method == "é"
    with pytest.raises(RpcProtocolError, match="runs past the end"):
        decode(env(0, 4, b"abc", mlen=4))
    with pytest.raises(RpcProtocolError, match="an RPC request without a method"):
        decode(env(0, 4, payload=b"abc"))
    with pytest.raises(RpcProtocolError, match="not UTF-8"):
        decode(env(0, 4, b"\xc3"))


def test_decode_takes_any_buffer_and_returns_a_view() -> None:
    data = bytearray(env(1, 2, payload=b"abc"))
    e = decode(data)
    assert isinstance(e.payload, memoryview)
    data[12] = ord("A")
    assert bytes(e.payload) == b"Abc"  # a view into the caller's buffer, no copy
    assert bytes(decode(memoryview(bytes(data))).payload) == b"Abc"


@pytest.mark.parametrize("control", [-1, 0x7F, 256, max(int(c) for c in Control) + 1])
def test_an_unknown_control_code_is_refused_before_it_is_sent(control: int) -> None:
    with pytest.raises(InvalidMessage):
        encode(1, control, b"p")


def test_a_method_name_goes_only_with_a_request() -> None:
    encode(1, Control.REQUEST, b"", b"m")
    with pytest.raises(InvalidMessage):
        encode(1, Control.REPLY, b"", b"m")
