"""Non-blocking byte streams: TCP, Unix, TLS / kernel TLS, buffered, recorded and replayed.

Every stream honours the contract in :mod:`boomnet.stream.base`; wrappers compose by taking an
inner stream (``TcpStream.connect(...).into_tls(...).into_recorded(...)``).
"""

from .base import ByteStream, Stream
from .buffered import BufferedStream
from .ktls import KtlsStream
from .options import Keepalive, TcpOptions, TlsOptions
from .recorded import RecordedStream
from .replay import ReplayStream
from .socket_stream import SocketStream
from .tcp import TcpStream
from .tls import TlsStream, tls_context
from .unix import UnixStream
from .wrapper import WrappingStream

__all__ = [
    "ByteStream",
    "Stream",
    "TcpOptions",
    "TlsOptions",
    "Keepalive",
    "tls_context",
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
