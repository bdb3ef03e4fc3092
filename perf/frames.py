"""Wire material for the benchmarks: Binance-like trade messages and pre-encoded frames.

Everything here is deterministic so the orchestrator can compute, without talking to the
server, exactly what a correct client must have seen (message count, payload bytes, sum of ids).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: distinct messages in one cycle of the feed; the server repeats the cycle to reach N
CYCLE = 8192
FIRST_TRADE_ID = 3_000_000_000
FIRST_TIME_MS = 1_672_515_782_136


def trade_message(i: int) -> bytes:
    """The i-th trade message of a cycle (~180 bytes of JSON, ids and prices vary)."""
    tid = FIRST_TRADE_ID + i
    ts = FIRST_TIME_MS + i * 7
    price = 16_800 + (i * 37) % 1000 + (i % 100) / 100
    qty = ((i * 7919) % 100_000) / 1e5
    maker = "true" if i & 1 else "false"
    return (
        f'{{"e":"trade","E":{ts},"s":"BTCUSDT","t":{tid},"p":"{price:.8f}","q":"{qty:.8f}",'
        f'"b":{tid * 3 + 11},"a":{tid * 3 + 17},"T":{ts - 2},"m":{maker},"M":true,"X":"MARKET"}}'
    ).encode()


def frame_header(opcode: int, length: int, fin: bool = True, mask: bytes | None = None) -> bytes:
    """RFC 6455 frame header (server frames are unmasked; pass ``mask`` for client frames)."""
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", b0, mbit | length)
    elif length < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, length)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, length)
    return head + (mask or b"")


def server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked server-to-client frame."""
    return frame_header(opcode, len(payload)) + payload


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (one big-int operation, no per-byte loop)."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def client_frame(payload: bytes, opcode: int = 0x1, mask: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """A masked client-to-server frame."""
    return frame_header(opcode, len(payload), mask=mask) + apply_mask(payload, mask)


def close_frame(code: int = 1000, reason: bytes = b"") -> bytes:
    return server_frame(struct.pack("!H", code) + reason, 0x8)


def accept_key(key: str | bytes) -> str:
    """The Sec-WebSocket-Accept value answering ``key``."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest()).decode()


@dataclass(frozen=True)
class Feed:
    """N trade messages as the server sends them, and what a correct client must count."""

    count: int
    cycle: bytes  # CYCLE pre-encoded frames back to back
    offsets: tuple[int, ...]  # offsets[i] = start of frame i in ``cycle``; offsets[CYCLE] = len
    payload_bytes: int  # sum of payload lengths over ``count`` messages
    id_sum: int  # sum of the "t" field over ``count`` messages

    def chunks(self, batch: int = 256 * 1024):
        """Yield memoryview slices (``batch`` bytes each) covering ``count`` frames in order."""
        full, rem = divmod(self.count, CYCLE)
        view = memoryview(self.cycle)
        for _ in range(full):
            for start in range(0, len(view), batch):
                yield view[start : start + batch]
        tail = view[: self.offsets[rem]]
        for start in range(0, len(tail), batch):
            yield tail[start : start + batch]

    @property
    def wire_bytes(self) -> int:
        full, rem = divmod(self.count, CYCLE)
        return full * len(self.cycle) + self.offsets[rem]


_cycle_cache: tuple[bytes, tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None


def _cycle() -> tuple[bytes, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    global _cycle_cache
    if _cycle_cache is None:
        msgs = [trade_message(i) for i in range(CYCLE)]
        frames = [server_frame(m) for m in msgs]
        offsets = [0]
        for f in frames:
            offsets.append(offsets[-1] + len(f))
        # prefix sums of payload lengths and ids, for any count
        plen = [0]
        ids = [0]
        for i, m in enumerate(msgs):
            plen.append(plen[-1] + len(m))
            ids.append(ids[-1] + FIRST_TRADE_ID + i)
        _cycle_cache = (b"".join(frames), tuple(offsets), tuple(plen), tuple(ids))
    return _cycle_cache


def feed(count: int) -> Feed:
    """The feed of ``count`` messages (the cycle of CYCLE distinct messages, repeated)."""
    cycle, offsets, plen, ids = _cycle()
    full, rem = divmod(count, CYCLE)
    return Feed(
        count=count,
        cycle=cycle,
        offsets=offsets,
        payload_bytes=full * plen[CYCLE] + plen[rem],
        id_sum=full * ids[CYCLE] + ids[rem],
    )


def echo_payload(size: int = 256) -> bytes:
    """An ASCII text payload of ``size`` bytes for the echo round trip."""
    base = trade_message(0)
    return (base * (size // len(base) + 1))[:size]
