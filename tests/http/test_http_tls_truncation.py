"""A real TLS server that ends an EOF-delimited body with or without close_notify (issue 19, item:
TLS EOF). Without close_notify the stream layer raises ``TruncatedStream``, and the HTTP client
must not accept the body as complete; with it the body is complete. Content-Length bodies are
judged by their framing either way. Both TLS engines (stdlib, pyOpenSSL).
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from boomnet.errors import HttpProtocolError, TruncatedStream
from boomnet.http import HttpClient
from boomnet.stream.options import TlsOptions

BODY = b"an EOF-delimited body " * 50


class OneShotTlsServer:
    """Serves one TLS connection: reads a request head, writes ``response``, then ends the
    connection cleanly (``unwrap``: close_notify first) or by cutting the TCP connection."""

    def __init__(self, context: ssl.SSLContext, response: bytes, clean: bool) -> None:
        self.context = context
        self.response = response
        self.clean = clean
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            raw, _ = self.sock.accept()
            raw.settimeout(5)
            tls = self.context.wrap_socket(raw, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            tls.sendall(self.response)
            if self.clean:
                raw = tls.unwrap()  # close_notify, then the TCP close
                raw.shutdown(socket.SHUT_WR)
                raw.close()
            else:
                # cut the TCP connection under TLS: no close_notify ever goes out
                raw = socket.socket(fileno=tls.detach())
                raw.shutdown(socket.SHUT_RDWR)
                raw.close()
        except BaseException as exc:  # reported by the test (via stop)
            self.error = exc

    def stop(self) -> None:
        self.thread.join(5)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture(params=["stdlib", "pyopenssl"])
def backend(request) -> str:
    return request.param


def fetch(server: OneShotTlsServer, ca_file: str, backend: str):
    with HttpClient(tls=TlsOptions(ca_file=ca_file, backend=backend), request_timeout=5) as client:
        return client.get(f"https://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "tcp-cut"])
def test_eof_delimited_body_needs_close_notify(server_ssl_context, ca_file, backend, clean):
    server = OneShotTlsServer(server_ssl_context, b"HTTP/1.1 200 OK\r\n\r\n" + BODY, clean)
    try:
        if clean:
            resp = fetch(server, ca_file, backend)
            assert resp.body == BODY and not resp.keep_alive
        else:
            with pytest.raises(HttpProtocolError, match="close_notify") as info:
                fetch(server, ca_file, backend)
            assert isinstance(info.value.__cause__, TruncatedStream)
    finally:
        server.stop()
    assert server.error is None


@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "tcp-cut"])
def test_content_length_body_is_judged_by_its_framing(server_ssl_context, ca_file, backend, clean):
    response = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    server = OneShotTlsServer(server_ssl_context, response, clean)
    try:
        assert fetch(server, ca_file, backend).body == BODY
    finally:
        server.stop()
    assert server.error is None


@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "tcp-cut"])
def test_endpoint_eof_body_over_tls(server_ssl_context, ca_file, clean):
    import time

    from boomnet.http import HttpEndpoint
    from boomnet.service import IOService

    server = OneShotTlsServer(server_ssl_context, b"HTTP/1.1 200 OK\r\n\r\n" + BODY, clean)
    io = IOService()
    try:
        ep = HttpEndpoint(f"https://127.0.0.1:{server.port}", tls=TlsOptions(ca_file=ca_file))
        io.register(ep)
        req = ep.get("/")
        deadline = time.monotonic() + 5
        while not req.done and time.monotonic() < deadline:
            io.poll()
            time.sleep(0.001)
        if clean:
            assert req.response is not None and req.response.body == BODY
        else:
            assert isinstance(req.error, HttpProtocolError) and "close_notify" in str(req.error)
    finally:
        io.close()
        server.stop()
