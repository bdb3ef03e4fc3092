"""A reference WebSocket frame encoder/decoder for tests, written to be obviously correct.

Deliberately independent of ``boomnet.ws``: byte-by-byte masking, explicit length forms.
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask_key: bytes | None = None, rsv: int = 0) -> bytes:
    """One frame. Unmasked (a server's) unless ``mask_key`` is given."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    n = len(payload)
    if n <= 125:
        head = bytes([first, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask_key is None:
        return head + bytes(payload)
    return head + mask_key + unmask(payload, mask_key)


def unmask(data: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key (masking and unmasking are the same operation)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def close_payload(code: int | None, reason: str = "") -> bytes:
    return b"" if code is None else code.to_bytes(2, "big") + reason.encode("utf-8")


@dataclass(frozen=True)
class WireFrame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    mask_key: bytes
    payload: bytes  # unmasked


def parse(data: bytes) -> tuple[list[WireFrame], bytes]:
    """Every complete frame in ``data`` (masked or not) and the incomplete remainder."""
    frames: list[WireFrame] = []
    pos = 0
    while len(data) - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        n, at = b1 & 0x7F, pos + 2
        if n == 126:
            if len(data) - at < 2:
                break
            n, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif n == 127:
            if len(data) - at < 8:
                break
            n, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        key = b""
        if b1 & 0x80:
            if len(data) - at < 4:
                break
            key, at = data[at : at + 4], at + 4
        if len(data) - at < n:
            break
        body = data[at : at + n]
        frames.append(WireFrame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, bool(key), key, unmask(body, key) if key else body))
        pos = at + n
    return frames, data[pos:]
