"""An embedded FIX 4.4 venue (acceptor) for the demo: market data and order entry, offline.

    python -m boomnet.testing.fix.acceptor --port 9878       # prints "READY <port>" once listening

It runs boomnet's own sans-I/O :class:`FixSession` in the acceptor role over plain sockets (the
session core serves both sides, as websockets' does). Per connection:

* Logon: any SenderCompID, answered as ``VENUE``; sessions keep their MemoryStore across
  reconnects (keyed by the peer's CompID), so sequence numbers resume.
* MarketDataRequest (V, 263=1 subscribe): a MarketDataSnapshotFullRefresh (W) per symbol (five
  bid and five offer levels), then MarketDataIncrementalRefresh (X) updates every ``--tick`` ms
  (a random walk of the mid, two entries per update).
* NewOrderSingle (D): an ExecutionReport (8). A limit order that crosses the current best price
  fills at once (ExecType F, LastPx = the best price); one that does not is acknowledged
  (ExecType 0) and rests until the walk crosses it. OrderCancelRequest (F) cancels a resting one.

Not a matching engine: one simulated book per symbol, no queue position, fills in full.
"""

from __future__ import annotations

import argparse
import random
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from boomnet.errors import BoomnetError
from boomnet.fix import FixParser, sending_time
from boomnet.fix.config import SessionConfig
from boomnet.fix.encoder import FieldValue
from boomnet.fix.message import FixMessage
from boomnet.fix.session import FixSession
from boomnet.fix.store import MemoryStore

SYMBOLS = {"BTCUSD": 65000.0, "ETHUSD": 3400.0}


@dataclass
class Order:
    clordid: bytes
    order_id: str
    symbol: str
    side: bytes
    qty: bytes
    price: float


@dataclass
class Client:
    sock: socket.socket
    session: FixSession
    parser: FixParser
    subscribed: dict[str, bytes] = field(default_factory=dict)  # symbol -> MDReqID
    resting: list[Order] = field(default_factory=list)


class Venue:
    def __init__(self, port: int, tick_ms: float, seed: int = 7) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.tick = tick_ms / 1000
        self.rng = random.Random(seed)
        self.mid = dict(SYMBOLS)
        self.stores: dict[str, MemoryStore] = {}
        self.clients: dict[socket.socket, Client] = {}
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.ids = 0
        self.stop = threading.Event()

    def quote(self, symbol: str) -> tuple[float, float]:
        mid = self.mid[symbol]
        spread = max(0.01, round(mid * 0.0001, 2))
        return round(mid - spread / 2, 2), round(mid + spread / 2, 2)

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop.is_set():
            for key, _ in self.sel.select(max(0.0, next_tick - time.monotonic())):
                if key.fileobj is self.listener:
                    self.accept()
                else:
                    self.read(self.clients[key.fileobj])  # type: ignore[index]
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick
                self.walk()
                for client in list(self.clients.values()):
                    client.session.tick(now)
                    self.flush(client)

    def accept(self) -> None:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = self.peer_comp_id(sock)
        if peer is None:
            sock.close()
            return
        store = self.stores.setdefault(peer, MemoryStore())
        session = FixSession(SessionConfig("VENUE", peer, role="acceptor"), store)
        session.start(time.monotonic())
        self.clients[sock] = Client(sock, session, FixParser())
        self.sel.register(sock, selectors.EVENT_READ)
        self.read(self.clients[sock], first=self._first)

    _first = b""

    def peer_comp_id(self, sock: socket.socket) -> str | None:
        """Peek at the Logon to learn the initiator's CompID (one venue serves any client)."""
        sock.settimeout(5)
        data = b""
        try:
            while b"\x0149=" not in data or data.find(b"\x01", data.find(b"\x0149=") + 4) < 0:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
        except OSError:
            return None
        sock.setblocking(False)
        self._first = data
        i = data.find(b"\x0149=") + 4
        return data[i : data.find(b"\x01", i)].decode("latin-1")

    def read(self, client: Client, first: bytes = b"") -> None:
        try:
            data = first or client.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self.drop(client)
        msgs = client.parser.feed(data)
        for msg in client.session.receive(msgs, time.monotonic()):
            self.on_app(client, msg)
        self.flush(client)
        if client.parser.error is not None or client.session.error is not None:
            self.drop(client)
        return None

    def flush(self, client: Client) -> None:
        data = client.session.data_to_send()
        if data:
            try:
                client.sock.setblocking(True)
                client.sock.sendall(data)
                client.sock.setblocking(False)
            except OSError:
                self.drop(client)

    def drop(self, client: Client) -> None:
        if self.clients.pop(client.sock, None) is not None:
            self.sel.unregister(client.sock)
            client.sock.close()

    def send(self, client: Client, msg_type: str, fields: list[tuple[int, FieldValue]]) -> None:
        if client.session.logged_on:
            client.session.send(msg_type, fields)

    def on_app(self, client: Client, msg: FixMessage) -> None:
        mt = msg.msg_type
        if mt == b"V":
            req = msg[262]
            for entry in msg.groups(146):
                symbol = (entry.get(55) or b"").decode()
                if symbol not in self.mid:
                    self.send(client, "Y", [(262, req), (281, 0), (58, f"unknown symbol {symbol}")])
                    continue
                client.subscribed[symbol] = req
                self.snapshot(client, symbol, req)
        elif mt == b"D":
            self.on_order(client, msg)
        elif mt == b"F":
            for order in client.resting:
                if order.clordid == msg.get(41):
                    client.resting.remove(order)
                    self.report(client, order, b"4", b"4", 0.0, msg[11])
                    break
            else:
                self.send(client, "9", [(37, "NONE"), (11, msg[11]), (41, msg.get(41) or b"?"), (39, "8"), (434, 1), (102, 1)])

    def snapshot(self, client: Client, symbol: str, req: bytes) -> None:
        bid, ask = self.quote(symbol)
        fields: list[tuple[int, FieldValue]] = [(262, req), (55, symbol), (268, 10)]
        for level in range(5):
            fields += [(269, 0), (270, round(bid - level * 0.5, 2)), (271, 1 + level)]
            fields += [(269, 1), (270, round(ask + level * 0.5, 2)), (271, 1 + level)]
        self.send(client, "W", fields)

    def walk(self) -> None:
        for symbol in self.mid:
            self.mid[symbol] = round(self.mid[symbol] * (1 + self.rng.gauss(0, 0.00005)), 2)
            bid, ask = self.quote(symbol)
            for client in list(self.clients.values()):
                req = client.subscribed.get(symbol)
                if req is not None:
                    self.send(client, "X", [
                        (262, req), (268, 2),
                        (279, 1), (269, 0), (55, symbol), (270, bid), (271, self.rng.randint(1, 9)),
                        (279, 1), (269, 1), (55, symbol), (270, ask), (271, self.rng.randint(1, 9)),
                    ])
                for order in list(client.resting):
                    if order.symbol == symbol and self.crosses(order, bid, ask):
                        client.resting.remove(order)
                        self.report(client, order, b"F", b"2", ask if order.side == b"1" else bid)

    @staticmethod
    def crosses(order: Order, bid: float, ask: float) -> bool:
        return order.price >= ask if order.side == b"1" else order.price <= bid

    def on_order(self, client: Client, msg: FixMessage) -> None:
        symbol = (msg.get(55) or b"").decode()
        if symbol not in self.mid:
            self.send(client, "j", [(45, msg.seq_num), (372, "D"), (380, 2), (58, f"unknown symbol {symbol}")])
            return
        self.ids += 1
        bid, ask = self.quote(symbol)
        side = msg.get(54) or b"1"
        price = msg.get_float(44)
        order = Order(msg[11], f"V{self.ids}", symbol, side, msg.get(38) or b"1", price if price else (ask if side == b"1" else bid))
        if msg.get(40) == b"1" or self.crosses(order, bid, ask):
            self.report(client, order, b"F", b"2", ask if side == b"1" else bid)
        else:
            client.resting.append(order)
            self.report(client, order, b"0", b"0", 0.0)

    def report(self, client: Client, order: Order, exec_type: bytes, status: bytes, px: float, clordid: bytes | None = None) -> None:
        self.ids += 1
        filled = exec_type == b"F"
        self.send(client, "8", [
            (37, order.order_id), (11, clordid or order.clordid), (17, f"X{self.ids}"), (150, exec_type),
            (39, status), (55, order.symbol), (54, order.side), (38, order.qty), (44, order.price),
            (151, 0 if filled or exec_type == b"4" else order.qty), (14, order.qty if filled else 0),
            (6, px if filled else 0), (31, px), (32, order.qty if filled else 0), (60, sending_time()),
        ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tick", type=float, default=10.0, help="market data update period, ms")
    args = parser.parse_args()
    venue = Venue(args.port, args.tick)
    signal.signal(signal.SIGTERM, lambda *a: venue.stop.set())

    def until_stdin_closes() -> None:
        sys.stdin.read()
        venue.stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    print(f"READY {venue.port}", flush=True)
    try:
        venue.run()
    except (KeyboardInterrupt, BoomnetError):
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
