"""Every limit the HTTP client enforces, named in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LocalError

__all__ = ["HttpLimits", "DEFAULT_LIMITS"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on what a server may make the client buffer or wait for.

    A response that crosses one raises :class:`~boomnet.errors.HeaderTooLarge`,
    :class:`~boomnet.errors.BodyTooLarge` or :class:`~boomnet.errors.HttpProtocolError`.
    """

    #: bytes of one header block (status line + fields + blank line); also bounds trailers
    max_header_bytes: int = 64 * 1024
    #: header fields in one block (trailers count separately against the same number)
    max_header_count: int = 100
    #: decoded body bytes of one response
    max_body_size: int = 64 * 1024 * 1024
    #: bytes of one chunk-size line, extensions included
    max_chunk_line: int = 4096
    #: interim (1xx) responses tolerated before the final one
    max_informational: int = 16

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_header_count", "max_body_size", "max_chunk_line", "max_informational"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise LocalError(f"{name} must be a positive int, not {value!r}")


DEFAULT_LIMITS = HttpLimits()
