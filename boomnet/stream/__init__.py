"""Non-blocking byte streams: TCP, Unix, TLS / kernel TLS, buffered, recorded and replayed.

Every stream honours the contract in :mod:`boomnet.stream.base`; wrappers compose by taking an
inner stream (``TcpStream.connect(...).into_tls(...).into_recorded(...)``).
"""

from .base import Stream
from .socket_stream import SocketStream
from .tcp import TcpStream
from .unix import UnixStream
from .tls import KtlsStream, TlsStream
from .wrapper import WrappingStream
from .buffered import BufferedStream
from .recorded import RecordedStream
from .replay import ReplayStream

__all__ = [
    "Stream",
    "SocketStream",
    "TcpStream",
    "UnixStream",
    "TlsStream",
    "KtlsStream",
    "WrappingStream",
    "BufferedStream",
    "RecordedStream",
    "ReplayStream",
]
