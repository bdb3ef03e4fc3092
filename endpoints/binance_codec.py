"""Binance spot market-stream messages: the reference decoder and request encoding (sans-I/O).

:func:`decode` takes any one text message (bytes, memoryview or str) and returns a typed record
(:mod:`endpoints.binance_records`) or raises :class:`~boomnet.errors.VenueMessageError`
(a ``ProtocolError``): a message that is not JSON, not an object, lacks a field, or has a field of
the wrong type (a trade id that is not an int, a flag that is not a bool, a price that is not a
decimal string, ``"e": []``, ``"stream": 7``, ...). Nothing else ever escapes it.

This is the *reference* path: ``orjson`` plus explicit checks, any message shape, ~1-2 µs a
message. Connections decode with :class:`endpoints.binance_decoder.StreamDecoder` (msgspec, C
speed), which falls back here for whatever its typed schema does not cover (replies, unknown
streams) and must agree with it (the tests fuzz one against the other).

Dispatch: combined wrappers ``{"stream":..,"data":..}`` are unwrapped first; when the stream
name says what the payload is (``btcusdt@trade``), the payload must be that; otherwise the event
type ``"e"`` decides, then the shape (``bookTicker`` and partial books carry no ``"e"``; command
replies carry ``"id"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from boomnet.errors import VenueMessageError

from .binance_records import (
    AggTrade,
    BookTicker,
    CommandError,
    CommandResult,
    DepthUpdate,
    Level,
    PartialDepth,
    Record,
    Trade,
    UnknownEvent,
    is_decimal,
)

__all__ = ["decode", "levels_decimal", "encode_request", "symbol_of", "stream_kind", "TYPED_KINDS"]

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError

#: stream kind -> record class (partial books: ``depth5``/``depth10``/``depth20`` map to "partial")
TYPED_KINDS: dict[str, type] = {
    "trade": Trade,
    "aggTrade": AggTrade,
    "bookTicker": BookTicker,
    "depth": DepthUpdate,
    "partial": PartialDepth,
}


def symbol_of(stream: str | None) -> str:
    """``"btcusdt@depth5@100ms"`` -> ``"BTCUSDT"``; ``""`` if unknown."""
    return stream.partition("@")[0].upper() if stream else ""


def stream_kind(stream: str | None) -> str | None:
    """The record kind a stream carries (a :data:`TYPED_KINDS` key), or ``None`` (kline, ...)."""
    if not stream:
        return None
    _, _, kind = stream.partition("@")
    kind = kind.removesuffix("@100ms").removesuffix("@1000ms")
    if kind in ("depth5", "depth10", "depth20"):
        return "partial"
    return kind if kind in TYPED_KINDS else None


# --- field checks (each raises VenueMessageError naming the field) ------------------------------


def _fail(what: str, msg: Any) -> VenueMessageError:
    return VenueMessageError(f"Binance message {what}: {_preview(msg)}")


def _int(m: dict[str, Any], key: str) -> int:
    v = m.get(key, _MISSING)
    if type(v) is not int:
        raise _fail(f"field {key!r} is {_kind(v)}, expected an int", m)
    return v


def _str(m: dict[str, Any], key: str) -> str:
    v = m.get(key, _MISSING)
    if type(v) is not str:
        raise _fail(f"field {key!r} is {_kind(v)}, expected a string", m)
    return v


def _dec(m: dict[str, Any], key: str) -> str:
    v = m.get(key, _MISSING)
    if type(v) is not str or not is_decimal(v):
        raise _fail(f"field {key!r} is {_kind(v)}, expected a decimal string", m)
    return v


def _bool(m: dict[str, Any], key: str) -> bool:
    v = m.get(key, _MISSING)
    if type(v) is not bool:
        raise _fail(f"field {key!r} is {_kind(v)}, expected a bool", m)
    return v


def _levels(m: dict[str, Any], key: str) -> list[Level]:
    v = m.get(key, _MISSING)
    if type(v) is not list:
        raise _fail(f"field {key!r} is {_kind(v)}, expected a list of [price, qty]", m)
    out = []
    for level in v:
        if (type(level) is not list or len(level) != 2 or type(level[0]) is not str or type(level[1]) is not str
                or not is_decimal(level[0]) or not is_decimal(level[1])):
            raise _fail(f"field {key!r} has a level {level!r} that is not [price, qty] decimal strings", m)
        out.append((level[0], level[1]))
    return out


def _tag(m: dict[str, Any], expected: str) -> None:
    # A missing "e" is accepted (as msgspec does for a tagged Struct outside a union): only the
    # stream name can have brought us here without one. A different "e" is refused.
    if m.get("e", expected) != expected:
        raise _fail(f"for a {expected} stream has event type {m.get('e')!r}", m)


class _Missing:
    pass


_MISSING = _Missing()


def _kind(v: Any) -> str:
    return "missing" if v is _MISSING else type(v).__name__


# --- builders -----------------------------------------------------------------------------------


def _trade(m: dict[str, Any], stream: str | None) -> Trade:
    _tag(m, "trade")
    return Trade(_str(m, "s"), _int(m, "E"), _int(m, "t"), _dec(m, "p"), _dec(m, "q"), _int(m, "T"), _bool(m, "m"))


def _agg_trade(m: dict[str, Any], stream: str | None) -> AggTrade:
    _tag(m, "aggTrade")
    return AggTrade(_str(m, "s"), _int(m, "E"), _int(m, "a"), _dec(m, "p"), _dec(m, "q"), _int(m, "f"),
                    _int(m, "l"), _int(m, "T"), _bool(m, "m"))


def _book_ticker(m: dict[str, Any], stream: str | None) -> BookTicker:
    return BookTicker(_str(m, "s"), _int(m, "u"), _dec(m, "b"), _dec(m, "B"), _dec(m, "a"), _dec(m, "A"))


def _depth_update(m: dict[str, Any], stream: str | None) -> DepthUpdate:
    _tag(m, "depthUpdate")
    return DepthUpdate(_str(m, "s"), _int(m, "E"), _int(m, "U"), _int(m, "u"), _levels(m, "b"), _levels(m, "a"))


def _partial_depth(m: dict[str, Any], stream: str | None) -> PartialDepth:
    return PartialDepth(_int(m, "lastUpdateId"), _levels(m, "bids"), _levels(m, "asks"), symbol_of(stream))


_BUILD: dict[str, Callable[[dict[str, Any], str | None], Record]] = {
    "trade": _trade,
    "aggTrade": _agg_trade,
    "bookTicker": _book_ticker,
    "depth": _depth_update,
    "partial": _partial_depth,
}
_BY_EVENT: dict[str, Callable[[dict[str, Any], str | None], Record]] = {"trade": _trade, "aggTrade": _agg_trade, "depthUpdate": _depth_update, "bookTicker": _book_ticker}


def decode(payload: bytes | bytearray | memoryview | str, stream: str | None = None, *, unwrap: bool = True) -> Record:
    """Decode one Binance market-stream text message into a record.

    ``stream`` names the stream of a raw (unwrapped) connection carrying a single stream; it only
    matters for partial books, whose payload names no symbol. ``unwrap=False`` (raw ``/ws``
    connections, which carry no wrappers): a ``"stream"`` key is an ordinary field. Raises
    :class:`~boomnet.errors.VenueMessageError` for anything that is not a well-formed Binance
    message, and nothing else.
    """
    try:
        msg = _loads(payload)
    except _JSONDecodeError as exc:
        raise VenueMessageError(f"Binance message is not JSON: {exc}") from None
    except TypeError as exc:  # e.g. a non-contiguous buffer
        raise VenueMessageError(f"Binance message is not text: {exc}") from None
    if type(msg) is not dict:
        raise VenueMessageError(f"Binance message is not a JSON object: {type(msg).__name__}")
    if unwrap and "stream" in msg:  # combined-stream wrapper
        stream = msg["stream"]
        if type(stream) is not str:
            raise _fail(f"has a 'stream' that is {type(stream).__name__}, expected a string", msg)
        data = msg.get("data")
        if type(data) is not dict:
            raise _fail(f"for {stream!r} has no object 'data'", msg)
        kind = stream_kind(stream)
        if kind is not None:  # the stream name says what the payload must be
            return _BUILD[kind](data, stream)
        msg = data
    return _by_shape(msg, stream)


def _by_shape(msg: dict[str, Any], stream: str | None) -> Record:
    if "e" in msg:
        kind = msg["e"]
        if type(kind) is not str:
            raise _fail(f"has an event type 'e' that is {type(kind).__name__}, expected a string", msg)
        build = _BY_EVENT.get(kind)
        return build(msg, stream) if build is not None else UnknownEvent(kind, stream, msg)
    if "u" in msg and "A" in msg:
        return _book_ticker(msg, stream)
    if "lastUpdateId" in msg:
        return _partial_depth(msg, stream)
    if "code" in msg:
        return CommandError(_id(msg), _int(msg, "code"), _str(msg, "msg") if "msg" in msg else "")
    if "id" in msg and "result" in msg:
        result = msg["result"]
        if result is not None and type(result) is not bool and (
                type(result) is not list or any(type(s) is not str for s in result)):
            raise _fail("has a 'result' that is neither null, a bool, nor a list of stream names", msg)
        return CommandResult(_id(msg), result)
    raise _fail("is not recognised", msg)


def _id(msg: dict[str, Any]) -> int | None:
    v = msg.get("id")
    if v is not None and type(v) is not int:
        raise _fail(f"has an 'id' that is {type(v).__name__}, expected an int or null", msg)
    return v


def _preview(msg: Any) -> str:
    try:
        text = orjson.dumps(msg).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(msg)
    return text if len(text) <= 120 else text[:117] + "..."


def levels_decimal(levels: Sequence[Sequence[str]]) -> list[tuple[Decimal, Decimal]]:
    """Book levels ``[(price, qty), ...]`` as exact ``(Decimal, Decimal)`` pairs."""
    out = []
    for level in levels:
        if len(level) != 2 or not all(type(v) is str and is_decimal(v) for v in level):
            raise VenueMessageError(f"malformed book level {level!r}")
        try:
            out.append((Decimal(level[0]), Decimal(level[1])))
        except InvalidOperation as exc:  # unreachable after is_decimal; kept as the last guard
            raise VenueMessageError(f"malformed book level {level!r}: {exc}") from None
    return out


def encode_request(method: str, request_id: int, params: Sequence[str] | None = None) -> bytes:
    """A SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request as the text Binance expects."""
    if params is None:
        return orjson.dumps({"method": method, "id": request_id})
    return orjson.dumps({"method": method, "params": list(params), "id": request_id})
