"""Per-connection Binance decoding at C speed: ``msgspec`` straight into typed records.

A :class:`StreamDecoder` knows the streams its connection carries and builds, once per change
of that set (cold path), one ``msgspec.json.Decoder`` with ``strict=True``:

- combined connections (``/stream``): a tagged union of *envelopes*, one small Struct per
  stream name with ``tag_field="stream"`` and ``tag=<stream name>`` whose ``data`` field is that
  stream's record class. One C pass unwraps ``{"stream":..,"data":..}``, picks the record type
  from the stream name and checks every field (the ``"e"`` tag of trades/aggTrades/depth too).
- raw connections (``/ws``) whose streams are all ``trade`` / ``aggTrade`` / ``depth``: the
  union of those records, tagged on ``"e"``. Raw connections carrying book tickers or partial
  books (untagged shapes msgspec cannot mix in one union) decode on the reference path.

The schema checks every field's JSON type; decimal strings are checked after it, a batch at a
time (:mod:`endpoints.binance_checks`). Whatever the schema or that check refuses — command
replies, streams not (or no longer) subscribed, malformed messages — goes to the reference decoder :func:`endpoints.binance_codec.decode`, which returns
the right record or raises :class:`~boomnet.errors.VenueMessageError`. So the fast path can only
ever *accept less*; the tests fuzz the two against each other. Payloads are decoded from the
frame's memoryview without a copy (msgspec reads any buffer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Union

import msgspec

from .binance_checks import first_bad
from .binance_codec import TYPED_KINDS, _by_shape, decode, stream_kind, symbol_of
from .binance_records import AggTrade, DepthUpdate, PartialDepth, Record, Trade

__all__ = ["StreamDecoder", "Envelope", "DECODE_ERRORS"]

#: what msgspec raises for a message its schema refuses (mapped to the reference path)
DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError)

_RAW_TAGGED = {"trade": Trade, "aggTrade": AggTrade, "depth": DepthUpdate}
_set_symbol = msgspec.structs.force_setattr


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """Base of the per-stream envelope classes (``{"stream": <name>, "data": <record>}``).

    ``kind`` / ``stream`` / ``symbol`` are class attributes of each generated subclass."""

    kind = ""
    stream = ""
    symbol = ""


_ENVELOPES: dict[str, type[Envelope]] = {}  # one class per stream name, shared by connections


def envelope_for(stream: str) -> type[Envelope]:
    """The envelope Struct class for ``stream`` (made once per name)."""
    found = _ENVELOPES.get(stream)
    if found is not None:
        return found
    kind = stream_kind(stream)
    data_type: Any = TYPED_KINDS[kind] if kind is not None else dict[str, Any]
    cls: Any = msgspec.defstruct(
        "Envelope", [("data", data_type)], bases=(Envelope,), tag_field="stream", tag=stream,
        # gc only where the record holds containers (depth levels, an untyped dict): a trade's
        # envelope cannot be part of a cycle, and an untracked one costs no collector work
        frozen=True, gc=kind in (None, "depth", "partial"),
    )
    cls.kind = kind or ""
    cls.stream = stream
    cls.symbol = symbol_of(stream)
    _ENVELOPES[stream] = cls
    return cls  # type: ignore[no-any-return]


class StreamDecoder:
    """Decoder for one connection's messages (see module docstring).

    ``decoder`` is the msgspec decoder or ``None`` (reference path only); with ``combined`` it
    yields :class:`Envelope` instances (``.data`` is the record), else records. The endpoint
    inlines its loop; :meth:`decode` is the same logic for one message.
    """

    def __init__(self, streams: Iterable[str] = (), *, combined: bool = True) -> None:
        self.combined = combined
        self.streams: tuple[str, ...] = ()
        self.decoder: msgspec.json.Decoder[Any] | None = None
        self.envelopes: tuple[type[Envelope], ...] = ()
        self.raw_stream: str | None = None
        #: raw connections: the record classes the schema decodes to
        self.record_types: tuple[type, ...] = ()
        self.update(streams)

    def update(self, streams: Iterable[str]) -> None:
        """The connection's streams changed: rebuild the schema (cold path)."""
        streams = tuple(dict.fromkeys(streams))
        if streams == self.streams and (self.decoder is not None or not streams):
            return
        self.streams = streams
        # Partial books name no symbol: on a raw connection with a single stream, that stream does.
        self.raw_stream = streams[0] if not self.combined and len(streams) == 1 else None
        if self.combined:
            self.envelopes = tuple(envelope_for(s) for s in streams)
            self.decoder = msgspec.json.Decoder(Union[self.envelopes], strict=True) if streams else None
            return
        self.envelopes = ()
        kinds = {stream_kind(s) or "" for s in streams}
        if streams and all(k in _RAW_TAGGED for k in kinds):
            types = tuple(_RAW_TAGGED[k] for k in sorted(kinds))
            self.record_types = types
            self.decoder = msgspec.json.Decoder(Union[types] if len(types) > 1 else types[0], strict=True)
        else:
            self.record_types = ()
            self.decoder = None

    def fallback(self, payload: Any) -> Record:
        """The reference decoder for what the schema refused (raises VenueMessageError)."""
        return decode(payload, self.raw_stream, unwrap=self.combined)

    def decode(self, payload: bytes | bytearray | memoryview | str) -> Record:
        """One message -> its record (or :class:`~boomnet.errors.VenueMessageError`)."""
        decoder = self.decoder
        if decoder is None:
            return self.fallback(payload)
        try:
            out = decoder.decode(payload)
        except DECODE_ERRORS:
            return self.fallback(payload)
        record = unwrap(out) if self.combined else out
        if first_bad((record,)) >= 0:  # a decimal field that is not a decimal: the reference says why
            return self.fallback(payload)
        return record


def unwrap(env: Envelope) -> Record:
    """An envelope's record: partial books get their symbol; untyped streams their UnknownEvent."""
    data: Any = env.data  # type: ignore[attr-defined]
    kind = env.kind
    if kind == "partial":
        _set_symbol(data, "symbol", env.symbol)
        return data  # type: ignore[no-any-return]
    if not kind:
        return _by_shape(data, env.stream)
    return data  # type: ignore[no-any-return]


def envelope_handlers(
    envelopes: Iterable[type[Envelope]], handler_for: Callable[[type], Callable[[Any, Any], Any]]
) -> dict[type, Callable[[Any, Any], Any]]:
    """Dispatch entries ``envelope class -> fn(env.data, ctx)`` for an endpoint's loop.

    Typed kinds map straight to the record's handler (no intermediate call per message); partial
    books get a closure that sets the symbol, untyped streams one that builds the UnknownEvent
    (each envelope class is one stream, so the closure knows it)."""
    out: dict[type, Callable[[Any, Any], Any]] = {}
    for env in envelopes:
        kind = env.kind
        if kind == "partial":
            out[env] = _partial_caller(handler_for(PartialDepth), env.symbol)
        elif kind:
            out[env] = handler_for(TYPED_KINDS[kind])
        else:
            out[env] = _untyped_caller(handler_for, env.stream)
    return out


def _partial_caller(handler: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any], Any]:
    def call(data: Any, ctx: Any) -> Any:
        _set_symbol(data, "symbol", symbol)
        return handler(data, ctx)

    return call


def _untyped_caller(handler_for: Callable[[type], Callable[[Any, Any], Any]], stream: str) -> Callable[[Any, Any], Any]:
    def call(data: Any, ctx: Any) -> Any:
        record = _by_shape(data, stream)
        return handler_for(type(record))(record, ctx)

    return call
