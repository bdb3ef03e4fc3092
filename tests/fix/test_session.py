"""The session state machine on bytes (sans-I/O); the peer's messages are built with simplefix."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import simplefix

from boomnet.errors import FixLoggedOut, FixSessionError, InvalidState, LocalError, PeerTimeout
from boomnet.fix import FixParser
from boomnet.fix.config import SessionConfig, SessionSchedule
from boomnet.fix.message import FixMessage
from boomnet.fix.session import FixSession, SessionState
from boomnet.fix.store import FileStore, MemoryStore


def peer_msg(mt: str, seq: int, *fields: tuple[int, object], sender: str = "S", target: str = "C") -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, "FIX.4.4")
    m.append_pair(35, mt)
    m.append_pair(49, sender)
    m.append_pair(56, target)
    m.append_pair(34, seq)
    m.append_utc_timestamp(52, precision=3)
    for tag, value in fields:
        m.append_pair(tag, value)
    return m.encode()


def parse(data: bytes) -> list[FixMessage]:
    msgs = FixParser().feed(data)
    assert all(m.error is None for m in msgs)
    return msgs


def feed(session: FixSession, *raw: bytes, now: float = 0.0) -> list[FixMessage]:
    return session.receive(parse(b"".join(raw)), now)


def sent(session: FixSession) -> list[FixMessage]:
    return parse(session.data_to_send())


def logged_on(hb: int = 30, store: MemoryStore | None = None, **kw: object) -> FixSession:
    s = FixSession(SessionConfig("C", "S", heartbeat_interval=hb, **kw), store)  # type: ignore[arg-type]
    s.start(0.0)
    [logon] = sent(s)
    assert logon.msg_type == b"A" and logon.get_int(108) == hb
    feed(s, peer_msg("A", 1, (98, 0), (108, hb)))
    assert s.state is SessionState.ACTIVE
    return s


def test_gap_queues_asks_once_and_delivers_in_order() -> None:
    s = logged_on()
    assert feed(s, peer_msg("8", 3, (11, "c")), peer_msg("8", 4, (11, "d"))) == []
    [rr] = sent(s)
    assert rr.msg_type == b"2" and (rr.get_int(7), rr.get_int(16)) == (2, 0)
    app = feed(s, peer_msg("8", 2, (11, "b"), (43, "Y"), (122, "20260101-00:00:00.000")))
    assert [m[11] for m in app] == [b"b", b"c", b"d"]
    assert s.store.next_target_seq == 5 and sent(s) == []


def test_gap_fill_from_peer() -> None:
    s = logged_on()
    feed(s, peer_msg("8", 5, (11, "e")))
    sent(s)
    app = feed(s, peer_msg("4", 2, (123, "Y"), (36, 5), (43, "Y")))
    assert [m[11] for m in app] == [b"e"] and s.store.next_target_seq == 6


def test_too_low_ends_the_session_and_possdup_is_dropped() -> None:
    s = logged_on()
    feed(s, peer_msg("8", 2, (11, "a")))
    assert feed(s, peer_msg("8", 2, (11, "a"), (43, "Y"))) == [] and s.error is None
    feed(s, peer_msg("8", 2, (11, "a")))
    assert isinstance(s.error, FixSessionError) and "too low" in str(s.error)
    [logout] = sent(s)
    assert logout.msg_type == b"5" and b"too low" in logout[58]


def test_malformed_message_is_rejected_and_consumes_its_number() -> None:
    s = logged_on()
    bad = peer_msg("8", 2, (11, "a")).replace(b"\x0152=", b"\x0153=")
    bad = _reframe(bad)
    [msg] = FixParser().feed(bad)
    assert msg.error is not None
    assert s.receive([msg], 0.0) == []
    [reject] = sent(s)
    assert reject.msg_type == b"3" and reject.get_int(45) == 2 and reject.get_int(373) == 1
    assert s.store.next_target_seq == 3 and s.error is None


def _reframe(raw: bytes) -> bytes:
    body = raw[raw.index(b"35=") : raw.rindex(b"10=")]
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def test_wrong_comp_id() -> None:
    s = logged_on()
    feed(s, peer_msg("8", 2, (11, "a"), sender="EVIL"))
    reject, logout = sent(s)
    assert reject.get_int(373) == 9 and logout.msg_type == b"5"
    assert isinstance(s.error, FixSessionError)


def test_answering_resend_request_with_resends_and_gap_fills() -> None:
    s = logged_on()
    s.send("D", [(11, "x")], now=1.0)  # 2
    s.send("D", [(11, "y")], now=1.0)  # 3
    s.tick(31.0)  # 4: Heartbeat (admin: gap-filled, never resent)
    s.send("D", [(11, "z")], now=31.0)  # 5
    originals = sent(s)
    feed(s, peer_msg("2", 2, (7, 2), (16, 0)), now=31.0)
    out = sent(s)
    assert [(m.msg_type, m.seq_num) for m in out] == [(b"D", 2), (b"D", 3), (b"4", 4), (b"D", 5)]
    for m, orig in zip([out[0], out[1], out[3]], [originals[0], originals[1], originals[3]], strict=True):
        assert m[43] == b"Y" and m[122] == orig[52] and m[11] == orig[11]
    assert out[2][123] == b"Y" and out[2].get_int(36) == 5
    assert s.store.next_sender_seq == 6  # resending does not use new numbers


def test_test_request_then_peer_timeout() -> None:
    s = logged_on(hb=10)
    s.tick(11.9)
    assert [m.msg_type for m in sent(s)] == [b"0"]  # our heartbeat; the peer is not late yet
    s.tick(12.1)
    [tr] = sent(s)
    assert tr.msg_type == b"1" and tr[112].startswith(b"TEST")
    s.tick(24.0)
    assert s.error is None
    s.tick(24.2)
    assert isinstance(s.error, PeerTimeout)


def test_answer_to_test_request_clears_it() -> None:
    s = logged_on(hb=10)
    s.tick(12.5)
    tr = next(m for m in sent(s) if m.msg_type == b"1")
    feed(s, peer_msg("0", 2, (112, tr[112].decode())), now=13.0)
    s.tick(24.5)
    assert s.error is None
    sent(s)
    feed(s, peer_msg("1", 3, (112, "hello")), now=25.0)
    [hb] = sent(s)
    assert hb.msg_type == b"0" and hb[112] == b"hello"


def test_logout_both_ways() -> None:
    s = logged_on()
    s.logout("bye", now=1.0)
    assert sent(s)[0].msg_type == b"5" and s.state is SessionState.LOGOUT_SENT
    with pytest.raises(InvalidState):
        s.send("D", [(11, "x")])
    feed(s, peer_msg("5", 2))
    assert isinstance(s.error, FixLoggedOut) and sent(s) == []
    s2 = logged_on()
    feed(s2, peer_msg("5", 2, (58, "maintenance")))
    assert [m.msg_type for m in sent(s2)] == [b"5"] and s2.error is not None and "maintenance" in str(s2.error)
    s3 = logged_on()
    s3.logout(now=0.0)
    s3.tick(2.5)
    assert isinstance(s3.error, FixLoggedOut)


def test_sequence_reset_reset() -> None:
    s = logged_on()
    feed(s, peer_msg("4", 99, (36, 50)))
    assert s.store.next_target_seq == 50
    feed(s, peer_msg("4", 1, (36, 10)))
    [reject] = sent(s)
    assert reject.get_int(373) == 5


def test_acceptor_role_reset_and_authentication() -> None:
    store = MemoryStore()
    store.set_next_sender_seq(40)
    acc = FixSession(SessionConfig("S", "C", role="acceptor", authenticate=lambda u, p: p == "pw"), store)
    acc.start(0.0)
    assert acc.data_to_send() == b""
    acc.receive(parse(peer_msg("A", 1, (98, 0), (108, 7), (141, "Y"), (553, "u"), (554, "pw"), sender="C", target="S")), 0.0)
    [answer] = sent(acc)
    assert acc.logged_on and answer.seq_num == 1 and answer[141] == b"Y" and acc.heartbeat_interval == 7
    refused = FixSession(SessionConfig("S", "C", role="acceptor", authenticate=lambda u, p: False))
    refused.start(0.0)
    refused.receive(parse(peer_msg("A", 1, (98, 0), (108, 7), (554, "x"), sender="C", target="S")), 0.0)
    assert isinstance(refused.error, FixSessionError) and sent(refused)[0].msg_type == b"5"


def test_first_message_must_be_logon() -> None:
    s = FixSession(SessionConfig("C", "S"))
    s.start(0.0)
    sent(s)
    feed(s, peer_msg("0", 1))
    assert isinstance(s.error, FixSessionError)
    s2 = FixSession(SessionConfig("C", "S", logon_timeout=1.0))
    s2.start(0.0)
    s2.tick(1.5)
    assert isinstance(s2.error, PeerTimeout)


def test_password_never_in_repr_and_config_validation() -> None:
    c = SessionConfig("C", "S", password="hunter2")
    assert "hunter2" not in repr(c)
    with pytest.raises(TypeError):
        SessionConfig("C", "S", heartbeat=5)  # type: ignore[call-arg]
    with pytest.raises(LocalError):
        SessionConfig("C", "S", heartbeat_interval=-1)
    with pytest.raises(LocalError):
        SessionConfig("C\x01", "S")
    with pytest.raises(LocalError):
        SessionSchedule(timezone="Mars/Olympus")


def test_schedule_reset() -> None:
    sched = SessionSchedule(dt.time(17, 0), "America/New_York")
    now = dt.datetime(2026, 7, 1, 16, 0, tzinfo=dt.UTC).timestamp()  # 12:00 in New York (EDT)
    assert sched.last_reset(now) == dt.datetime(2026, 6, 30, 21, 0, tzinfo=dt.UTC).timestamp()
    assert sched.needs_reset(now - 86400, now) and not sched.needs_reset(now - 3600, now)
    store = MemoryStore()
    store.set_next_sender_seq(9)
    store.creation_time = 0.0
    s = FixSession(SessionConfig("C", "S", schedule=SessionSchedule(dt.time(0, 0))), store)
    s.start(0.0)
    assert sent(s)[0].seq_num == 1  # reset before the Logon


def test_file_store_survives_reopen_and_crash_tail(tmp_path: object) -> None:
    d = os.fspath(tmp_path)  # type: ignore[arg-type]
    st = FileStore(d, "sess")
    st.save(1, b"one")
    st.save(2, b"two\nlines")
    st.set_next_target_seq(7)
    st.close()
    for f in ("sess.seqnums", "sess.body", "sess.session"):
        assert os.stat(os.path.join(d, f)).st_mode & 0o777 == 0o600
    with open(os.path.join(d, "sess.body"), "ab") as f:
        f.write(b"3 100\npartial")  # a crash mid-record
    st = FileStore(d, "sess")
    assert (st.next_sender_seq, st.next_target_seq) == (3, 7)
    assert st.get(1, 5) == [(1, b"one"), (2, b"two\nlines")]
    st.save(3, b"three")
    st.close()
    st = FileStore(d, "sess")
    assert st.get(3, 3) == [(3, b"three")]
    created = st.creation_time
    st.reset()
    assert (st.next_sender_seq, st.next_target_seq, st.get(1, 9)) == (1, 1, [])
    st.close()
    st = FileStore(d, "sess")
    assert st.get(1, 9) == [] and st.creation_time >= created
    with pytest.raises(LocalError):
        FileStore(d, "../x")


def test_schedule_logs_out_an_active_session_at_the_reset_time() -> None:
    s = logged_on(schedule=SessionSchedule(dt.time(0, 0)))
    s.tick(1.0)
    assert s.state is SessionState.ACTIVE
    s.store.creation_time = 0.0  # the store now predates the last midnight UTC
    s.tick(2.0)
    [logout] = sent(s)
    assert logout.msg_type == b"5" and logout[58] == b"session reset" and s.state is SessionState.LOGOUT_SENT
    s.start(3.0)  # the reconnect: fresh sequence numbers
    assert sent(s)[0].seq_num == 1
