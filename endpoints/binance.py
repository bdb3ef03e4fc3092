"""Binance spot market streams as a boomnet endpoint.

    class Feed(BinanceEndpoint):
        def on_trade(self, trade, ctx): ...            # Trade: exact decimal strings
        def on_book_ticker(self, ticker, ctx): ...

    service.register(Feed(["btcusdt@trade", "btcusdt@bookTicker"]))

One :class:`BinanceEndpoint` is one connection. Its wanted streams live in
:attr:`~BinanceEndpoint.subscriptions` and survive reconnects: every new connection subscribes to
them again (by URL with ``streams_in_url=True``, else by a SUBSCRIBE sent on connect). Requests
carry increasing ids and are paced under Binance's 5 messages/s; replies are matched to them and
error replies reach :meth:`~BinanceEndpoint.on_error_reply`. Server pings are answered by the
WebSocket with an exact copy of their payload. Connections are recycled a little before Binance's
24-hour limit, with jitter, through the service's ``auto_disconnect``. A message that is not valid
Binance JSON is a :class:`~boomnet.errors.ProtocolError`: the service drops the connection and
reconnects.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from boomnet.rpc import Call
from boomnet.service import Disconnect
from boomnet.ws import Opcode, WebsocketEndpoint

from .binance_codec import *  # noqa: F403  (decode and helpers are part of this module's API)
from .binance_codec import __all__ as _codec_all
from .binance_checks import first_bad
from .binance_codec import TYPED_KINDS
from .binance_decoder import DECODE_ERRORS, StreamDecoder, envelope_handlers
from .binance_options import LIVE_DATA_URL, LIVE_URL, REPLAY_URL, check_options, liveness_defaults
from .binance_records import *  # noqa: F403  (the records too)
from .binance_records import (
    AggTrade,
    BookTicker,
    CommandError,
    CommandResult,
    DepthUpdate,
    PartialDepth,
    Trade,
    UnknownEvent,
)
from .binance_records import __all__ as _records_all
from .binance_session import *  # noqa: F403
from .binance_session import Request, Subscriptions
from .binance_session import __all__ as _session_all

__all__ = [
    *_records_all, *_codec_all, *_session_all, "BinanceEndpoint", "LIVE_URL", "LIVE_DATA_URL", "REPLAY_URL",
    "StreamDecoder", "recycle_after", "stream_url",
]

log = logging.getLogger("endpoints.binance")

MAX_CONNECTION_AGE = 24 * 3600.0


def recycle_after(age: float = MAX_CONNECTION_AGE - 600.0, jitter: float = 300.0) -> Callable[[], float]:
    """An ``auto_disconnect`` for Binance: each connection lives ``age - uniform(0, jitter)`` s
    (default 23 h 45 m .. 23 h 50 m), so many connections do not all recycle at once."""
    return lambda: age - random.uniform(0.0, jitter)


def stream_url(base_url: str, streams: Iterable[str] = (), *, combined: bool = True) -> str:
    """``/stream?streams=a/b`` (combined) or ``/ws/a/b`` (raw) under ``base_url``."""
    base = base_url.rstrip("/")
    names = "/".join(streams)
    if combined:
        return f"{base}/stream?streams={names}" if names else f"{base}/stream"
    return f"{base}/ws/{names}" if names else f"{base}/ws"


class BinanceEndpoint(WebsocketEndpoint[Any]):
    """One Binance market-stream connection; override the ``on_*`` hooks you need.

    ``streams``: stream names (``"btcusdt@trade"``, ``"ethusdt@depth@100ms"``, ...).
    ``base_url`` (required): :data:`LIVE_URL` for production, a local exchange's
    ``wss://localhost:PORT`` (with its ``ca_file``), or :data:`REPLAY_URL` for replays.
    ``combined``: use ``/stream`` (events wrapped with their stream name; the fast decoding path)
    rather than ``/ws``. ``streams_in_url``: put the wanted streams in the URL of each connection
    instead of sending SUBSCRIBE once connected. ``record``: record each connection's plaintext (a
    RecordedStream above TLS) as ``<record_directory>/<record>.bnrec`` — reconnections as
    ``<record>-2``, ``-3``, ... — for :meth:`~boomnet.service.Endpoint.replay`. Other keywords go
    to :class:`~boomnet.ws.WebsocketEndpoint` and the WebSocket (``backoff``, ``verify``,
    ``max_message_size``, ...); an unknown one is a ``TypeError`` here. Liveness follows Binance's
    rules (no client pings, a silent minute is a dead link) unless you pass those options.
    """

    def __init__(
        self,
        streams: Iterable[str] = (),
        *,
        base_url: str,
        combined: bool = True,
        streams_in_url: bool = False,
        ca_file: str | None = None,
        auto_disconnect: float | Callable[[], float] | None = None,
        requests_per_second: int = 4,
        record: str | None = None,
        record_directory: str = "recordings",
        **options: Any,
    ):
        check_options(options)
        if not isinstance(base_url, str) or not base_url.startswith(("wss://", "ws://")):
            raise TypeError(f"base_url must be a ws:// or wss:// URL string, not {base_url!r}")
        self.subscriptions = Subscriptions(streams, requests_per_second=requests_per_second)
        self.base_url = base_url
        self.combined = combined
        self.streams_in_url = streams_in_url
        self._url_streams: tuple[str, ...] = ()
        self.record = record
        self.record_directory = record_directory
        self._recordings = 0
        self.decoder = StreamDecoder(combined=combined)
        super().__init__(
            self._next_url(), ca_file=ca_file,
            auto_disconnect=recycle_after() if auto_disconnect is None else auto_disconnect,
            **liveness_defaults(options),
        )
        self._ws: Any = None
        #: server pings seen (each answered by the WebSocket with a copy of its payload)
        self.pings = 0
        #: the last error reply, if any
        self.last_error: CommandError | None = None
        # Requests held back by the pacing go out on this timer even when no data arrives.
        self.every(0.25, self._flush_requests)
        # Bound once: a subclass's overrides are what these pick up.
        self._by_record: dict[type, Callable[[Any, Any], Any]] = {
            Trade: self.on_trade,
            AggTrade: self.on_agg_trade,
            BookTicker: self.on_book_ticker,
            DepthUpdate: self.on_depth,
            PartialDepth: self.on_partial_depth,
            UnknownEvent: self.on_event,
            CommandResult: self._on_command_reply,
            CommandError: self._on_command_reply,
        }
        self._dispatch: dict[type, Callable[[Any, Any], Any]] = {}
        self._unwrap = False
        self._single: Callable[[Any, Any], Any] | None = None
        self._update_decoder()

    # --- user API -----------------------------------------------------------------------------

    def subscribe(self, streams: Iterable[str]) -> None:
        """Add streams (sent now if connected, and on every reconnect)."""
        self.subscriptions.subscribe(streams)
        self._update_decoder()
        self._flush_requests(self._ws, None)

    def unsubscribe(self, streams: Iterable[str]) -> None:
        """Drop streams (an UNSUBSCRIBE goes out now if connected)."""
        self.subscriptions.unsubscribe(streams)
        self._update_decoder()
        self._flush_requests(self._ws, None)

    def list_subscriptions(self) -> None:
        """Ask the server; the answer lands in ``subscriptions.listed`` and :meth:`on_reply`."""
        self.subscriptions.list_subscriptions()
        self._flush_requests(self._ws, None)

    def command(self, method: str, params: Iterable[str] = (), callback: Callable[[Call], object] | None = None) -> None:
        """Send another command of the stream API (``GET_PROPERTY``, ``SET_PROPERTY``), paced
        and correlated like subscriptions; ``callback(call)`` gets ``call.result`` (the reply
        record) or ``call.error`` (an error reply, a timeout, or a disconnect)."""
        self.subscriptions.command(method, params, callback)
        self._flush_requests(self._ws, None)

    def on_request_timeout(self, request: Request, ctx: Any) -> None:
        """``request`` got no reply within ``subscriptions.reply_timeout`` (default: a warning;
        the connection is not dropped — a venue that stops answering is caught by the
        liveness timeout)."""
        log.warning("%r: no reply to %s within %.0fs", self, request, self.subscriptions.reply_timeout)

    # --- hooks (override) ---------------------------------------------------------------------

    def on_trade(self, trade: Trade, ctx: Any) -> None:
        """A ``<symbol>@trade`` event."""

    def on_agg_trade(self, trade: AggTrade, ctx: Any) -> None:
        """A ``<symbol>@aggTrade`` event."""

    def on_book_ticker(self, ticker: BookTicker, ctx: Any) -> None:
        """A ``<symbol>@bookTicker`` update."""

    def on_depth(self, update: DepthUpdate, ctx: Any) -> None:
        """A ``<symbol>@depth[@100ms]`` diff."""

    def on_partial_depth(self, book: PartialDepth, ctx: Any) -> None:
        """A ``<symbol>@depth<N>[@100ms]`` snapshot."""

    def on_event(self, event: UnknownEvent, ctx: Any) -> None:
        """Any other event (kline, serverShutdown, ...). The default logs ``serverShutdown``."""
        if event.event_type == "serverShutdown":
            log.info("%r: server announced shutdown; the connection will be re-made when it drops", self)

    def on_reply(self, request: Request, reply: CommandResult, ctx: Any) -> None:
        """A request was acknowledged (``reply.result`` is ``None`` or the subscription list)."""

    def on_error_reply(self, request: Request | None, error: CommandError, ctx: Any) -> None:
        """The server refused ``request`` (``None``: the reply matched no outstanding request)."""
        log.warning("%r: Binance error reply %s to %s", self, error, request)

    # --- service callbacks --------------------------------------------------------------------

    def create_websocket(self, addr: Any, ctx: Any) -> Any:
        self.url = self._next_url()  # the URL carries what is wanted *now*
        if self.record is None:
            return super().create_websocket(addr, ctx)
        from boomnet.ws import WebSocket

        self._recordings += 1
        name = self.record if self._recordings == 1 else f"{self.record}-{self._recordings}"
        stream = self.create_stream(addr).into_recorded(name, directory=self.record_directory)
        return WebSocket(stream, self.url, self.ws)

    def create_replay_target(self, stream: Any, ctx: Any) -> Any:
        self.url = self._next_url()
        return super().create_replay_target(stream, ctx)

    def on_connected(self, ws: Any, ctx: Any) -> None:
        """Re-subscribe the wanted streams. Call ``super().on_connected(ws, ctx)`` if you override."""
        self._ws = ws
        self.subscriptions.on_connected(subscribed_by_url=self._url_streams)
        self._flush_requests(ws, ctx)

    def poll(self, ws: Any, ctx: Any) -> None:
        frames = ws.read_batch()
        if frames:
            decoder = self.decoder.decoder
            if decoder is None:
                self._poll_reference(frames, ctx)
            else:
                self._poll_fast(frames, decoder.decode, ctx)
        if self.subscriptions.has_outgoing:
            self._flush_requests(ws, ctx)

    def _poll_fast(self, frames: Any, decode: Callable[[Any], Any], ctx: Any) -> None:
        # The hot path, three passes over the batch instead of one Python pass per message:
        # decode every text frame (one msgspec call each, in a comprehension), check every
        # decimal string of the batch (one call: binance_checks), dispatch. The comprehension
        # unwraps combined envelopes itself when the stream names are not needed (no partial
        # books, no untyped streams). Anything unusual — a message the schema refuses (replies,
        # stale streams, malformed data) or a bad decimal — sends the batch, none of which was
        # dispatched yet, down the careful per-frame path: same order, same records, and the
        # reference decoder's VenueMessageError for a malformed message after the good ones.
        # (Cutting a replay's batches of ~1300 frames into chunks of 32..1024 measured the same.)
        text = _TEXT
        unwrap = self._unwrap
        try:
            if unwrap:
                records = [decode(f.payload).data for f in frames if f.opcode is text]
            else:
                records = [decode(f.payload) for f in frames if f.opcode is text]
        except DECODE_ERRORS:
            self._poll_careful(frames, decode, ctx)
            return
        if len(records) != len(frames):
            self.pings += sum(1 for f in frames if f.opcode is _PING)
        if self.combined and not unwrap:  # envelopes: the dispatch entry of each knows its stream
            envelopes, records = records, [e.data for e in records]
            if first_bad(records) >= 0:
                self._poll_careful(frames, decode, ctx)
                return
            dispatch = self._dispatch
            for env in envelopes:
                dispatch[type(env)](env.data, ctx)
            return
        if first_bad(records) >= 0:
            self._poll_careful(frames, decode, ctx)
            return
        single = self._single
        if single is not None:  # one handler for every stream of the connection
            for record in records:
                single(record, ctx)
        else:
            by_record = self._by_record
            for record in records:
                by_record[type(record)](record, ctx)

    def _poll_careful(self, frames: Any, decode: Callable[[Any], Any], ctx: Any) -> None:
        """One frame at a time: the fast schema first, else the reference decoder (a reply, an
        untyped stream, or a VenueMessageError for a malformed message). Rare batches only."""
        dispatch = self._dispatch
        combined = self.combined
        for frame in frames:
            opcode = frame.opcode
            if opcode is _TEXT:
                payload = frame.payload
                try:
                    out = decode(payload)
                except DECODE_ERRORS:
                    out = None
                if out is not None and first_bad((out.data if combined else out,)) < 0:
                    dispatch[type(out)](out.data if combined else out, ctx)
                    continue
                record = self.decoder.fallback(payload)  # a record, or VenueMessageError
                self._by_record[type(record)](record, ctx)
            elif opcode is _PING:
                self.pings += 1

    def _poll_reference(self, frames: Any, ctx: Any) -> None:
        by_record = self._by_record
        fallback = self.decoder.fallback
        for frame in frames:
            opcode = frame.opcode
            if opcode is _TEXT:
                record = fallback(frame.payload)
                by_record[type(record)](record, ctx)
            elif opcode is _PING:
                self.pings += 1

    def on_disconnect(self, reason: Disconnect, ctx: Any) -> bool:
        """Forget what the server had acknowledged; reconnect (the default answer)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            # The service's ws.close() only *starts* the close handshake on a recycled connection;
            # end the stream now so the socket (and a recording) is released deterministically.
            ws.stream.close()
        self.subscriptions.on_disconnected()
        log.info("%r disconnected: %s", self, reason)
        return True

    # --- internals ----------------------------------------------------------------------------

    def _next_url(self) -> str:
        wanted = self.subscriptions.streams if self.streams_in_url else ()
        self._url_streams = wanted
        self._update_decoder()
        return stream_url(self.base_url, wanted, combined=self.combined)

    def _update_decoder(self) -> None:
        """The wanted streams changed: the decoder's schema and the dispatch follow (cold path)."""
        self.decoder.update(self.subscriptions.streams)
        by_record = getattr(self, "_by_record", None)
        if by_record is None:  # during __init__, before the hooks are bound
            return
        envelopes = self.decoder.envelopes
        self._dispatch = {**by_record, **envelope_handlers(envelopes, by_record.__getitem__)}
        # Combined streams of typed kinds with a symbol field: the hot loop takes .data at once.
        self._unwrap = bool(envelopes) and all(e.kind and e.kind != "partial" for e in envelopes)
        if self._unwrap or not self.combined:
            kinds = {TYPED_KINDS[e.kind] for e in envelopes} if self.combined else set(self.decoder.record_types)
            handlers = {by_record[k] for k in kinds}
            self._single = handlers.pop() if len(handlers) == 1 else None
        else:
            self._single = None

    def _flush_requests(self, ws: Any, ctx: Any) -> None:
        """Send what the pacing allows now, and report requests past their reply deadline (a
        timer callback too: ``fn(target, ctx)``)."""
        subs = self.subscriptions
        if subs.pending:
            for request in subs.expire():
                self.on_request_timeout(request, ctx)
        if ws is not None and self.subscriptions.has_outgoing:
            for message in self.subscriptions.take_outgoing():
                ws.send_text(message)

    def _on_command_reply(self, reply: CommandResult | CommandError, ctx: Any) -> None:
        request = self.subscriptions.on_reply(reply)
        if isinstance(reply, CommandError):
            self.last_error = reply
            self.on_error_reply(request, reply, ctx)
        elif request is None:
            log.warning("%r: reply %s matches no outstanding request", self, reply)
        else:
            self.on_reply(request, reply, ctx)


_TEXT = Opcode.TEXT
_PING = Opcode.PING
