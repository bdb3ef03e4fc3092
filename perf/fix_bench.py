"""FIX codec and order round trip: boomnet vs simplefix and QuickFIX's Python binding, one run.

    .venv/bin/python perf/fix_bench.py [--rounds 5] [--batch 2000] [--orders 1000] [--skip-rtt]

Codec (in this process, alternating A,B,C per round; median of the rounds' rates):

* parse: a NewOrderSingle (D) and a MarketDataIncrementalRefresh (X, 4 entries). Every library
  gets the same work: frame the message, verify what it verifies, and read the fields a handler
  reads (D: 11, 55, 54, 38, 44, 34; X: every entry's 279, 269, 55, 270, 271). boomnet and
  simplefix parse a stream buffer of ``--batch`` messages (framing included); QuickFIX gets each
  message as a ready ``str`` (``Message().setString(s, False, dd)``: it cannot frame a stream in
  Python), which favours QuickFIX.
  X is also read through ``group_rows`` (the same fields of every entry, one C call).
* encode: the same two messages built from field values (BodyLength, CheckSum, SendingTime).

Round trip (``--orders`` sequential NewOrderSingle -> ExecutionReport, one outstanding): one
QuickFIX acceptor (tests/fix/qf_acceptor.py) in a subprocess with two sessions; boomnet's
FixClient (waits in poll(2)), a FixEndpoint on a busy-polled IOService (boomnet's model) and a
QuickFIX SocketInitiator (its application thread sets an Event per report) take turns, A,B,C
per round. Reported: median over rounds of each round's p50/p99 (us).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boomnet.fix import FixEncoder, FixParser, sending_time  # noqa: E402
from boomnet.fix import parser as fix_parser  # noqa: E402

DD_PATH = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
NOS_FIELDS = [(11, "ORD000123"), (1, "ACC1"), (55, "BTCUSD"), (54, 1), (38, 100), (40, 2), (44, "65000.25"), (59, 0),
              (60, "20260101-12:00:00.000")]
X_FIELDS: list[tuple[int, Any]] = [(262, "md1"), (268, 4)]
for i in range(4):
    X_FIELDS += [(279, i % 3), (269, i % 2), (55, "BTCUSD"), (270, f"{65000 + i}.5"), (271, i + 1)]


def messages() -> dict[str, bytes]:
    enc = FixEncoder("FIX.4.4", "SENDER", "TARGET")
    return {"D": enc.encode("D", 1234, NOS_FIELDS), "X": enc.encode("X", 1235, X_FIELDS)}


# --- parse --------------------------------------------------------------------------------------


def parse_boomnet(kind: str, batch: bytes, n: int) -> int:
    parser = FixParser()
    got = 0
    for m in parser.feed(batch):
        if kind == "D":
            m.get(11), m.get(55), m.get(54), m.get(38), m.get(44)
            got += m.seq_num > 0
        else:
            for e in m.groups(268):
                e.get(279), e.get(269), e.get(55), e.get(270), e.get(271)
            got += 1
    assert got == n
    return got


def parse_boomnet_rows(kind: str, batch: bytes, n: int) -> int:
    """X through the columnar API: the same five fields of every entry, one C call per message."""
    parser = FixParser()
    got = 0
    for m in parser.feed(batch):
        m.group_rows(268, (279, 269, 55, 270, 271))
        got += 1
    assert got == n
    return got


def parse_simplefix(kind: str, batch: bytes, n: int) -> int:
    import simplefix

    parser = simplefix.FixParser()
    parser.append_buffer(batch)
    got = 0
    while (m := parser.get_message()) is not None:
        if kind == "D":
            m.get(11), m.get(55), m.get(54), m.get(38), m.get(44), m.get(34)
        else:  # simplefix has no groups: the n-th occurrence of each tag
            for j in range(1, 5):
                m.get(279, j), m.get(269, j), m.get(55, j), m.get(270, j), m.get(271, j)
        got += 1
    assert got == n
    return got


def parse_quickfix(kind: str, strings: list[str], dd: Any) -> int:
    import quickfix as fix

    got = 0
    for s in strings:
        m = fix.Message()
        m.setString(s, False, dd)
        if kind == "D":
            m.getField(11), m.getField(55), m.getField(54), m.getField(38), m.getField(44)
            m.getHeader().getField(34)
        else:
            g = fix.Group(268, 279)
            for j in range(1, int(m.getField(268)) + 1):
                m.getGroup(j, g)
                g.getField(279), g.getField(269), g.getField(55), g.getField(270), g.getField(271)
        got += 1
    return got


# --- encode -------------------------------------------------------------------------------------


def encode_boomnet(kind: str, n: int) -> None:
    enc = FixEncoder("FIX.4.4", "SENDER", "TARGET")
    fields = NOS_FIELDS if kind == "D" else X_FIELDS
    for seq in range(n):
        enc.encode(kind, seq, fields)


def encode_simplefix(kind: str, n: int) -> None:
    import simplefix

    fields = NOS_FIELDS if kind == "D" else X_FIELDS
    for seq in range(n):
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4")
        m.append_pair(35, kind)
        m.append_pair(49, "SENDER")
        m.append_pair(56, "TARGET")
        m.append_pair(34, seq)
        m.append_utc_timestamp(52, precision=3)
        for tag, value in fields:
            m.append_pair(tag, value)
        m.encode()


def encode_quickfix(kind: str, n: int) -> None:
    import quickfix as fix

    fields = NOS_FIELDS if kind == "D" else X_FIELDS
    for seq in range(n):
        m = fix.Message()
        h = m.getHeader()
        h.setField(fix.BeginString("FIX.4.4"))
        h.setField(fix.MsgType(kind))
        h.setField(fix.SenderCompID("SENDER"))
        h.setField(fix.TargetCompID("TARGET"))
        h.setField(fix.MsgSeqNum(seq + 1))
        h.setField(fix.StringField(52, sending_time().decode()))
        if kind == "D":
            for tag, value in fields:
                m.setField(fix.StringField(tag, str(value)))
        else:
            m.setField(fix.StringField(262, "md1"))
            for i in range(4):
                g = fix.Group(268, 279)
                for tag, value in X_FIELDS[2 + 5 * i : 7 + 5 * i]:
                    g.setField(fix.StringField(tag, str(value)))
                m.addGroup(g)
        m.toString()


def codec(rounds: int, batch_n: int) -> dict[str, dict[str, float]]:
    msgs = messages()
    have_qf = _have_quickfix()
    dd = None
    if have_qf:
        import quickfix as fix

        dd = fix.DataDictionary(DD_PATH)
    rates: dict[str, list[float]] = {}

    def timed(name: str, fn: Any, *args: Any, n: int) -> None:
        t0 = time.perf_counter()
        fn(*args)
        rates.setdefault(name, []).append(n / (time.perf_counter() - t0))

    for _ in range(rounds):
        for kind, raw in msgs.items():
            batch = raw * batch_n
            timed(f"parse {kind} boomnet", parse_boomnet, kind, batch, batch_n, n=batch_n)
            if kind == "X":
                timed("parse X boomnet group_rows", parse_boomnet_rows, kind, batch, batch_n, n=batch_n)
            small = max(1, batch_n // 10)  # simplefix is slow: a tenth of the batch
            timed(f"parse {kind} simplefix", parse_simplefix, kind, raw * small, small, n=small)
            if have_qf:
                timed(f"parse {kind} quickfix", parse_quickfix, kind, [raw.decode()] * batch_n, dd, n=batch_n)
            timed(f"encode {kind} boomnet", encode_boomnet, kind, batch_n, n=batch_n)
            timed(f"encode {kind} simplefix", encode_simplefix, kind, batch_n // 10, n=batch_n // 10)
            if have_qf:
                timed(f"encode {kind} quickfix", encode_quickfix, kind, batch_n, n=batch_n)
    return {name: {"median_per_s": statistics.median(v)} for name, v in rates.items()}


def _have_quickfix() -> bool:
    try:
        import quickfix  # noqa: F401
    except ImportError:
        return False
    return True


# --- round trip ---------------------------------------------------------------------------------


def rtt_boomnet(c: Any, n: int) -> list[float]:
    lat = []
    if True:
        for i in range(n):
            t0 = time.perf_counter()
            c.send("D", [(11, f"b{i}"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 2), (44, "10"), (60, sending_time())])
            m = c.receive(5)
            lat.append(time.perf_counter() - t0)
            assert m is not None and m.msg_type == b"8"
    return lat


class _EndpointRtt:
    """boomnet's way: a FixEndpoint on a busy-polled IOService (no sleeping in poll(2))."""

    def __init__(self, port: int) -> None:
        from boomnet.fix.config import SessionConfig
        from boomnet.fix.endpoint import FixEndpoint
        from boomnet.service import DirectSelector, IOService

        outer = self
        self.got = 0

        class Ep(FixEndpoint):
            def on_message(self, session: Any, msg: Any, ctx: Any) -> None:
                outer.got += 1

        self.ep = Ep("127.0.0.1", port, SessionConfig("ENDPOINT", "SERVER", heartbeat_interval=30))
        self.io: Any = IOService(DirectSelector())
        self.io.register(self.ep)
        deadline = time.monotonic() + 15
        while not self.ep.session.logged_on:
            assert time.monotonic() < deadline, "endpoint did not log on"
            self.io.poll(None)

    def run(self, n: int) -> list[float]:
        lat = []
        poll, ep = self.io.poll, self.ep
        for i in range(n):
            want = self.got + 1
            t0 = time.perf_counter()
            ep.send("D", [(11, f"p{i}"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 2), (44, "10"), (60, sending_time())])
            while self.got < want:
                poll(None)
            lat.append(time.perf_counter() - t0)
        return lat

    def stop(self) -> None:
        self.ep.logout()
        deadline = time.monotonic() + 3
        while self.ep.connection is not None and time.monotonic() < deadline:
            self.io.poll(None)


class _RawFloor:
    """The floor: a blocking socket sending pre-built orders (its own Logon, seq numbers by hand)
    and reading until the ExecutionReport's CheckSum -- no session, no parsing beyond that. What
    remains is the acceptor's own processing plus loopback: no client can beat it."""

    def __init__(self, port: int) -> None:
        import socket

        self.enc = FixEncoder("FIX.4.4", "RAW", "SERVER")
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 1
        self.sock.sendall(self.enc.encode("A", 1, [(98, 0), (108, 30), (141, "Y")]))
        self._read_one()

    def _read_one(self) -> bytes:
        buf = b""
        while not (len(buf) >= 7 and buf.endswith(b"\x01") and b"\x0110=" in buf[-8:]):
            chunk = self.sock.recv(65536)
            assert chunk, "acceptor closed"
            buf += chunk
        return buf

    def run(self, n: int) -> list[float]:
        lat = []
        for i in range(n):
            self.seq += 1
            data = self.enc.encode("D", self.seq, [(11, f"r{i}"), (55, "BTCUSD"), (54, 1), (38, 1), (40, 2), (44, "10"),
                                                   (60, "20260101-00:00:00.000")])
            t0 = time.perf_counter()
            self.sock.sendall(data)
            reply = self._read_one()
            lat.append(time.perf_counter() - t0)
            assert b"\x0135=8\x01" in reply
        return lat

    def stop(self) -> None:
        self.sock.close()


class _QfInitiator:
    def __init__(self, port: int, directory: str) -> None:
        import quickfix as fix

        outer = self
        self.fix = fix
        self.event = threading.Event()
        self.logged_on = threading.Event()

        class App(fix.Application):  # type: ignore[misc]
            def onCreate(self, sid: Any) -> None:
                outer.sid = sid

            def onLogon(self, sid: Any) -> None:
                outer.logged_on.set()

            def onLogout(self, sid: Any) -> None:
                pass

            def toAdmin(self, msg: Any, sid: Any) -> None:
                pass

            def fromAdmin(self, msg: Any, sid: Any) -> None:
                pass

            def toApp(self, msg: Any, sid: Any) -> None:
                pass

            def fromApp(self, msg: Any, sid: Any) -> None:
                outer.event.set()

        cfg = os.path.join(directory, "initiator.cfg")
        with open(cfg, "w") as f:
            f.write(f"[DEFAULT]\nConnectionType=initiator\nReconnectInterval=1\nFileStorePath={directory}/istore\n"
                    f"StartTime=00:00:00\nEndTime=00:00:00\nHeartBtInt=30\nSocketNodelay=Y\nUseDataDictionary=Y\n"
                    f"DataDictionary={DD_PATH}\n\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID=QUICKFIX\n"
                    f"TargetCompID=SERVER\nSocketConnectHost=127.0.0.1\nSocketConnectPort={port}\n")
        self.app = App()
        settings = fix.SessionSettings(cfg)
        self.initiator = fix.SocketInitiator(self.app, fix.FileStoreFactory(settings), settings)
        self.initiator.start()
        assert self.logged_on.wait(15), "QuickFIX initiator did not log on"

    def run(self, n: int) -> list[float]:
        fix = self.fix
        lat = []
        for i in range(n):
            m = fix.Message()
            m.getHeader().setField(fix.MsgType("D"))
            for tag, value in ((11, f"q{i}"), (55, "BTCUSD"), (54, "1"), (38, "1"), (40, "2"), (44, "10"),
                               (60, sending_time().decode())):
                m.setField(fix.StringField(tag, value))
            self.event.clear()
            t0 = time.perf_counter()
            fix.Session.sendToTarget(m, self.sid)
            assert self.event.wait(5)
            lat.append(time.perf_counter() - t0)
        return lat

    def stop(self) -> None:
        self.initiator.stop()


def round_trip(rounds: int, n: int) -> dict[str, dict[str, float]]:
    from tests.conftest import free_port

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="fixbench-")
    acc = subprocess.Popen([sys.executable, "-m", "tests.fix.qf_acceptor", "--port", str(port), "--dir", tmp, "--quiet",
                            "--target", "BOOMNET", "ENDPOINT", "QUICKFIX", "RAW"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    try:
        assert acc.stdout is not None and acc.stdout.readline().startswith("READY")
        threading.Thread(target=lambda: [None for _ in acc.stdout], daemon=True).start()  # type: ignore[union-attr]
        qf = _QfInitiator(port, tmp)
        from boomnet.fix.client import FixClient
        from boomnet.fix.config import SessionConfig

        client = FixClient.connect("127.0.0.1", port, SessionConfig("BOOMNET", "SERVER", heartbeat_interval=30))
        ep = _EndpointRtt(port)
        raw = _RawFloor(port)
        runs = {"boomnet FixClient": lambda k: rtt_boomnet(client, k), "boomnet FixEndpoint": ep.run, "quickfix": qf.run,
                "raw socket floor": raw.run}
        p50: dict[str, list[float]] = {name: [] for name in runs}
        p99: dict[str, list[float]] = {name: [] for name in runs}
        for fn in runs.values():
            fn(100)  # warm-up
        for _ in range(rounds):
            for name, fn in runs.items():
                lat = sorted(fn(n))
                p50[name].append(lat[len(lat) // 2] * 1e6)
                p99[name].append(lat[int(len(lat) * 0.99)] * 1e6)
        qf.stop()
        raw.stop()
        ep.stop()
        client.logout()
        return {name: {"p50_us": statistics.median(p50[name]), "p99_us": statistics.median(p99[name])} for name in p50}
    finally:
        assert acc.stdin is not None
        acc.stdin.close()
        try:
            acc.wait(10)
        except subprocess.TimeoutExpired:
            acc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--skip-rtt", action="store_true")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()}  C checksum: {fix_parser.checksum is not fix_parser._py_checksum}")
    res = codec(args.rounds, args.batch)
    for kind in ("parse D", "parse X", "encode D", "encode X"):
        b = res[f"{kind} boomnet"]["median_per_s"]
        line = f"{kind}: boomnet {b:,.0f}/s"
        for other in ("simplefix", "quickfix"):
            o = res.get(f"{kind} {other}")
            if o:
                line += f"  {other} {o['median_per_s']:,.0f}/s (x{b / o['median_per_s']:.1f})"
        print(line)
        if kind == "parse X":
            r = res["parse X boomnet group_rows"]["median_per_s"]
            line = f"parse X via group_rows(): boomnet {r:,.0f}/s"
            for other in ("simplefix", "quickfix"):
                o = res.get(f"parse X {other}")
                if o:
                    line += f"  (x{r / o['median_per_s']:.1f} {other})"
            print(line)
    if not args.skip_rtt and _have_quickfix():
        rt = round_trip(args.rounds, args.orders)
        q = rt["quickfix"]
        for name, r in rt.items():
            print(f"order->ER round trip {name}: p50 {r['p50_us']:.0f} us  p99 {r['p99_us']:.0f} us  "
                  f"(p50 / QuickFIX initiator {r['p50_us'] / q['p50_us']:.2f})")
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
