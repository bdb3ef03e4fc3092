"""Fixtures for the WebSocket interop tests: three independent servers, each over ws:// and wss://.

All servers share one event-loop thread (frugal on a shared 2-core machine) and start lazily,
once per session, the first time a test asks for them.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from boomnet.ws import WebSocket, connect

from .peers import LIBRARIES, LoopThread, PeerServer, SessionRecord, start_peer


class PeerPool:
    """Started servers by (library, tls); stopped at the end of the session."""

    def __init__(self, server_ssl_context: ssl.SSLContext) -> None:
        self.loops = LoopThread()
        self.server_ssl_context = server_ssl_context
        self._servers: dict[tuple[str, bool], PeerServer] = {}

    def get(self, library: str, tls: bool) -> PeerServer:
        key = (library, tls)
        if key not in self._servers:
            self._servers[key] = start_peer(library, self.loops, self.server_ssl_context if tls else None)
        return self._servers[key]

    def close(self) -> None:
        try:
            for server in self._servers.values():
                try:
                    self.loops.run(server.stop(), 5.0)
                except Exception:
                    pass
        finally:
            self.loops.stop()


@pytest.fixture(scope="session")
def peer_pool(server_ssl_context: ssl.SSLContext) -> Iterator[PeerPool]:
    pool = PeerPool(server_ssl_context)
    yield pool
    pool.close()


@pytest.fixture(params=[(lib, tls) for lib in LIBRARIES for tls in (False, True)],
                ids=[f"{lib}-{'wss' if tls else 'ws'}" for lib in LIBRARIES for tls in (False, True)])
def peer(request: pytest.FixtureRequest, peer_pool: PeerPool) -> PeerServer:
    """Each independent server, over ws:// and over wss:// (trustme certificate)."""
    library, tls = request.param
    return peer_pool.get(library, tls)


class Client:
    """Opens boomnet WebSockets to ``peer`` and finds the server's record of each connection."""

    def __init__(self, peer: PeerServer, ca_file: str) -> None:
        self.peer = peer
        self.ca_file = ca_file
        self.opened: list[WebSocket] = []

    def open(self, path: str = "/", **options: Any) -> tuple[WebSocket, Callable[[], SessionRecord]]:
        sid = self.peer.new_sid()
        ws = connect(self.peer.url(path, sid), ca_file=self.ca_file, timeout=5.0, **options)
        self.opened.append(ws)
        return ws, lambda: self.peer.session(sid)

    def connect(self, path: str, **options: Any) -> WebSocket:
        """Just connect (for handshakes expected to fail)."""
        return connect(self.peer.url(path), ca_file=self.ca_file, timeout=5.0, **options)

    def close_all(self) -> None:
        for ws in self.opened:
            ws.close()
            ws.stream.close()


@pytest.fixture
def client(peer: PeerServer, ca_file: str) -> Iterator[Client]:
    c = Client(peer, ca_file)
    yield c
    c.close_all()
