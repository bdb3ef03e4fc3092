"""BinanceEndpoint on an IOService against the embedded exchange (real TLS, trusted CA file).

The exchange reports what it wrote on each connection; the endpoint what it decoded. Pausing the
market and letting the client drain makes the two comparable exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boomnet.errors import MessageTooBig, NetworkError, WebSocketProtocolError
from boomnet.service import DisconnectKind, EpollSelector, IOService
from endpoints.binance import AggTrade, BookTicker, CommandResult, PartialDepth, Trade
from boomnet.testing.binance.exchange import Exchange

from .helpers import Collector, run_until, trade_ids_by_symbol


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    with Exchange(rate=150, burst_every=0.4, burst_size=40, ping_interval=0.2, ping_timeout=2.0, seed=3) as ex:
        yield ex


@pytest.fixture
def service() -> Iterator[IOService]:
    with IOService(EpollSelector()) as io:
        yield io


def feed(exchange: Exchange, streams: list[str], **options) -> Collector:
    return Collector(streams, base_url=exchange.url, ca_file=exchange.ca_file, **options)


def drain(service: IOService, exchange: Exchange, endpoints: list[Collector]) -> list:
    """Pause the market, then poll until each endpoint's current connection has decoded every
    message the exchange wrote to it — every kind, per stream — and the same trade ids.
    Returns the exchange's connection stats.

    No sleep: ``connections()`` runs on the exchange's loop thread, where a tick (generate and
    write) never yields midway, so its snapshot comes after any tick in flight when ``paused``
    was set, and later ticks see ``paused``. The totals it reports are final."""
    exchange.paused = True
    stats = exchange.connections()
    open_stats = {s.path: s for s in stats if s.closed_at is None}

    def caught_up() -> bool:
        for ep in endpoints:
            conn = open_stats[ep.url.removeprefix(exchange.url)]
            got = ep.connections[-1]
            per_kind: dict[str, int] = {}
            for stream, n in conn.sent.items():
                kind = "partial" if "@depth" in stream and stream.split("@")[1] != "depth" else stream.split("@")[1]
                per_kind[kind] = per_kind.get(kind, 0) + n
            decoded = {kind: sum(1 for r in got if type(r) is cls) for kind, cls in KINDS.items()}
            if any(decoded.get(kind, 0) != n for kind, n in per_kind.items()) or len(got) != sum(conn.sent.values()):
                return False
            ids = trade_ids_by_symbol(got)
            if {sym.upper(): t[2] for sym, t in conn.trades.items()} != {s: len(i) for s, i in ids.items()}:
                return False
        return True

    run_until(service, caught_up)
    return stats


KINDS = {"trade": Trade, "aggTrade": AggTrade, "bookTicker": BookTicker, "partial": PartialDepth}


def test_three_url_styles_match_what_the_exchange_sent(exchange: Exchange, service: IOService) -> None:
    subscribed = feed(exchange, ["btcusdt@trade", "btcusdt@bookTicker"])  # /stream + SUBSCRIBE
    raw = feed(exchange, ["ethusdt@trade"], combined=False, streams_in_url=True)  # /ws/ethusdt@trade
    in_url = feed(exchange, ["xrpusdt@trade", "xrpusdt@aggTrade", "xrpusdt@depth5@100ms"], streams_in_url=True)
    endpoints = [subscribed, raw, in_url]
    for ep in endpoints:
        service.register(ep)
    run_until(service, lambda: all(len(ep.records(Trade)) >= 60 for ep in endpoints))
    run_until(service, lambda: all(s.pongs_matched >= 2 for s in exchange.connections()))
    stats = drain(service, exchange, endpoints)

    by_path = {s.path: s for s in stats}  # the three connect concurrently: any order
    assert sorted(by_path) == ["/stream", "/stream?streams=xrpusdt@trade/xrpusdt@aggTrade/xrpusdt@depth5@100ms",
                               "/ws/ethusdt@trade"]
    stats = [by_path[ep.url.removeprefix(exchange.url)] for ep in endpoints]
    for ep, conn in zip(endpoints, stats, strict=False):
        assert len(ep.connections) == 1 and ep.disconnects == []
        got = ep.connections[0]
        # every data message the exchange wrote was decoded, once, in order
        assert len(got) == sum(conn.sent.values())
        [ids] = trade_ids_by_symbol(got).values()
        first, last, count = next(iter(conn.trades.values()))
        assert ids == list(range(first, last + 1)) and len(ids) == count
        assert conn.pings_sent >= 2 and conn.pongs_matched >= conn.pings_sent - 1  # one may be in flight
        assert ep.pings >= conn.pongs_matched
    assert stats[0].requests == [("SUBSCRIBE", 1)]
    assert subscribed.replies == [(subscribed.replies[0][0], CommandResult(1, None))]
    assert stats[1].requests == stats[2].requests == []  # the URL carried the streams
    assert len(subscribed.records(BookTicker)) == stats[0].sent["btcusdt@bookTicker"]
    assert len(in_url.records(AggTrade)) == stats[2].sent["xrpusdt@aggTrade"]
    books = in_url.records(PartialDepth)
    assert books and all(b.symbol == "XRPUSDT" and len(b.bids) == len(b.asks) == 5 for b in books)


def test_live_subscribe_unsubscribe_list_and_error_reply(exchange: Exchange, service: IOService) -> None:
    ep = feed(exchange, ["btcusdt@trade"])
    service.register(ep)
    run_until(service, lambda: len(ep.replies) == 1)
    ep.subscribe(["ethusdt@bookTicker"])
    ep.subscribe(["btcusdt@kline_1m"])  # a real Binance stream the simulator refuses
    ep.list_subscriptions()
    run_until(service, lambda: len(ep.replies) + len(ep.error_replies) == 4)
    [(refused, error)] = ep.error_replies
    assert refused.params == ("btcusdt@kline_1m",) and error.code == 2 and error.id == refused.id
    assert ep.subscriptions.listed == ["btcusdt@trade", "ethusdt@bookTicker"]
    assert ep.subscriptions.streams == ("btcusdt@trade", "ethusdt@bookTicker")
    ep.unsubscribe(["btcusdt@trade"])
    run_until(service, lambda: len(ep.replies) == 4)
    assert ep.subscriptions.active == {"ethusdt@bookTicker"}
    [conn] = exchange.connections()
    assert conn.streams == {"ethusdt@bookTicker"}
    assert [i for _, i in conn.requests] == [1, 2, 3, 4, 5]  # increasing ids
    run_until(service, lambda: len(ep.records(BookTicker)) >= 5)


def test_dropped_connection_reconnects_and_resubscribes_without_loss(exchange: Exchange, service: IOService) -> None:
    ep = feed(exchange, ["btcusdt@trade", "btcusdt@bookTicker"])
    service.register(ep)
    run_until(service, lambda: len(ep.records(Trade)) >= 40)
    assert exchange.drop() == 1
    run_until(service, lambda: len(ep.connections) == 2 and len(trade_ids_by_symbol(ep.connections[1])) == 1)
    run_until(service, lambda: len(trade_ids_by_symbol(ep.connections[1])["BTCUSDT"]) >= 40)
    stats = drain(service, exchange, [ep])

    [reason] = ep.disconnects
    assert reason.kind in (DisconnectKind.CLOSED, DisconnectKind.ERROR) and isinstance(reason.error, NetworkError)
    assert [s.requests for s in stats] == [[("SUBSCRIBE", 1)], [("SUBSCRIBE", 2)]]  # same streams again
    assert stats[0].streams == set() and stats[1].streams == {"btcusdt@trade", "btcusdt@bookTicker"}
    for conn, got in zip(stats, ep.connections, strict=False):
        ids = trade_ids_by_symbol(got)["BTCUSDT"]
        first, last, _count = conn.trades["btcusdt"]
        assert ids == list(range(first, ids[-1] + 1))  # contiguous within the connection
        assert ids[-1] <= last  # the drop may discard what was still in flight, nothing else
    assert len(trade_ids_by_symbol(ep.connections[1])["BTCUSDT"]) == stats[1].trades["btcusdt"][2]


@pytest.mark.parametrize(
    "fault, error_type, close_code",
    [("send_garbage", WebSocketProtocolError, 1002), ("send_oversized", MessageTooBig, 1009)],
)
def test_bad_frames_are_protocol_errors_then_reconnect(
    exchange: Exchange, service: IOService, fault: str, error_type: type, close_code: int
) -> None:
    ep = feed(exchange, ["btcusdt@trade"])
    service.register(ep)
    run_until(service, lambda: len(ep.records(Trade)) >= 10)
    assert getattr(exchange, fault)() == 1
    run_until(service, lambda: len(ep.connections) == 2 and len(ep.connections[1]) >= 10)
    [reason] = ep.disconnects
    assert reason.kind is DisconnectKind.ERROR
    assert isinstance(reason.error, error_type) and reason.error.close_code == close_code
    ids = trade_ids_by_symbol(ep.connections[0])["BTCUSDT"]
    assert ids == list(range(ids[0], ids[-1] + 1))  # everything before the bad frame was intact
    first = exchange.wait_for(lambda s: s[0].closed_at is not None)[0]
    assert first.close_reason == f"closed by client ({close_code})"


def test_stall_delays_but_loses_nothing(exchange: Exchange, service: IOService) -> None:
    ep = feed(exchange, ["btcusdt@trade"])
    service.register(ep)
    run_until(service, lambda: len(ep.records(Trade)) >= 20)
    exchange.stall(0.4)
    run_until(service, lambda: len(ep.records(Trade)) >= 120)
    drain(service, exchange, [ep])
    ids = trade_ids_by_symbol(ep.connections[0])["BTCUSDT"]
    assert len(ep.connections) == 1 and ids == list(range(ids[0], ids[-1] + 1))


def test_auto_disconnect_recycles_and_resubscribes(exchange: Exchange, service: IOService) -> None:
    ep = feed(exchange, ["ethusdt@trade"], auto_disconnect=0.3)
    service.register(ep)
    run_until(service, lambda: len(ep.connections) >= 3 and len(ep.connections[2]) >= 5)
    assert {d.kind for d in ep.disconnects} == {DisconnectKind.EXPIRED}
    stats = exchange.wait_for(lambda s: s[0].closed_at is not None and s[1].closed_at is not None)
    assert [s.requests for s in stats[:3]] == [[("SUBSCRIBE", 1)], [("SUBSCRIBE", 2)], [("SUBSCRIBE", 3)]]
    # the recycled connection was closed by the client (close frame sent, stream ended)
    assert stats[0].close_reason.startswith("closed by client")


def test_requests_beyond_the_rate_limit_are_paced_not_refused(exchange: Exchange, service: IOService) -> None:
    exchange.paused = True  # no market data: only the pacing timer can send the held-back requests
    ep = feed(exchange, ["btcusdt@trade"])
    service.register(ep)
    run_until(service, lambda: len(ep.replies) == 1)
    for symbol in ("ethusdt", "xrpusdt", "bnbusdt", "adausdt", "solusdt", "dogeusdt", "ltcusdt", "dotusdt"):
        ep.subscribe([f"{symbol}@trade"])
    run_until(service, lambda: len(ep.replies) == 9)
    [conn] = exchange.connections()
    assert [i for _, i in conn.requests] == list(range(1, 10)) and conn.close_reason == ""
    assert len(conn.streams) == 9 and ep.disconnects == []


def test_a_silent_feed_is_noticed_and_reconnected(exchange: Exchange, service: IOService) -> None:
    from boomnet.errors import PeerTimeout

    # Binance's rule is a silent minute; the test shortens it to keep the suite fast.
    ep = feed(exchange, ["btcusdt@trade"], idle_timeout=0.5)
    assert ep.ws.ping_interval is None  # Binance pings us; we send none of our own
    service.register(ep)
    run_until(service, lambda: len(ep.records(Trade)) >= 10)
    exchange.stall(2.0)  # nothing at all arrives: no data, no pings
    run_until(service, lambda: len(ep.disconnects) == 1)
    [reason] = ep.disconnects
    assert reason.kind is DisconnectKind.ERROR and isinstance(reason.error, PeerTimeout)
    run_until(service, lambda: len(ep.connections) == 2 and len(ep.connections[1]) >= 5)
