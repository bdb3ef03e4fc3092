"""The per-batch decimal-string check (endpoints.binance_checks) and the endpoint loop around it.

Both implementations (the C ``first_bad`` when it is built, the pure-Python reference) are run
against :func:`is_decimal` (the definition) on random strings and random batches; then the
endpoint's batch loop is fed batches with one bad decimal somewhere (combined and raw
connections, one record kind or several, batches longer than a chunk) and must deliver exactly
the records before it, in order, then raise VenueMessageError.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import VenueMessageError
from endpoints import binance_checks
from endpoints.binance import AggTrade, BookTicker, DepthUpdate, StreamDecoder, Trade, is_decimal
from endpoints.binance import PartialDepth, levels_ok
from endpoints.binance_checks import DECIMAL_FIELDS, LEVEL_FIELDS, first_bad_python

from .helpers import Collector
from .test_codec import AGG_TRADE, BOOK_TICKER, DEPTH, TRADE
from .test_endpoint_decoding import Batch, connected, wrap

_c_first_bad: Any
try:
    from endpoints._binance_speedups import first_bad as _c_first_bad
except ImportError:  # pragma: no cover - depends on the build
    _c_first_bad = None


def c_first_bad(records: Any) -> int:
    assert _c_first_bad is not None
    return int(_c_first_bad(DECIMAL_FIELDS, LEVEL_FIELDS, records))


IMPLS = [pytest.param(first_bad_python, id="python"),
         pytest.param(c_first_bad, id="c", marks=pytest.mark.skipif(_c_first_bad is None, reason="C check not built"))]

EDGE = ["0", "0.001", "100", "5.", ".5", "25.35190000", "", ".", "..", "1..2", "1.2.3", "1e5", "-1", "+1", " 1",
        "1 ", "1,5", ",", "\u0661", "1\u0661", "\u00b2", "NaN", "1.0\n", "0x1", "1_0", "\x00", "9" * 300, "." + "9" * 80]
strings = st.sampled_from(EDGE) | st.text("0123456789.,e- ", max_size=12) | st.text(max_size=6)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def trade(price: str = "1.5", qty: str = "2") -> Trade:
    return Trade("BNBBTC", 1, 2, price, qty, 3, True)


def agg(price: str = "1.5", qty: str = "2") -> AggTrade:
    return AggTrade("BNBBTC", 1, 2, price, qty, 4, 5, 3, False)


def ticker(*values: str) -> BookTicker:
    b, bq, a, aq = (values + ("1", "2", "3", "4"))[:4]
    return BookTicker("BNBUSDT", 7, b, bq, a, aq)


def level_pairs_ok(side: Any) -> bool:
    """The definition, spelled out: a list of 2-tuples of decimal strings."""
    return type(side) is list and all(type(lv) is tuple and len(lv) == 2 and all(type(v) is str and is_decimal(v) for v in lv)
                                      for lv in side)


def expected_first_bad(records: list[Any]) -> int:
    for i, r in enumerate(records):
        names = DECIMAL_FIELDS.get(type(r), ())
        if not all(is_decimal(getattr(r, n)) for n in names):
            return i
        if not all(level_pairs_ok(getattr(r, n)) for n in LEVEL_FIELDS.get(type(r), ())):
            return i
    return -1


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("text", EDGE)
def test_each_field_is_checked_exactly_as_is_decimal(impl: Any, text: str) -> None:
    want = 0 if not is_decimal(text) else -1
    for record in (trade(text), trade(qty=text), agg(text), agg(qty=text), *(ticker(*(["1"] * i + [text])) for i in range(4))):
        assert impl([record]) == want, (record, text)


@pytest.mark.parametrize("impl", IMPLS)
@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["trade", "agg", "ticker", "depth", "other"]), strings, st.integers(0, 3)),
                max_size=80))
def test_random_batches_report_the_first_bad_record(impl: Any, spec: list[tuple[str, str, int]]) -> None:
    records: list[Any] = []
    for kind, text, field in spec:
        if kind == "trade":
            records.append(trade(text) if field % 2 else trade(qty=text))
        elif kind == "agg":
            records.append(agg(text) if field % 2 else agg(qty=text))
        elif kind == "ticker":
            records.append(ticker(*(["1"] * field + [text])))
        elif kind == "depth":
            levels = [("1.5", "2")] * field + [(text, "1") if field % 2 else ("1", text)]
            records.append(DepthUpdate("X", 1, 1, 2, levels, []) if field < 2 else PartialDepth(1, [], levels))
        else:
            records.append({"p": text})
    assert impl(records) == expected_first_bad(records)
    assert impl(tuple(records)) == expected_first_bad(records)


LEVEL_SHAPES: list[Any] = [[], [("1", "2")], [("1", "2"), ("3", "4")], [("1",)], [("1", "2", "3")], [["1", "2"]],
                           [("1", 2)], [(1, "2")], [None], "12", (("1", "2"),), [("1", "2"), ("1.2.3", "4")], [("", "1")]]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("side", LEVEL_SHAPES)
def test_book_levels_are_lists_of_decimal_string_pairs(impl: Any, side: Any) -> None:
    want = -1 if level_pairs_ok(side) else 0
    assert levels_ok(side) == (want == -1)
    for record in (DepthUpdate("X", 1, 1, 2, side, []), DepthUpdate("X", 1, 1, 2, [], side), PartialDepth(1, side, [])):
        assert impl([record]) == want, (record, side)


def test_the_c_check_is_used_when_built() -> None:
    if os.environ.get("BOOMNET_PURE_PYTHON", "") not in ("", "0"):
        assert not binance_checks.SPEEDUPS and binance_checks.first_bad is first_bad_python
    else:
        assert (_c_first_bad is not None) == binance_checks.SPEEDUPS


# --- the endpoint loop ---------------------------------------------------------------------------

BAD_TRADE = TRADE.replace(b'"p":"0.001"', b'"p":"0.0.1"')
BAD_AGG = AGG_TRADE.replace(b'"q":"100"', b'"q":"1e2"')
BAD_TICKER = BOOK_TICKER.replace(b'"A":"40.66000000"', b'"A":"-40.66"')


def decimal_batch(n_good: int, bad: bytes, stream: str, combined: bool, mixed: bool) -> Batch:
    """``n_good`` good messages (one kind, or several), the ``bad`` one, then more good ones."""
    good = [("bnbbtc@trade", TRADE), ("bnbusdt@bookTicker", BOOK_TICKER), ("bnbbtc@aggTrade", AGG_TRADE),
            ("bnbbtc@depth", DEPTH)] if mixed else [(stream, {"bnbbtc@trade": TRADE, "bnbbtc@aggTrade": AGG_TRADE,
                                                               "bnbusdt@bookTicker": BOOK_TICKER}[stream])]
    msgs = [good[i % len(good)] for i in range(n_good)] + [(stream, bad)] + good
    return Batch([wrap(s, p) if combined else p for s, p in msgs])


@pytest.mark.parametrize("n_good", [0, 1, 63, 64, 150])
# Raw (not combined) connections carrying book tickers or partial books decode on the reference
# path only, so those combinations are not generated.
@pytest.mark.parametrize("combined,mixed,stream,bad", [
    (combined, mixed, stream, bad)
    for combined in (True, False)
    for mixed in (False, True, "envelopes")
    for stream, bad in (("bnbbtc@trade", BAD_TRADE), ("bnbbtc@aggTrade", BAD_AGG), ("bnbusdt@bookTicker", BAD_TICKER))
    if combined or ("bookTicker" not in stream and mixed != "envelopes")
])
def test_a_bad_decimal_is_a_venue_message_error_after_every_good_record(
        n_good: int, combined: bool, mixed: bool | str, stream: str, bad: bytes) -> None:
    streams = ["bnbbtc@trade", "bnbbtc@aggTrade", "bnbbtc@depth"] + (["bnbusdt@bookTicker"] if combined else [])
    if mixed == "envelopes":  # a partial-book stream: the loop keeps the envelopes (their stream names)
        streams.append("bnbbtc@depth5")
    ep = connected(Collector(streams if mixed else [stream], combined=combined))
    batch = decimal_batch(n_good, bad, stream, combined, bool(mixed))
    with pytest.raises(VenueMessageError, match="decimal"):
        ep.poll(batch, None)
    got = ep.connections[0]
    assert len(got) == n_good  # exactly the records before the bad one, each once
    assert all(is_decimal(r.price) for r in got if isinstance(r, (Trade, AggTrade)))


@pytest.mark.parametrize("combined", [True, False])
def test_a_long_batch_of_good_records_arrives_whole_and_in_order(combined: bool) -> None:
    ep = connected(Collector(["bnbbtc@trade"], combined=combined))
    payloads = [TRADE.replace(b'"t":12345', b'"t":%d' % i) for i in range(300)]
    ep.poll(Batch([wrap("bnbbtc@trade", p) if combined else p for p in payloads]), None)
    assert [r.trade_id for r in ep.connections[0]] == list(range(300))


def test_stream_decoder_checks_decimals_too() -> None:
    for decoder in (StreamDecoder(["bnbbtc@trade", "bnbusdt@bookTicker"]), StreamDecoder(["bnbbtc@trade"], combined=False)):
        payload = wrap("bnbbtc@trade", BAD_TRADE) if decoder.combined else BAD_TRADE
        with pytest.raises(VenueMessageError, match="decimal"):
            decoder.decode(payload)
        good = wrap("bnbbtc@trade", TRADE) if decoder.combined else TRADE
        assert decoder.decode(good).price == "0.001"  # type: ignore[union-attr]
    with pytest.raises(VenueMessageError, match="decimal"):
        StreamDecoder(["bnbusdt@bookTicker"]).decode(wrap("bnbusdt@bookTicker", BAD_TICKER))


def test_records_keep_the_exact_strings_through_the_batch_loop() -> None:
    ep = connected(Collector(["bnbbtc@trade"]))
    msg = json.loads(TRADE)
    msg["p"], msg["q"] = "25.35190000", "0.00100000"
    ep.poll(Batch([wrap("bnbbtc@trade", json.dumps(msg).encode())]), None)
    (t,) = ep.connections[0]
    assert (t.price, t.quantity) == ("25.35190000", "0.00100000")
    assert str(t.price_decimal) == "25.35190000"


class ByKind(Collector):
    """Distinct handlers per record kind (the loop's per-type dispatch, not its single handler)."""

    def on_trade(self, trade: Any, ctx: Any) -> None:
        self.connections[-1].append(("trade", trade))

    def on_book_ticker(self, ticker: Any, ctx: Any) -> None:
        self.connections[-1].append(("ticker", ticker))


@pytest.mark.parametrize("extra", [[], ["bnbbtc@depth5"]])
def test_each_kind_reaches_its_own_handler_in_order(extra: list[str]) -> None:
    ep = connected(ByKind(["bnbbtc@trade", "bnbusdt@bookTicker", *extra]))
    assert ep._single is None
    msgs: list[Any] = [wrap("bnbbtc@trade", TRADE) if i % 3 else wrap("bnbusdt@bookTicker", BOOK_TICKER) for i in range(200)]
    ep.poll(Batch(msgs), None)
    assert [k for k, _ in ep.connections[0]] == ["ticker" if i % 3 == 0 else "trade" for i in range(200)]
    assert all(type(r) is (BookTicker if k == "ticker" else Trade) for k, r in ep.connections[0])


BAD_DEPTH = DEPTH.replace(b'["0.0026","100"]', b'["0.0026","1e2"]')


@pytest.mark.parametrize("combined", [True, False])
@pytest.mark.parametrize("n_good", [0, 70])
def test_a_bad_book_level_is_a_venue_message_error_after_every_good_record(combined: bool, n_good: int) -> None:
    ep = connected(Collector(["bnbbtc@depth", "bnbbtc@trade"], combined=combined))
    msgs = [("bnbbtc@trade", TRADE) if i % 2 else ("bnbbtc@depth", DEPTH) for i in range(n_good)]
    msgs += [("bnbbtc@depth", BAD_DEPTH), ("bnbbtc@depth", DEPTH)]
    with pytest.raises(VenueMessageError, match="level"):
        ep.poll(Batch([wrap(s, p) if combined else p for s, p in msgs]), None)
    assert len(ep.connections[0]) == n_good


@pytest.mark.parametrize("body,accepted", [
    (b'{"lastUpdateId":5,"bids":[["1.5","2"]],"asks":[["1.6","3"]]}', True),
    (b'{"lastUpdateId":5,"bids":[["1.5","2"]],"asks":[["1.6","-3"]]}', False),
    (b'{"lastUpdateId":5,"bids":[["1.5.0","2"]],"asks":[]}', False),
])
def test_a_rest_snapshot_with_a_bad_level_is_refused(body: bytes, accepted: bool) -> None:
    """A real HTTP server (stdlib http.server, its own thread) serves the snapshot to DepthSnapshots."""
    import http.server
    import threading

    from boomnet.service import EpollSelector, IOService
    from endpoints.binance_book import DepthSnapshots

    from .helpers import run_until

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    got: list[Any] = []
    try:
        with IOService[Any](EpollSelector()) as io:
            rest = DepthSnapshots(f"http://127.0.0.1:{server.server_address[1]}")
            io.register(rest)
            rest.fetch("BNBBTC", 10, got.append, got.append)
            run_until(io, lambda: bool(got))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    if accepted:
        assert got == [PartialDepth(5, [("1.5", "2")], [("1.6", "3")])]
    else:
        assert type(got[0]) is VenueMessageError and "decimal" in str(got[0])
