"""A TLS terminator in front of a plaintext FIX acceptor (what stunnel does for many FIX venues).

The QuickFIX wheel here is built without SSL (``HAVE_SSL not enabled``), so the TLS test puts
this stdlib-ssl proxy in front of QuickFIX's plaintext acceptor. One thread, selectors, stopped
by :meth:`TlsProxy.stop`.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading


class TlsProxy:
    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self.context = context
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshake_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-proxy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self.listener.setblocking(False)
        sel.register(self.listener, selectors.EVENT_READ, None)
        peers: dict[socket.socket, socket.socket] = {}
        while not self._stop.is_set():
            for key, _ in sel.select(0.05):
                sock = key.fileobj
                if sock is self.listener:
                    raw, _addr = self.listener.accept()
                    raw.settimeout(5)
                    try:
                        tls = self.context.wrap_socket(raw, server_side=True)
                    except (ssl.SSLError, OSError):
                        self.handshake_failures += 1
                        raw.close()
                        continue
                    up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                    tls.setblocking(False)
                    up.setblocking(False)
                    peers[tls], peers[up] = up, tls
                    sel.register(tls, selectors.EVENT_READ, None)
                    sel.register(up, selectors.EVENT_READ, None)
                    continue
                assert isinstance(sock, socket.socket)
                other = peers.get(sock)
                if other is None:
                    continue
                try:
                    while True:
                        data = sock.recv(65536)
                        if not data:
                            raise ConnectionError
                        other.setblocking(True)
                        other.sendall(data)
                        other.setblocking(False)
                        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                            break
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
                except (OSError, ConnectionError):
                    for s in (sock, other):
                        peers.pop(s, None)
                        sel.unregister(s)
                        s.close()
        for s in peers:
            s.close()
        sel.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
