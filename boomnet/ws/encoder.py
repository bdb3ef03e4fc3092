"""Frame encoding and masking (RFC 6455 §5.2, §5.3). Pure functions over bytes."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from . import _native

__all__ = ["encode_frame", "mask_payload", "MaskKeys"]

_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def _mask_payload_py(payload: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (§5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    # One big-int XOR does the whole payload in C; far faster than a per-byte loop and linear in n.
    repeated = key * ((n >> 2) + 1)
    value = int.from_bytes(payload, "little") ^ int.from_bytes(repeated[:n], "little")
    return value.to_bytes(n, "little")


# the optional C fast path (see _speedups.c and _native.py, which gates it)
mask_payload: Callable[[bytes | bytearray | memoryview, bytes], bytes] = (
    _native.speedups.mask if _native.speedups is not None else _mask_payload_py
)


class MaskKeys:
    """Unpredictable 4-byte masking keys, drawn from ``os.urandom`` in blocks to avoid a syscall per frame."""

    __slots__ = ("_pool", "_pos")

    _BLOCK = 4096

    def __init__(self) -> None:
        self._pool = os.urandom(self._BLOCK)
        self._pos = 0

    def next(self) -> bytes:
        pos = self._pos
        if pos >= self._BLOCK:
            self._pool = os.urandom(self._BLOCK)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool = True,
    mask_key: bytes | None = None,
) -> bytes:
    """One frame, header and (masked) payload in a single ``bytes`` so it leaves in one write.

    ``mask_key`` is the 4-byte key of a client frame, or ``None`` for an unmasked frame.
    """
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if n < 126:
        header = bytes((b0, mask_bit | n))
    elif n < 0x10000:
        header = _pack_short(b0, mask_bit | 126, n)
    else:
        header = _pack_long(b0, mask_bit | 127, n)
    if mask_key is None:
        return header + payload if n else header
    return header + mask_key + mask_payload(payload, mask_key)


def close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame: 2-byte code then UTF-8 reason (≤ 123 bytes), or empty."""
    if code is None:
        return b""
    data = reason.encode("utf-8")
    if len(data) > 123:
        raise ValueError("close reason longer than 123 bytes in UTF-8")
    return code.to_bytes(2, "big") + data

