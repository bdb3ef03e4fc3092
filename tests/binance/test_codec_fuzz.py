"""Malformed Binance messages: only ``VenueMessageError`` or a *correct* record, never anything else.

The oracle (:func:`expected`) is written here from the Binance payload docs with the stdlib
``json`` module, independently of both decoders under test: the reference decoder
(``endpoints.binance.decode``, orjson) and the per-connection msgspec ``StreamDecoder``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boomnet.errors import VenueMessageError
from endpoints.binance import (
    AggTrade,
    BookTicker,
    CommandError,
    CommandResult,
    DepthUpdate,
    PartialDepth,
    StreamDecoder,
    Trade,
    UnknownEvent,
    decode,
)

DECIMAL = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")  # the oracle's own grammar (ASCII only)
STREAMS = ["bnbbtc@trade", "bnbbtc@aggTrade", "bnbusdt@bookTicker", "bnbbtc@depth@100ms", "bnbbtc@depth5",
           "bnbbtc@kline_1m"]
SAMPLES = {
    "trade": {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100",
              "T": 1672515782136, "m": True, "M": True},
    "aggTrade": {"e": "aggTrade", "E": 1672515782136, "s": "BNBBTC", "a": 12345, "p": "0.001", "q": "100",
                 "f": 100, "l": 105, "T": 1672515782136, "m": True, "M": True},
    "bookTicker": {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000",
                   "A": "40.66000000"},
    "depth": {"e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
              "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]},
    "partial": {"lastUpdateId": 160, "bids": [["0.0024", "10"]], "asks": [["0.0026", "100"]]},
}
STREAM_OF = {"trade": "bnbbtc@trade", "aggTrade": "bnbbtc@aggTrade", "bookTicker": "bnbusdt@bookTicker",
             "depth": "bnbbtc@depth@100ms", "partial": "bnbbtc@depth5"}

# --- the oracle ----------------------------------------------------------------------------------


NO_E = object()


class Bad(Exception):
    pass


def _int(m: dict, k: str) -> int:
    v = m.get(k)
    if type(v) is not int:
        raise Bad(k)
    return v


def _dec(m: dict, k: str) -> str:
    v = m.get(k)
    if type(v) is not str or not DECIMAL.fullmatch(v):
        raise Bad(k)
    return v


def _levels(m: dict, k: str) -> list:
    v = m.get(k)
    if type(v) is not list:
        raise Bad(k)
    for lv in v:
        if type(lv) is not list or len(lv) != 2 or not all(type(x) is str and DECIMAL.fullmatch(x) for x in lv):
            raise Bad(k)
    return [tuple(lv) for lv in v]


def _of_kind(kind: str, m: dict, stream: str | None) -> Any:
    # the stream name (or "e" itself) chose the kind: a missing "e" is fine, another one is not
    if kind in ("trade", "aggTrade", "depth") and m.get("e", NO_E) not in (NO_E, {"depth": "depthUpdate"}.get(kind, kind)):
        raise Bad("e")
    if kind != "partial" and type(m.get("s")) is not str:
        raise Bad("s")
    if kind in ("trade", "aggTrade") and type(m.get("m")) is not bool:
        raise Bad("m")
    if kind == "trade":
        return Trade(m["s"], _int(m, "E"), _int(m, "t"), _dec(m, "p"), _dec(m, "q"), _int(m, "T"), m["m"])
    if kind == "aggTrade":
        return AggTrade(m["s"], _int(m, "E"), _int(m, "a"), _dec(m, "p"), _dec(m, "q"), _int(m, "f"), _int(m, "l"),
                        _int(m, "T"), m["m"])
    if kind == "bookTicker":
        return BookTicker(m["s"], _int(m, "u"), _dec(m, "b"), _dec(m, "B"), _dec(m, "a"), _dec(m, "A"))
    if kind == "depth":
        return DepthUpdate(m["s"], _int(m, "E"), _int(m, "U"), _int(m, "u"), _levels(m, "b"), _levels(m, "a"))
    sym = stream.partition("@")[0].upper() if stream else ""
    return PartialDepth(_int(m, "lastUpdateId"), _levels(m, "bids"), _levels(m, "asks"), sym)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def expected(text: str, unwrap: bool = True) -> Any:
    """The record a message must decode to, or ``Bad``: Binance's documented shapes, checked here."""
    try:
        m = json.loads(text, parse_constant=_not_json)  # NaN / Infinity are not JSON (RFC 8259)
    except ValueError:
        raise Bad("json") from None
    if type(m) is not dict:
        raise Bad("object")
    stream = None
    if unwrap and "stream" in m:
        stream, m = m["stream"], m.get("data")
        if type(stream) is not str or type(m) is not dict:
            raise Bad("wrapper")
        kind = next((k for k, s in STREAM_OF.items() if stream.endswith(s.partition("@")[2])), None)
        if stream.endswith("@depth5"):
            kind = "partial"
        if kind is not None:
            return _of_kind(kind, m, stream)
    if "e" in m:
        e = m["e"]
        if type(e) is not str:
            raise Bad("e")
        kinds = {"trade": "trade", "aggTrade": "aggTrade", "depthUpdate": "depth", "bookTicker": "bookTicker"}
        return _of_kind(kinds[e], m, stream) if e in kinds else UnknownEvent(e, stream, m)
    if "u" in m and "A" in m:
        return _of_kind("bookTicker", m, stream)
    if "lastUpdateId" in m:
        return _of_kind("partial", m, stream)
    if "code" in m:
        if type(m.get("id")) not in (int, type(None)) or type(m["code"]) is not int or type(m.get("msg", "")) is not str:
            raise Bad("error reply")
        return CommandError(m.get("id"), m["code"], m.get("msg", ""))
    if "id" in m and "result" in m:
        r = m["result"]
        if type(m["id"]) not in (int, type(None)) or not (r is None or (type(r) is list and all(type(x) is str for x in r))):
            raise Bad("reply")
        return CommandResult(m["id"], r)
    raise Bad("shape")


def check(payload: bytes, decoder: StreamDecoder | None = None) -> None:
    """The property: VenueMessageError exactly when the oracle says Bad, else the oracle's record."""
    try:
        want: Any = expected(payload.decode("utf-8"), decoder is None or decoder.combined)
    except (Bad, UnicodeDecodeError, RecursionError):
        want = Bad
    try:
        got: Any = decoder.decode(memoryview(payload)) if decoder is not None else decode(payload)
    except VenueMessageError:
        got = Bad
    if want is Bad or got is Bad:
        # JSON edge cases (duplicate keys, huge ints) may be read differently by the oracle and
        # the decoders; the guarantee is only about what escapes: a record or VenueMessageError.
        if want is not got:  # one refused what the other accepted: only JSON's own ambiguities may
            assert _ambiguous(payload), (payload, want, got)
        return
    assert got == want and type(got) is type(want), (payload, got, want)


def _ambiguous(payload: bytes) -> bool:
    """Messages whose meaning JSON itself leaves open: a repeated key, an int beyond 64 bits."""
    pairs: list[list[Any]] = []
    try:
        json.loads(payload, object_pairs_hook=lambda p: pairs.append(p) or dict(p), parse_constant=_not_json)
    except ValueError:
        return False
    big = any(type(v) is int and not -(2**63) <= v < 2**64 for p in pairs for _, v in p)
    return big or any(len({k for k, _ in p}) != len(p) for p in pairs)


# --- strategies ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["0.001", "1.", ".5", "1e5", "-1", "\u0661", " 1", "1.2.3", "", "."]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
RETYPES = [True, False, 0, 1, -1, 1.5, 1e300, "1", "x", None, [], {}, ["1", "2"], [["1", "2"]]]
keys = st.sampled_from(["e", "E", "s", "t", "p", "q", "T", "m", "a", "f", "l", "u", "U", "b", "B", "A",
                        "lastUpdateId", "bids", "asks", "id", "result", "code", "msg", "stream", "data"])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message (raw or wrapped) with one to three fields replaced, removed or added."""
    kind = draw(st.sampled_from(sorted(SAMPLES)))
    msg = json.loads(json.dumps(SAMPLES[kind]))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "retype", "delete", "add", "level"]))
        key = draw(keys)
        if action == "retype" and msg:  # the same field, another JSON type
            msg[draw(st.sampled_from(sorted(msg)))] = draw(st.sampled_from(RETYPES))
        elif action == "replace" and msg:
            msg[draw(st.sampled_from(sorted(msg)))] = draw(json_values)
        elif action == "delete" and msg:
            del msg[draw(st.sampled_from(sorted(msg)))]
        elif action == "level":
            side = "b" if kind == "depth" else "bids"
            if side in msg and type(msg[side]) is list:
                msg[side].append(draw(st.lists(json_values, max_size=3)))
        else:
            msg[key] = draw(json_values)
    if draw(st.booleans()):
        stream: Any = draw(st.sampled_from([STREAM_OF[kind], *STREAMS]) | json_values)
        return json.dumps({"stream": stream, "data": msg}).encode()
    return json.dumps(msg).encode()


decimals = st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,10})?\Z")


@st.composite
def valid_trades(draw: st.DrawFn) -> tuple[bytes, Trade]:
    t = Trade(draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)),
              draw(st.integers(0, 2**62)), draw(st.integers(0, 2**62)), draw(decimals), draw(decimals),
              draw(st.integers(0, 2**62)), draw(st.booleans()))
    payload = {"e": "trade", "E": t.event_time, "s": t.symbol, "t": t.trade_id, "p": t.price, "q": t.quantity,
               "T": t.trade_time, "m": t.buyer_is_maker, "M": True}
    return json.dumps({"stream": f"{t.symbol.lower()}@trade", "data": payload}).encode(), t


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COMBINED = StreamDecoder(STREAMS, combined=True)
RAW_TAGGED = StreamDecoder(["bnbbtc@trade", "bnbbtc@aggTrade", "bnbbtc@depth"], combined=False)


@FUZZ
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_input_is_a_record_or_a_venue_message_error(payload: bytes) -> None:
    for decoder in (None, COMBINED, RAW_TAGGED):
        check(payload, decoder)


@FUZZ
@given(mutated())
def test_mutated_messages_decode_to_the_oracle_or_fail_cleanly(payload: bytes) -> None:
    for decoder in (None, COMBINED, RAW_TAGGED):
        check(payload, decoder)


@FUZZ
@given(valid_trades())
def test_valid_trades_round_trip_the_exact_strings(case: tuple[bytes, Trade]) -> None:
    payload, trade = case
    decoder = StreamDecoder([f"{trade.symbol.lower()}@trade"])
    for got in (decode(payload), decoder.decode(memoryview(payload))):
        assert got == trade and got.price == trade.price and got.quantity == trade.quantity


@pytest.mark.parametrize(
    "payload",
    [b'{"e":[]}', b'{"e":{}}', b'{"e":1}', b'{"stream":7,"data":{}}', b'{"stream":"x@trade","data":[]}',
     b'{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"X","t":"1","p":"1","q":"1","T":1,"m":true}}',
     b'{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","T":1,"m":1}}',
     b'{"stream":"bnbbtc@trade","data":{"e":"trade","E":1.0,"s":"X","t":1,"p":"1","q":"1","T":1,"m":true}}',
     b'{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"1e3","q":"1","T":1,"m":true}}',
     b'{"stream":"bnbbtc@trade","data":{"e":"aggTrade","E":1,"s":"X","t":1,"p":"1","q":"1","T":1,"m":true}}',
     b'{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"X","b":"1","B":"1","a":"abc","A":"1"}}',
     b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2","3"]],"a":[]}}',
     b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2,3"]],"a":[]}}',
     b'{"result":7,"id":1}', b'{"code":"2","msg":"x","id":1}', b'{"result":null,"id":"1"}', b"\xff\xfe", b""],
)
def test_shapes_from_the_issue_are_venue_message_errors(payload: bytes) -> None:
    for decoder in (None, COMBINED, RAW_TAGGED):
        with pytest.raises(VenueMessageError):
            decoder.decode(payload) if decoder is not None else decode(payload)
