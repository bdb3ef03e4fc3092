"""A QuickFIX (reference engine) FIX 4.4 acceptor, run as a subprocess by the tests and perf.

    python -m tests.fix.qf_acceptor --port 9878 --dir /tmp/qf [--sender SERVER] [--target CLIENT]

Prints ``READY`` on stdout once listening, stops on SIGTERM or when stdin closes. Application:

* NewOrderSingle (D) -> one ExecutionReport (8): filled at Price(44) (or 100), OrderID, ExecID,
  ClOrdID echoed. ClOrdID ``SKIP:<n>`` first bumps QuickFIX's next outbound MsgSeqNum by n (so
  the client sees a gap); ``SEQRESET:<n>`` sends SequenceReset-Reset(36=n) first.
* MarketDataRequest (V) -> a MarketDataSnapshotFullRefresh (W) with a bid and an offer per
  symbol, then a MarketDataIncrementalRefresh (X) with two entries.
* Everything QuickFIX's session layer does (Logon, Heartbeat, TestRequest, ResendRequest,
  Reject, Logout) is QuickFIX's own; admin messages received are echoed to stdout as
  ``ADMIN <msg>`` lines, application messages as ``APP <msg>`` (``|`` for SOH).
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading

import quickfix as fix


class Acceptor(fix.Application):  # type: ignore[misc]
    def __init__(self, quiet: bool) -> None:
        super().__init__()
        self.ids = itertools.count(1)
        self.quiet = quiet
        self.lock = threading.Lock()

    def onCreate(self, sid: fix.SessionID) -> None:
        pass

    def onLogon(self, sid: fix.SessionID) -> None:
        self.out(f"LOGON {sid}")

    def onLogout(self, sid: fix.SessionID) -> None:
        self.out(f"LOGOUT {sid}")

    def toAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        pass

    def fromAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        self.out("ADMIN " + msg.toString().replace("\x01", "|"))

    def toApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        pass

    def out(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def fromApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        if not self.quiet:
            self.out("APP " + msg.toString().replace("\x01", "|"))
        mt = msg.getHeader().getField(35)
        if mt == "D":
            self.on_order(msg, sid)
        elif mt == "V":
            self.on_md_request(msg, sid)

    def on_order(self, msg: fix.Message, sid: fix.SessionID) -> None:
        clordid = msg.getField(11)
        session = fix.Session.lookupSession(sid)
        if clordid.startswith("SKIP:"):
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + int(clordid[5:]))
        elif clordid.startswith("SEQRESET:"):
            new = int(clordid[9:])
            reset = fix.Message()
            reset.getHeader().setField(fix.MsgType("4"))
            reset.setField(fix.NewSeqNo(new))
            reset.setField(fix.GapFillFlag(False))
            fix.Session.sendToTarget(reset, sid)
            session.setNextSenderMsgSeqNum(new)
        n = next(self.ids)
        price = msg.getField(44) if msg.isSetField(44) else "100"
        qty = msg.getField(38)
        er = fix.Message()
        er.getHeader().setField(fix.MsgType("8"))
        er.setField(fix.OrderID(f"O{n}"))
        er.setField(fix.ExecID(f"E{n}"))
        er.setField(fix.ClOrdID(clordid))
        er.setField(fix.ExecType("F"))
        er.setField(fix.OrdStatus("2"))
        er.setField(fix.Symbol(msg.getField(55)))
        er.setField(fix.Side(msg.getField(54)))
        er.setField(fix.LeavesQty(0))
        er.setField(fix.StringField(14, qty))
        er.setField(fix.StringField(6, price))
        er.setField(fix.StringField(31, price))
        er.setField(fix.StringField(32, qty))
        fix.Session.sendToTarget(er, sid)

    def on_md_request(self, msg: fix.Message, sid: fix.SessionID) -> None:
        req_id = msg.getField(262)
        group = fix.Group(146, 55)
        symbols = []
        for i in range(1, int(msg.getField(146)) + 1):
            msg.getGroup(i, group)
            symbols.append(group.getField(55))
        for symbol in symbols:
            snap = fix.Message()
            snap.getHeader().setField(fix.MsgType("W"))
            snap.setField(fix.MDReqID(req_id))
            snap.setField(fix.Symbol(symbol))
            for side, px, size in (("0", "99.5", "10"), ("1", "100.5", "12")):
                entry = fix.Group(268, 269)
                entry.setField(fix.MDEntryType(side))
                entry.setField(fix.StringField(270, px))
                entry.setField(fix.StringField(271, size))
                snap.addGroup(entry)
            fix.Session.sendToTarget(snap, sid)
            inc = fix.Message()
            inc.getHeader().setField(fix.MsgType("X"))
            inc.setField(fix.MDReqID(req_id))
            for action, side, px, size in (("1", "0", "99.5", "7"), ("0", "1", "100.25", "3")):
                entry = fix.Group(268, 279)
                entry.setField(fix.MDUpdateAction(action))
                entry.setField(fix.MDEntryType(side))
                entry.setField(fix.Symbol(symbol))
                entry.setField(fix.StringField(270, px))
                entry.setField(fix.StringField(271, size))
                inc.addGroup(entry)
            fix.Session.sendToTarget(inc, sid)


def settings_text(args: argparse.Namespace) -> str:
    dd = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
    tls = ""
    if args.tls:
        cert, key = args.tls
        tls = f"ServerCertificateFile={cert}\nServerCertificateKeyFile={key}\nCertificateVerifyLevel=0\nSSLProtocol=+TLSv1_2 +TLSv1_3\n"
    return f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={args.port}
FileStorePath={args.dir}/store
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dd}
ValidateUserDefinedFields=N
ResetOnLogon=N
ResetOnLogout=N
ResetOnDisconnect=N
SocketNodelay=Y
{tls}
""" + "".join(
        f"\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID={args.sender}\nTargetCompID={target}\n" for target in args.target
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--sender", default="SERVER")
    parser.add_argument("--target", nargs="+", default=["CLIENT"], help="one session per initiator CompID")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve FIX over TLS")
    parser.add_argument("--quiet", action="store_true", help="do not echo application messages")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "acceptor.cfg")
    with open(path, "w") as f:
        f.write(settings_text(args))
    settings = fix.SessionSettings(path)
    app = Acceptor(args.quiet)
    kind = fix.SSLSocketAcceptor if args.tls else fix.SocketAcceptor
    acceptor = kind(app, fix.FileStoreFactory(settings), settings)
    acceptor.start()
    app.out("READY")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    acceptor.stop()


if __name__ == "__main__":
    main()
