"""BinanceEndpoint's batch loop, its options and its liveness settings.

The loop is fed real ``boomnet.ws.Frame`` objects (as ``WebSocket.read_batch`` returns them) by a
minimal stand-in for the WebSocket: what is under test is what the endpoint does with a batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from boomnet.errors import VenueMessageError
from boomnet.ws import Frame, Opcode
from endpoints.binance import (
    LIVE_URL,
    REPLAY_URL,
    BinanceEndpoint,
    BookTicker,
    CommandResult,
    PartialDepth,
    Trade,
    UnknownEvent,
)
from endpoints.binance_options import BINANCE_IDLE_TIMEOUT, ws_option_names

from .helpers import Collector
from .test_codec import BOOK_TICKER, DEPTH, PARTIAL, TRADE


class Batch:
    """Hands the endpoint one batch of frames, like ``WebSocket.read_batch``."""

    def __init__(self, payloads: list[bytes | Opcode]) -> None:
        self.frames = [Frame(Opcode.PING, True, memoryview(b"x")) if p is Opcode.PING
                       else Frame(Opcode.TEXT, True, memoryview(bytearray(p))) for p in payloads]  # type: ignore[arg-type]

    def read_batch(self) -> list[Frame]:
        frames, self.frames = self.frames, []
        return frames

    def send_text(self, data: Any) -> None:
        pass


def wrap(stream: str, payload: bytes) -> bytes:
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def connected(ep: Collector) -> Collector:
    ep.connections.append([])
    return ep


def test_one_batch_mixes_fast_records_replies_untyped_and_pings() -> None:
    ep = connected(Collector(["bnbbtc@trade", "bnbusdt@bookTicker", "bnbbtc@depth5", "bnbbtc@kline_1m"]))
    ep.subscriptions.on_connected()
    ep.subscriptions.take_outgoing()  # the SUBSCRIBE, id 1
    kline = b'{"e":"kline","E":1,"s":"BNBBTC","k":{}}'
    ep.poll(Batch([wrap("bnbbtc@trade", TRADE), b'{"result":null,"id":1}', Opcode.PING,
                   wrap("bnbusdt@bookTicker", BOOK_TICKER), wrap("bnbbtc@depth5", PARTIAL),
                   wrap("bnbbtc@kline_1m", kline), wrap("ethusdt@trade", TRADE.replace(b"BNBBTC", b"ETHUSDT"))]), None)
    got = ep.connections[0]
    assert [type(r) for r in got] == [Trade, BookTicker, PartialDepth, UnknownEvent, Trade]
    assert got[2].symbol == "BNBBTC" and got[3].stream == "bnbbtc@kline_1m"
    assert got[4].symbol == "ETHUSDT"  # a stream not subscribed (any more): reference path, still typed
    assert ep.replies == [(ep.replies[0][0], CommandResult(1, None))] and ep.pings == 1


@pytest.mark.parametrize("combined", [True, False])
def test_a_malformed_message_is_a_venue_message_error_after_the_good_ones(combined: bool) -> None:
    ep = connected(Collector(["bnbbtc@trade", "bnbbtc@depth"], combined=combined))
    w = (lambda s, p: wrap(s, p)) if combined else (lambda s, p: p)
    bad = TRADE.replace(b'"t":12345', b'"t":[]')
    batch = Batch([w("bnbbtc@trade", TRADE), w("bnbbtc@depth", DEPTH), w("bnbbtc@trade", bad), w("bnbbtc@trade", TRADE)])
    with pytest.raises(VenueMessageError, match="'t'"):
        ep.poll(batch, None)
    assert [type(r) for r in ep.connections[0]] == [Trade, type(ep.connections[0][1])]
    assert len(ep.connections[0]) == 2  # delivered in order up to the bad one, nothing after it


def test_a_handlers_own_msgspec_error_is_not_taken_for_a_bad_message() -> None:
    class Strict(Collector):
        def on_trade(self, trade: Any, ctx: Any) -> None:
            super().on_trade(trade, ctx)
            msgspec.json.decode(b'"x"', type=int)  # the user's own decoding fails

    ep = connected(Strict(["bnbbtc@trade"]))
    with pytest.raises(msgspec.ValidationError):
        ep.poll(Batch([wrap("bnbbtc@trade", TRADE)]), None)
    assert len(ep.connections[0]) == 1  # handled once, not re-dispatched by the fallback


def test_subscribing_extends_the_fast_schema() -> None:
    ep = connected(Collector(["bnbbtc@trade"]))
    assert {e.stream for e in ep.decoder.envelopes} == {"bnbbtc@trade"}
    ep.subscribe(["bnbusdt@bookTicker"])
    assert {e.stream for e in ep.decoder.envelopes} == {"bnbbtc@trade", "bnbusdt@bookTicker"}
    ep.unsubscribe(["bnbbtc@trade"])
    assert {e.stream for e in ep.decoder.envelopes} == {"bnbusdt@bookTicker"}


# --- options -------------------------------------------------------------------------------------


def test_a_typo_in_base_url_never_reaches_production() -> None:
    with pytest.raises(TypeError, match="base_url"):
        BinanceEndpoint(["btcusdt@trade"], bas_url="wss://localhost:9443")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="base_url"):
        BinanceEndpoint(["btcusdt@trade"])  # type: ignore[call-arg]  # no silent default venue
    with pytest.raises(TypeError):
        BinanceEndpoint(["btcusdt@trade"], base_url="https://api.binance.com")


@pytest.mark.parametrize("typo", ["handshake_timout", "max_mesage_size", "ca_fille", "ping_intervall"])
def test_unknown_options_are_type_errors_at_construction(typo: str) -> None:
    with pytest.raises(TypeError, match=typo):
        BinanceEndpoint(["btcusdt@trade"], base_url=REPLAY_URL, **{typo: 1})


def test_known_options_pass_and_production_is_explicit() -> None:
    ep = BinanceEndpoint(["btcusdt@trade"], base_url=LIVE_URL, max_message_size=1 << 16, handshake_timeout=3.0)
    assert ep.url.startswith(LIVE_URL + "/stream")
    local = BinanceEndpoint(["btcusdt@trade"], base_url="wss://localhost:1234", combined=False, streams_in_url=True)
    assert local.url == "wss://localhost:1234/ws/btcusdt@trade"


def _ws_options(ep: BinanceEndpoint) -> dict[str, Any]:
    opts: Any = getattr(ep, "ws_options", None)
    if opts is None:
        opts = getattr(ep, "ws", None)
    return dict(opts) if isinstance(opts, dict) else dataclasses.asdict(opts)


@pytest.mark.xfail("idle_timeout" not in ws_option_names(), strict=False,
                   reason="WsOptions(ping_interval, idle_timeout) arrive with the ws branch (board item 2)")
def test_binance_liveness_rules_no_client_pings_and_a_silent_minute_is_dead() -> None:
    opts = _ws_options(BinanceEndpoint(["btcusdt@trade"], base_url=REPLAY_URL))
    assert opts["ping_interval"] is None and opts["idle_timeout"] == BINANCE_IDLE_TIMEOUT == 60.0
    mine = _ws_options(BinanceEndpoint(["btcusdt@trade"], base_url=REPLAY_URL, idle_timeout=5.0))
    assert mine["idle_timeout"] == 5.0  # the caller's choice wins
