"""The one HTTP-specific error not in :mod:`boomnet.errors` (kept here, inside the hierarchy)."""

from __future__ import annotations

from ..errors import HttpProtocolError

__all__ = ["InvalidHttpRequest"]


class InvalidHttpRequest(HttpProtocolError, ValueError):
    """A request the caller asked for would be malformed HTTP: CR/LF or controls in the method,
    target or a header (injection), an unsupported URL, or conflicting body framing.

    Raised before any byte is sent. It is a :class:`ValueError` too, as the fault is the caller's.
    """
