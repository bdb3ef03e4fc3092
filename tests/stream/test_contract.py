"""Every boomnet stream satisfies the ByteStream protocol the layers above type against."""

from __future__ import annotations

import socket

from boomnet.stream import BufferedStream, ByteStream, TcpStream, TlsStream, UnixStream, WrappingStream
from boomnet.stream.base import Stream


def test_streams_are_byte_streams() -> None:
    a, b = socket.socketpair()
    try:
        unix = UnixStream.from_socket(a)
        streams: list[ByteStream] = [
            unix,
            TcpStream.from_socket(socket.socket()),
            WrappingStream(unix),
            BufferedStream(unix),
            TlsStream(unix, "localhost"),
        ]
        for s in streams:
            assert isinstance(s, ByteStream), type(s).__name__
            assert isinstance(s.pending, int) and s.read_hint() >= 0
        for s in streams[1:2]:
            s.close()
    finally:
        a.close()
        b.close()


def test_a_plain_object_with_the_methods_is_a_byte_stream_too() -> None:
    class Minimal:
        pending = 0
        closed = False

        def recv_into(self, buf: bytearray | memoryview) -> int:
            return 0

        def write(self, data: bytes | bytearray | memoryview) -> None: ...

        def flush(self) -> bool:
            return True

        def establish(self) -> bool:
            return True

        def buffered(self) -> int:
            return 0

        def read_hint(self) -> int:
            return 0

        def fileno(self) -> int:
            return -1

        def close(self) -> None: ...

    assert isinstance(Minimal(), ByteStream)
    assert not isinstance(object(), ByteStream)
    assert not isinstance(Minimal(), Stream)  # structural, not nominal
