"""FIX 4.x: a zero-copy tag=value codec, a session state machine with persistent sequence stores,
a blocking :class:`FixClient` and an IOService :class:`FixEndpoint`.

The codec (:mod:`~boomnet.fix.parser`, :mod:`~boomnet.fix.encoder`, :mod:`~boomnet.fix.message`)
and the session (:mod:`~boomnet.fix.session`) are sans-I/O: bytes in, messages and bytes out.
"""

from .encoder import FixEncoder, sending_time
from .limits import DEFAULT_LIMITS, FixLimits
from .message import FixMessage, GroupEntry
from .parser import FixParser

__all__ = ["FixEncoder", "FixLimits", "DEFAULT_LIMITS", "FixMessage", "GroupEntry", "FixParser", "sending_time"]
