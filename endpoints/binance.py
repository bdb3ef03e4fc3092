"""Binance spot market streams for boomnet (placeholder: the endpoint lands with the IOService)."""

from .binance_codec import *  # noqa: F401,F403
from .binance_codec import __all__ as _codec_all
from .binance_session import *  # noqa: F401,F403
from .binance_session import __all__ as _session_all

__all__ = [*_codec_all, *_session_all]
