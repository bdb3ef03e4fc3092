"""Type stubs of the optional C fast path (_speedups.c). Loaded only through ``_native`` (which
gates it on the CPython versions it was tested on); never import it directly."""

from typing import Any

def scan(
    buf: bytearray,
    mv: memoryview,
    pos: int,
    end: int,
    max_frame: int,
    validate: bool,
    pool: list[Any],
    out: list[Any],
    frame_type: type,
    text: object,
    binary: object,
    /,
) -> int:
    """Decode consecutive whole unmasked FIN TEXT/BINARY frames from ``pos``; returns the first
    position not consumed. Frames come from ``pool`` (created with ``frame_type`` when short)."""

def mask(payload: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """``payload`` XOR the repeated 4-byte ``key`` (RFC 6455 §5.3)."""

def utf8_valid(data: bytes | bytearray | memoryview, /) -> bool:
    """Strict UTF-8 validity (RFC 3629): no overlongs, surrogates or code points above U+10FFFF."""
