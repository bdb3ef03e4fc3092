"""HTTP/2 client over boomnet streams, on the ``h2`` package (see :mod:`.connection`)."""

from .connect import connect_h2, run_until_done
from .connection import H2Connection, H2Request
from .endpoint import Http2Endpoint, Pending

__all__ = ["H2Connection", "H2Request", "Http2Endpoint", "Pending", "connect_h2", "run_until_done"]
