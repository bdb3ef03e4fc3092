"""FixConnection / FixClient over real loopback sockets against a raw peer written from the spec
(messages framed by hand): deliver-then-fail, Reject on the wire, partial reads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from boomnet.errors import FixGarbled, FixMessageTooLarge
from boomnet.fix.client import FixClient
from boomnet.fix.config import SessionConfig
from boomnet.fix.limits import FixLimits

SOH = b"\x01"


def frame(mt: bytes, seq: int, *fields: bytes, checksum: int | None = None) -> bytes:
    body = b"35=" + mt + SOH + b"49=S\x0156=C\x0134=%d\x0152=20260101-00:00:00.000\x01" % seq
    body += b"".join(f + SOH for f in fields)
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    cs = sum(head + body) % 256 if checksum is None else checksum
    return head + body + b"10=%03d\x01" % cs


class RawPeer:
    """Accepts one connection, reads the Logon, answers it, then runs ``script(sock)``."""

    def __init__(self, script: object) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.script = script
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(10)
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        with conn:
            while b"\x0110=" not in self.received:
                self.received += conn.recv(4096)
            conn.sendall(frame(b"A", 1, b"98=0", b"108=30"))
            self.script(conn)  # type: ignore[operator]
            deadline = time.monotonic() + 3
            try:
                while time.monotonic() < deadline:
                    data = conn.recv(4096)
                    if not data:
                        break
                    self.received += data
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def peer_factory() -> Iterator[list[RawPeer]]:
    peers: list[RawPeer] = []
    yield peers
    for p in peers:
        p.close()


def test_good_message_then_garbled_in_one_read(peer_factory: list[RawPeer]) -> None:
    peer = RawPeer(lambda s: s.sendall(frame(b"8", 2, b"11=ok") + frame(b"8", 3, b"11=bad", checksum=7)))
    peer_factory.append(peer)
    client = FixClient.connect("127.0.0.1", peer.port, SessionConfig("C", "S"))
    try:
        msg = client.receive(5)
        assert msg is not None and msg[11] == b"ok"  # delivered before the error
        with pytest.raises(FixGarbled, match="CheckSum"):
            client.receive(5)
    finally:
        client.close()


def test_too_large_is_refused_before_buffering(peer_factory: list[RawPeer]) -> None:
    peer = RawPeer(lambda s: s.sendall(b"8=FIX.4.4\x019=99999999\x0135=8\x01"))
    peer_factory.append(peer)
    cfg = SessionConfig("C", "S", limits=FixLimits(max_message_size=4096))
    with pytest.raises(FixMessageTooLarge):  # may arrive with the Logon answer, or just after
        client = FixClient.connect("127.0.0.1", peer.port, cfg)
        try:
            client.receive(5)
        finally:
            client.close()


def test_malformed_header_gets_a_reject_on_the_wire_and_the_session_goes_on(peer_factory: list[RawPeer]) -> None:
    def script(s: socket.socket) -> None:
        bad = frame(b"8", 2, b"11=x").replace(b"\x0149=S", b"")  # SenderCompID missing
        body = bad[bad.index(b"35=") : bad.rindex(b"10=")]
        head = b"8=FIX.4.4\x019=%d\x01" % len(body)
        s.sendall(head + body + b"10=%03d\x01" % (sum(head + body) % 256))
        for i in range(0, 40):  # the next message byte by byte: partial reads survive
            s.sendall(frame(b"8", 3, b"11=next")[i : i + 1])
            time.sleep(0.001)
        s.sendall(frame(b"8", 3, b"11=next")[40:])

    peer = RawPeer(script)
    peer_factory.append(peer)
    client = FixClient.connect("127.0.0.1", peer.port, SessionConfig("C", "S"))
    try:
        msg = client.receive(5)
        assert msg is not None and msg[11] == b"next" and client.session.store.next_target_seq == 4
        deadline = time.monotonic() + 5
        while b"\x0135=3\x01" not in peer.received and time.monotonic() < deadline:
            client.receive(0.05)
        reject = peer.received[peer.received.index(b"\x0135=3\x01") :]
        assert b"\x0145=2\x01" in reject and b"\x01373=1\x01" in reject
    finally:
        client.close()
