"""UnixStream: filesystem and abstract addresses, errors."""

from __future__ import annotations

import os
import socket

import pytest

from boomnet.errors import ConnectError, ConnectionClosed
from boomnet.stream import UnixStream

from .helpers import Peer, read_exactly, recv_exactly, wait_established


def echo(n: int):
    return lambda conn: conn.sendall(recv_exactly(conn, n))


def test_unix_path_round_trip(tmp_path) -> None:
    path = str(tmp_path / "peer.sock")
    with Peer(echo(4), family=socket.AF_UNIX, path=path) as peer:
        s = UnixStream.connect(path)
        wait_established(s)
        s.write(b"unix")
        assert read_exactly(s, 4) == b"unix"
        peer.join()
        with pytest.raises(ConnectionClosed):
            read_exactly(s, 1)
        s.close()


def test_unix_abstract_name() -> None:
    name = f"\0boomnet-test-{os.getpid()}"
    with Peer(echo(8), family=socket.AF_UNIX, path=name):
        s = UnixStream.connect("@" + name[1:])
        wait_established(s)
        s.write(b"abstract")
        assert read_exactly(s, 8) == b"abstract"
        s.close()


def test_unix_missing_path_is_connect_error(tmp_path) -> None:
    s = UnixStream.connect(str(tmp_path / "nobody-here.sock"))
    with pytest.raises(ConnectError, match="ENOENT"):
        wait_established(s)


def test_unix_big_write(tmp_path) -> None:
    path = str(tmp_path / "big.sock")
    payload = os.urandom(1 << 20)
    got: list[bytes] = []
    with Peer(lambda c: got.append(recv_exactly(c, len(payload))), family=socket.AF_UNIX, path=path) as peer:
        s = UnixStream.connect(path)
        wait_established(s)
        s.write(payload)
        from .helpers import flush_all

        flush_all(s)
        peer.join()
        assert got[0] == payload
        s.close()


def test_unix_full_backlog_retries_until_accepted(tmp_path) -> None:
    """A Unix connect with a full backlog answers EAGAIN (not in progress): establish retries it."""
    path = str(tmp_path / "busy.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    fillers = []
    try:
        for _ in range(16):
            f = socket.socket(socket.AF_UNIX)
            f.setblocking(False)
            fillers.append(f)
            if f.connect_ex(path) != 0:
                break
        else:
            pytest.skip("n/a: the backlog never filled")
        s = UnixStream.connect(path)
        assert not s.establish()  # queued behind the full backlog
        listener.settimeout(2)
        for _ in range(len(fillers) - 1):
            listener.accept()[0].close()
        wait_established(s)
        conn, _ = listener.accept()
        s.write(b"late")
        conn.settimeout(2)
        assert conn.recv(4) == b"late"
        conn.close()
        s.close()
    finally:
        for f in fillers:
            f.close()
        listener.close()
