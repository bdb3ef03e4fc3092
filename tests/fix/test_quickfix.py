"""boomnet's FIX initiator against QuickFIX's acceptor (the reference engine) on loopback."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from boomnet.errors import FixLoggedOut, FixSessionError, PeerTimeout
from boomnet.fix import sending_time
from boomnet.fix.client import FixClient, open_stream
from boomnet.fix.config import SessionConfig
from boomnet.fix.message import FixMessage
from boomnet.fix.session import FixSession, SessionState
from boomnet.fix.store import FileStore
from boomnet.stream.wrapper import WrappingStream

from .conftest import QuickFixAcceptor

TIME_RE = re.compile(rb"^\d{8}-\d{2}:\d{2}:\d{2}(\.\d{3})?$")


def config(**kw: object) -> SessionConfig:
    return SessionConfig("CLIENT", "SERVER", **{"heartbeat_interval": 30, **kw})  # type: ignore[arg-type]


def order(clordid: str, side: int | str = 1, qty: int | str = 5, price: str = "101.5") -> list[tuple[int, object]]:
    return [(11, clordid), (55, "BTCUSD"), (54, side), (38, qty), (40, 2), (44, price), (60, sending_time())]


def connect(acc: QuickFixAcceptor, **kw: object) -> FixClient:
    store = kw.pop("store", None)
    return FixClient.connect("127.0.0.1", acc.port, config(**kw), store)  # type: ignore[arg-type]


def receive_type(client: FixClient, msg_type: bytes, timeout: float = 10.0) -> FixMessage:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        msg = client.receive(left)
        if msg is not None and msg.msg_type == msg_type:
            return msg
    raise AssertionError(f"no {msg_type!r} within {timeout}s")


class DropWrites(WrappingStream):
    """Discards the next write for which ``drop(data)`` is true (a message 'lost' on the wire)."""

    def __init__(self, inner: object) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self.drops: list[bytes] = []  # substrings: drop the next write holding each, once

    def write(self, data: bytes | bytearray | memoryview) -> None:
        for marker in self.drops:
            if marker in bytes(data):
                self.drops.remove(marker)
                return
        self.inner.write(data)


def test_logon_logout(quickfix_acceptor: QuickFixAcceptor) -> None:
    client = connect(quickfix_acceptor)
    assert client.session.state is SessionState.ACTIVE
    logon = quickfix_acceptor.wait_for("ADMIN ")
    assert "35=A" in logon and "108=30" in logon and "98=0" in logon
    quickfix_acceptor.wait_for("LOGON")
    client.logout("bye")
    assert isinstance(client.session.error, FixLoggedOut)
    assert client.session.state is SessionState.CLOSED
    logout = quickfix_acceptor.wait_for("ADMIN ")
    assert "35=5" in logout and "58=bye" in logout
    quickfix_acceptor.wait_for("LOGOUT")
    # Logon 1, Logout 2 out; QuickFIX's Logon 1 and Logout 2 in
    assert (client.session.store.next_sender_seq, client.session.store.next_target_seq) == (3, 3)


def test_quickfix_messages_fields(quickfix_acceptor: QuickFixAcceptor) -> None:
    """Parse QuickFIX's own ExecutionReport, snapshot and incremental and check what it set."""
    with connect(quickfix_acceptor) as client:
        client.send("D", order("o1", qty=7, price="99.25"))
        er = receive_type(client, b"8")
        assert er.raw.startswith(b"8=FIX.4.4\x019=")
        assert (er.get(49), er.get(56), er.get(35)) == (b"SERVER", b"CLIENT", b"8")
        assert er.seq_num == 2 and TIME_RE.match(er[52])
        assert (er[11], er[39], er[150], er[14], er[6], er[151]) == (b"o1", b"2", b"F", b"7", b"99.25", b"0")
        assert er.get_int(32) == 7 and er.get_float(31) == 99.25 and er[37].startswith(b"O")
        client.send("V", [(262, "r1"), (263, 1), (264, 0), (267, 2), (269, 0), (269, 1), (146, 1), (55, "ETHUSD")])
        snap = receive_type(client, b"W")
        assert snap[55] == b"ETHUSD" and snap[262] == b"r1"
        entries = [(e[269], e[270], e[271]) for e in snap.groups(268)]
        assert entries == [(b"0", b"99.5", b"10"), (b"1", b"100.5", b"12")]
        inc = receive_type(client, b"X")
        assert inc.get(55) is None  # only inside the group: a top-level lookup must not find it
        entries = [(e[279], e[269], e[55], e[270], e[271]) for e in inc.groups(268)]
        assert entries == [(b"1", b"0", b"ETHUSD", b"99.5", b"7"), (b"0", b"1", b"ETHUSD", b"100.25", b"3")]


def test_heartbeats_and_answering_test_request(quickfix_acceptor: QuickFixAcceptor) -> None:
    client = connect(quickfix_acceptor, heartbeat_interval=2)
    try:
        # we stay silent (no pumping): QuickFIX sends TestRequest after 2.4 s (and would give up
        # at 4.8 s); we must answer it with a Heartbeat carrying its TestReqID
        time.sleep(3.3)
        deadline = time.monotonic() + 5
        answered = None
        while answered is None and time.monotonic() < deadline:
            client.receive(0.1)
            answered = next((ln for ln in quickfix_acceptor.drain() if "35=0" in ln and "|112=" in ln), None)
        assert answered is not None, "our Heartbeat answering QuickFIX's TestRequest never arrived"
        # and our own Heartbeats flow every interval
        end = time.monotonic() + 4.5
        while time.monotonic() < end:
            client.receive(0.1)
        heartbeats = [ln for ln in quickfix_acceptor.drain() if "ADMIN" in ln and "35=0" in ln and "112=" not in ln]
        assert len(heartbeats) >= 2
        assert client.session.logged_on
    finally:
        client.close()


def test_silent_peer_gets_test_request_then_timeout(quickfix_acceptor: QuickFixAcceptor) -> None:
    client = connect(quickfix_acceptor, heartbeat_interval=1)
    proc = quickfix_acceptor.proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)  # QuickFIX goes silent
    try:
        start = time.monotonic()
        with pytest.raises(PeerTimeout):
            while time.monotonic() - start < 10:
                client.receive(0.1)
        elapsed = time.monotonic() - start
        assert client.session._test_req is not None  # a TestRequest went out first
        assert 2.0 <= elapsed < 6, elapsed  # 1.2 s to the TestRequest, 1.2 s more to give up
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        client.close()


def test_gap_quickfix_detects_is_answered_with_resend_and_gap_fill(quickfix_acceptor: QuickFixAcceptor) -> None:
    stream = DropWrites(open_stream("127.0.0.1", quickfix_acceptor.port))
    client = FixClient.over(stream, FixSession(config(heartbeat_interval=1)))
    try:
        stream.drops = [b"11=lost\x01", b"\x0135=0\x01"]
        lost_seq = client.send("D", order("lost"))  # dropped on the wire
        client.connection.check(time.monotonic() + 1.05)  # a Heartbeat falls due: dropped too
        assert not stream.drops
        client.send("D", order("after"))
        got = [receive_type(client, b"8")[11], receive_type(client, b"8")[11]]
        assert got == [b"lost", b"after"]
        gap_fill = quickfix_acceptor.wait_line(lambda ln: "35=4" in ln)
        assert "123=Y" in gap_fill and f"34={lost_seq + 1}|" in gap_fill and "43=Y" in gap_fill
        assert f"36={lost_seq + 2}|" in gap_fill
        dup = quickfix_acceptor.wait_line(lambda ln: "APP" in ln and "11=lost" in ln)
        assert "43=Y" in dup and "122=" in dup and f"34={lost_seq}|" in dup
    finally:
        client.close()


def test_gap_we_detect_gets_resend_request(quickfix_acceptor: QuickFixAcceptor) -> None:
    with connect(quickfix_acceptor) as client:
        client.send("D", order("SKIP:5"))
        er = receive_type(client, b"8")  # delivered after QuickFIX gap-filled 2..6
        assert er[11] == b"SKIP:5" and er.seq_num == 7
        quickfix_acceptor.wait_line(lambda ln: "35=2" in ln and "|7=2|" in ln and "16=0|" in ln)
        assert client.session.store.next_target_seq == 8
        client.send("D", order("next"))
        assert receive_type(client, b"8").seq_num == 8


def test_sequence_reset_both_ways(quickfix_acceptor: QuickFixAcceptor) -> None:
    with connect(quickfix_acceptor) as client:
        client.send("D", order("SEQRESET:50"))
        er = receive_type(client, b"8")
        assert er.seq_num == 50 and client.session.store.next_target_seq == 51
        client.session.reset_sequence(100)
        seq = client.send("D", order("after-reset"))
        assert seq == 100
        assert receive_type(client, b"8")[11] == b"after-reset"
        quickfix_acceptor.wait_line(lambda ln: "35=4" in ln and "36=100|" in ln)


def test_reconnect_resumes_from_file_store(quickfix_acceptor: QuickFixAcceptor, tmp_path: Path) -> None:
    store_dir = tmp_path / "ours"
    with connect(quickfix_acceptor, store=FileStore(store_dir, "s")) as client:
        for i in range(3):
            client.send("D", order(f"a{i}"))
            receive_type(client, b"8")
    client.session.store.close()
    quickfix_acceptor.restart()  # QuickFIX's FileStore persists too
    store = FileStore(store_dir, "s")
    assert (store.next_sender_seq, store.next_target_seq) == (6, 6)
    assert oct(os.stat(store_dir / "s.body").st_mode & 0o777) == "0o600"
    with connect(quickfix_acceptor, store=store) as client:
        assert receive_type_or_none(client) is None
        client.send("D", order("b0"))
        er = receive_type(client, b"8")
        assert er[11] == b"b0" and er.seq_num == 7
    store.close()
    # a forgotten store (sequence 1 again) is refused by QuickFIX: MsgSeqNum too low
    with pytest.raises((FixLoggedOut, FixSessionError)):
        client = connect(quickfix_acceptor)
        client.receive(5)


def receive_type_or_none(client: FixClient) -> FixMessage | None:
    return client.receive(0.2)


def test_quickfix_rejects_a_malformed_order(quickfix_acceptor: QuickFixAcceptor) -> None:
    with connect(quickfix_acceptor) as client:
        seq = client.send("D", order("bad", side="Z"))  # Side(54) has no value Z
        reject = receive_type(client, b"3")
        assert reject.get_int(45) == seq and reject.get_int(373) == 5 and reject.get_int(371) == 54
        seq = client.send("D", order("bad-qty", qty="abc"))  # type: ignore[arg-type]
        reject = receive_type(client, b"3")
        assert reject.get_int(45) == seq and reject.get_int(373) == 6 and reject.get_int(371) == 38
        seq = client.send("D", [(11, "no-symbol"), (54, 1), (38, 1), (40, 1), (60, sending_time())])
        reject = receive_type(client, b"j")  # QuickFIX: BusinessMessageReject, conditionally required
        assert reject.get_int(45) == seq and reject.get_int(380) == 5 and reject[372] == b"D"
        client.send("D", order("good"))
        assert receive_type(client, b"8")[11] == b"good"  # the session goes on


@pytest.mark.slow
def test_ten_thousand_orders(tmp_path: Path) -> None:
    from .conftest import require_quickfix

    require_quickfix()
    acceptor = QuickFixAcceptor(tmp_path / "qf", quiet=True).start()
    try:
        with connect(acceptor) as client:
            n, window, sent, seen = 10_000, 200, 0, []
            while len(seen) < n:
                while sent < n and sent - len(seen) < window:
                    client.send("D", order(f"c{sent}", qty=1 + sent % 9))
                    sent += 1
                msg = client.receive(10)
                assert msg is not None, f"stalled after {len(seen)} reports"
                assert msg.msg_type == b"8"
                seen.append(msg)
            assert [m[11] for m in seen] == [b"c%d" % i for i in range(n)]
            assert all(m.get_int(14) == 1 + i % 9 for i, m in enumerate(seen))
            assert client.session.store.next_sender_seq == n + 2
    finally:
        acceptor.stop()
