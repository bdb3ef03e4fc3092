"""FixEndpoint on the IOService against QuickFIX: logon, orders, reconnect, TLS, record + replay."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from boomnet.fix import sending_time
from boomnet.fix.config import SessionConfig
from boomnet.fix.endpoint import FixEndpoint
from boomnet.fix.message import FixMessage
from boomnet.fix.session import FixSession
from boomnet.fix.store import FileStore
from boomnet.service import DirectSelector, EpollSelector, IOService
from boomnet.stream.options import TlsOptions

from .conftest import QuickFixAcceptor


class Orders(FixEndpoint):
    def __init__(self, *a: Any, orders: int = 3, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.orders = orders
        self.logons = 0
        self.reports: list[FixMessage] = []

    def on_logon(self, session: FixSession, ctx: Any) -> None:
        self.logons += 1
        if self.logons == 1:
            for i in range(self.orders):
                self.send("D", [(11, f"e{i}"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 2), (44, "10"), (60, sending_time())])

    def on_message(self, session: FixSession, msg: FixMessage, ctx: Any) -> None:
        self.reports.append(msg)


def run(io: IOService[Any], cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        io.poll(None)
        time.sleep(0.0005)


def test_endpoint_orders_and_reconnect(quickfix_acceptor: QuickFixAcceptor, tmp_path: Path) -> None:
    cfg = SessionConfig("CLIENT", "SERVER", heartbeat_interval=30)
    ep = Orders("127.0.0.1", quickfix_acceptor.port, cfg, FileStore(tmp_path, cfg.session_id))
    io: IOService[Any] = IOService(EpollSelector())
    io.register(ep)
    run(io, lambda: len(ep.reports) == 3)
    assert [m[11] for m in ep.reports] == [b"e0", b"e1", b"e2"]
    quickfix_acceptor.restart()  # the connection drops; the endpoint reconnects and logs on again
    run(io, lambda: ep.logons == 2 and ep.session.logged_on, timeout=30)
    assert ep.session.store.next_sender_seq >= 6  # resumed, not reset
    ep.send("D", [(11, "after"), (55, "BTCUSD"), (54, 2), (38, 1), (40, 2), (44, "10"), (60, sending_time())])
    run(io, lambda: ep.reports[-1].get(11) == b"after")
    ep.logout("done")
    run(io, lambda: not ep.session.logged_on and ep.connection is None)


def test_fix_over_tls_with_verification(quickfix_acceptor: QuickFixAcceptor, server_ssl_context: Any, ca_file: str) -> None:
    from .tls_proxy import TlsProxy

    proxy = TlsProxy(server_ssl_context, quickfix_acceptor.port)  # QuickFIX's wheel has no SSL
    try:
        cfg = SessionConfig("CLIENT", "SERVER")
        ep = Orders("127.0.0.1", proxy.port, cfg, tls=TlsOptions(server_hostname="localhost", ca_file=ca_file))
        io: IOService[Any] = IOService(EpollSelector())
        io.register(ep)
        run(io, lambda: len(ep.reports) == 3)
        assert ep.connection is not None and "TLS" in (ep.connection.stream.tls_version or "")  # type: ignore[attr-defined]
        ep.logout()
        run(io, lambda: ep.connection is None)
        # verification is on: without our CA the handshake fails and nothing logs on
        bad = Orders("127.0.0.1", proxy.port, SessionConfig("CLIENT", "SERVER"), tls=TlsOptions(server_hostname="localhost"))
        io.register(bad)
        run(io, lambda: proxy.handshake_failures >= 1)
        assert bad.logons == 0
        bad.logout()
    finally:
        proxy.stop()


def test_record_and_replay_with_password_redacted(quickfix_acceptor: QuickFixAcceptor, tmp_path: Path) -> None:
    from boomnet.stream.recording import parse

    cfg = SessionConfig("CLIENT", "SERVER", username="trader", password="s3cr3t-pw")
    ep = Orders("127.0.0.1", quickfix_acceptor.port, cfg, record="fixrec", record_dir=str(tmp_path))
    io: IOService[Any] = IOService(EpollSelector())
    io.register(ep)
    run(io, lambda: len(ep.reports) == 3)
    ep.logout()
    run(io, lambda: ep.connection is None)
    raw = (tmp_path / "fixrec.bnrec").read_bytes()
    assert b"553=trader" in raw and len(parse(raw).data) > 0
    replayed = Orders("127.0.0.1", 1, cfg).replay("fixrec", str(tmp_path))
    io2: IOService[Any] = IOService(DirectSelector())
    io2.register(replayed)
    run(io2, lambda: len(replayed.reports) == 3)
    assert [m[11] for m in replayed.reports] == [m[11] for m in ep.reports]
    assert b"s3cr3t-pw" not in raw, "the FIX password reached the recording in clear"
    assert b"554=" in raw  # the field stays (same length), its value is blanked


def test_silent_peer_is_noticed_and_the_endpoint_reconnects(quickfix_acceptor: QuickFixAcceptor) -> None:
    import os
    import signal

    from boomnet.errors import PeerTimeout
    from boomnet.service import Backoff

    reasons: list[object] = []

    class Watch(Orders):
        def on_disconnect(self, reason: Any, ctx: Any) -> bool:
            reasons.append(reason.error)
            return super().on_disconnect(reason, ctx)

    cfg = SessionConfig("CLIENT", "SERVER", heartbeat_interval=1)
    ep = Watch("127.0.0.1", quickfix_acceptor.port, cfg, orders=1, backoff=Backoff(initial=0.1, cap=0.5))
    io: IOService[Any] = IOService(EpollSelector())
    io.register(ep)
    run(io, lambda: len(ep.reports) == 1)
    proc = quickfix_acceptor.proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        run(io, lambda: any(isinstance(r, PeerTimeout) for r in reasons), timeout=10)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    run(io, lambda: ep.logons >= 2 and ep.session.logged_on, timeout=30)
    ep.logout()
    run(io, lambda: ep.connection is None)
