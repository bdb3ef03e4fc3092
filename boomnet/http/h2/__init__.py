"""HTTP/2 client over boomnet streams, on the ``h2`` package (see :mod:`.connection`)."""

from .connect import connect_h2, run_until_done
from .connection import H2Connection, H2Request

__all__ = ["H2Connection", "H2Request", "connect_h2", "run_until_done"]
