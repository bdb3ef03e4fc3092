"""The RPC envelope, sans-I/O: one message of the connection = one envelope.

Layout (big-endian), documented so a peer can be written from it alone::

    offset size  field
    0      1     version = 1
    1      1     control: 0 REQUEST, 1 REPLY, 2 ITEM (one reply of a stream), 3 END (end of a
                 stream, payload empty or a final item), 4 CANCEL (client -> server), 5 ERROR
                 (server -> client; payload = UTF-8 message)
    2      2     method length M (REQUEST only; 0 otherwise)
    4      8     call id (u64, chosen by the client, never reused within a connection)
    12     M     method name, UTF-8 (REQUEST only)
    12+M   ...   payload (any bytes; the application's codec)

The message layer (:mod:`boomnet.msg`, e.g. ``LengthPrefixed``) frames envelopes, so an envelope
carries no length of its own. Decoding returns the payload as a memoryview into the receive
buffer (valid until the next read, as every boomnet payload); a malformed envelope raises
:class:`~boomnet.errors.RpcProtocolError`.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from ..errors import InvalidMessage, RpcProtocolError

__all__ = ["Control", "Envelope", "VERSION", "HEADER_SIZE", "encode", "decode"]

VERSION = 1
_HEADER = struct.Struct(">BBHQ")
HEADER_SIZE = _HEADER.size  # 12
_MAX_ID = (1 << 64) - 1


class Control(enum.IntEnum):
    REQUEST = 0
    REPLY = 1
    ITEM = 2
    END = 3
    CANCEL = 4
    ERROR = 5


_CONTROLS = frozenset(int(c) for c in Control)


class Envelope(NamedTuple):
    id: int
    control: int
    method: str
    payload: memoryview


def encode(call_id: int, control: int, payload: bytes | bytearray | memoryview = b"", method: bytes = b"") -> bytes:
    """One envelope as bytes (``method`` already UTF-8, and only with REQUEST)."""
    if not 0 <= call_id <= _MAX_ID:
        raise InvalidMessage(f"call id {call_id} is not a u64")
    if control not in _CONTROLS:  # a peer would refuse it as an RpcProtocolError: say it here
        raise InvalidMessage(f"unknown RPC control code {control!r}")
    if method and control != Control.REQUEST:
        raise InvalidMessage(f"a method name on a {Control(control).name} envelope")
    if len(method) > 0xFFFF:
        raise InvalidMessage("method name longer than 65,535 bytes")
    return b"".join((_HEADER.pack(VERSION, control, len(method), call_id), method, payload))


def decode(data: bytes | bytearray | memoryview) -> Envelope:
    view = data if isinstance(data, memoryview) else memoryview(data)
    if len(view) < HEADER_SIZE:
        raise RpcProtocolError(f"RPC envelope of {len(view)} bytes is shorter than its {HEADER_SIZE}-byte header")
    version, control, mlen, call_id = _HEADER.unpack_from(view)
    if version != VERSION:
        raise RpcProtocolError(f"RPC envelope version {version} (expected {VERSION})")
    if control not in _CONTROLS:
        raise RpcProtocolError(f"unknown RPC control code {control}")
    end = HEADER_SIZE + mlen
    if end > len(view):
        raise RpcProtocolError("RPC method name runs past the end of the envelope")
    if mlen and control != Control.REQUEST:
        raise RpcProtocolError(f"a method name on a {Control(control).name} envelope")
    try:
        method = bytes(view[HEADER_SIZE:end]).decode() if mlen else ""
    except UnicodeDecodeError:
        raise RpcProtocolError("RPC method name is not UTF-8") from None
    if control == Control.REQUEST and not method:
        raise RpcProtocolError("an RPC request without a method")
    return Envelope(call_id, control, method, view[end:])
