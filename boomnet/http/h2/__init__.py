"""HTTP/2 client over boomnet streams, on the ``h2`` package (see :mod:`.connection`)."""

from .connect import connect_h2, run_until_done
from .connection import H2Connection, H2Request

__all__ = ["H2Connection", "H2Request", "Http2Endpoint", "Pending", "connect_h2", "run_until_done"]


def __getattr__(name: str) -> object:
    # the IOService endpoint pulls in boomnet.service: import it only when asked for
    if name in ("Http2Endpoint", "Pending"):
        from . import endpoint

        return getattr(endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
