"""An embedded Binance-compatible market-stream exchange for demos and tests.

Independent of boomnet: the ``websockets`` asyncio server behind real TLS (a ``trustme``
certificate made at start; clients trust its CA file explicitly). It serves raw ``/ws/<stream>``
and combined ``/stream?streams=a/b`` URLs (or bare ``/ws`` / ``/stream`` plus live SUBSCRIBE),
answers SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, streams random-walk trades, aggTrades,
book tickers and depth for subscribed symbols, pings each connection and checks the pong payload.

Runs in a background thread with its own event loop (``Exchange().start()``), or as a process:
``python -m boomnet.testing.binance.exchange --rate 500`` prints one JSON line with ``url`` and
``ca_file`` and serves until stdin closes or it is signalled.

It also answers the REST depth snapshot ``GET /api/v3/depth?symbol=BTCUSDT&limit=N`` (same port
and TLS) from each symbol's full book, consistent with the ``@depth`` diffs.

Faults on demand, callable from any thread: :meth:`Exchange.drop`, :meth:`~Exchange.stall`,
:meth:`~Exchange.send_garbage`, :meth:`~Exchange.send_oversized`; for books
:meth:`~Exchange.drop_diffs` (a gap), :meth:`~Exchange.duplicate_diffs`,
:meth:`~Exchange.stale_snapshots`, and :meth:`~Exchange.book` to compare against. Market data is written as
pre-built frames straight to the transport, one write per connection per tick, so the per-connection
sequence of trade ids is exactly what :meth:`Exchange.connections` reports as sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import socket
import ssl
import tempfile
import threading
import time
from typing import Any, Callable, Iterable, TypeVar

import trustme
from websockets.asyncio.server import serve

from .exchange_book import BookSide
from .exchange_conn import ConnectionStats, ExchangeConnection, UnknownPath
from .market import SymbolMarket, parse_stream

__all__ = ["Exchange", "ConnectionStats"]

log = logging.getLogger("boomnet.testing.binance.exchange")



T = TypeVar("T")

class Exchange(BookSide):
    """A local Binance spot market-stream server (see module docstring)."""

    def __init__(
        self,
        *,
        rate: float = 200.0,
        burst_every: float = 2.0,
        burst_size: int = 100,
        ping_interval: float = 20.0,
        ping_timeout: float = 60.0,
        tick_interval: float = 0.005,
        max_requests_per_second: int = 5,
        max_connection_age: float = 24 * 3600.0,
        max_write_buffer: int = 8 << 20,
        seed: int | None = None,
        port: int = 0,
        tls: bool = True,
    ):
        """``rate``: market events per second per symbol (each a taker order — 1-3 trades plus an
        aggTrade and a quote — or a quote change alone); every ``burst_every`` s (0: never) a
        burst of ``burst_size`` extra events goes out in one tick. ``tls=False`` serves plain ws://
        (Binance itself is TLS-only; this is for tests of the layers below)."""
        self.rate = rate
        self.burst_every = burst_every
        self.burst_size = burst_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.tick_interval = tick_interval
        self.max_requests_per_second = max_requests_per_second
        self.max_connection_age = max_connection_age
        self.max_write_buffer = max_write_buffer
        self._rng = random.Random(seed)
        self._port = port
        self.tls = tls
        self._markets: dict[str, SymbolMarket] = {}
        self._subs: dict[str, set[ExchangeConnection]] = {}  # stream name -> subscribers
        self._conns: list[ExchangeConnection] = []  # every connection ever accepted, in order
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._tmpdir: str | None = None
        self.port = 0
        self.ca_file = ""
        #: while True no market data is generated (connections, pings and requests carry on);
        #: depth changes made before the pause still go out as their last diff
        self.paused = False
        self._init_book_side()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL clients use, e.g. ``wss://localhost:40123`` (certificate is for localhost)."""
        return f"{'wss' if self.tls else 'ws'}://localhost:{self.port}"

    def start(self, timeout: float = 10.0) -> "Exchange":
        """Make the certificate, start the server thread, return once it accepts connections."""
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
        self._tmpdir = tempfile.mkdtemp(prefix="binance-exchange-")
        self.ca_file = os.path.join(self._tmpdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ssl_context)
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ssl_context, ready, failure), name="binance-exchange", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self.stop()
            raise RuntimeError(f"embedded exchange did not start: {failure[0] if failure else 'timeout'}")
        return self

    def stop(self) -> None:
        """Close every connection and the server; idempotent."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            def stop() -> None:
                if not stopping.done():
                    stopping.set_result(None)

            loop.call_soon_threadsafe(stop)
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "Exchange":
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ssl_context: ssl.SSLContext, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ssl_context, ready))
        except BaseException as exc:  # surfaced to start()
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _main(self, ssl_context: ssl.SSLContext, ready: threading.Event) -> None:
        self._stopping = asyncio.get_running_loop().create_future()
        port = self._port or _free_port()
        hosts = ["127.0.0.1", "::1"] if _has_ipv6_loopback() else ["127.0.0.1"]
        async with serve(
            self._handle, hosts, port, ssl=ssl_context if self.tls else None,  # type: ignore[arg-type]  # websockets accepts a host list (create_server); its stub says str
            process_request=self._check_path,
            compression=None, ping_interval=None, close_timeout=2, max_size=1 << 20,
        ):
            self.port = port
            log.info("embedded Binance exchange serving %s (CA %s)", self.url, self.ca_file)
            ticker = asyncio.create_task(self._ticker())
            ready.set()
            await self._stopping
            ticker.cancel()
            for conn in list(self._subscribers()):
                conn.abort("exchange stopped")

    # --- connections --------------------------------------------------------------------------

    def _check_path(self, connection: Any, request: Any) -> Any:
        if request.path.startswith("/api/"):
            return self._rest(connection, request.path)
        try:
            ExchangeConnection.parse_path(request.path)
        except ValueError as exc:
            return connection.respond(404 if isinstance(exc, UnknownPath) else 400, f"{exc}\n")
        return None

    async def _handle(self, ws: Any) -> None:
        combined, streams = ExchangeConnection.parse_path(ws.request.path)
        conn = ExchangeConnection(len(self._conns), ws, combined, self)
        self._conns.append(conn)
        self.subscribe(conn, streams)
        pinger = asyncio.create_task(conn.ping_loop(self.ping_interval, self.ping_timeout))
        try:
            await conn.serve(self.max_requests_per_second, self.max_connection_age)
        finally:
            pinger.cancel()
            self.unsubscribe(conn, list(conn.streams))
            conn.stats.closed_at = time.time()
            log.debug("connection %d closed: %s", conn.stats.id, conn.stats.close_reason)

    def subscribe(self, conn: ExchangeConnection, streams: Iterable[str]) -> None:
        for name in streams:
            parsed = parse_stream(name)
            assert parsed is not None, name  # validated by the caller
            symbol, _ = parsed
            self._market(symbol)
            self._subs.setdefault(name, set()).add(conn)
            conn.streams.add(name)

    def unsubscribe(self, conn: ExchangeConnection, streams: Iterable[str]) -> None:
        for name in streams:
            subscribers = self._subs.get(name)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._subs[name]
            conn.streams.discard(name)

    def _subscribers(self) -> set[ExchangeConnection]:
        return set().union(*self._subs.values()) if self._subs else set()

    def _market(self, name: str) -> SymbolMarket:
        market = self._markets.get(name)
        if market is None:
            market = self._markets[name] = SymbolMarket(name, random.Random(self._rng.random()))
        return market

    # --- market data --------------------------------------------------------------------------

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        next_burst = last + self.burst_every if self.burst_every > 0 else float("inf")
        next_fast = next_slow = last
        carry: dict[str, float] = {}
        while True:
            await asyncio.sleep(self.tick_interval)
            now = loop.time()
            due_base, last = self.rate * (now - last), now
            burst = now >= next_burst
            if burst:
                next_burst = now + self.burst_every
            fast, slow = now >= next_fast, now >= next_slow
            if fast:
                next_fast = now + 0.1
            if slow:
                next_slow = now + 1.0
            by_symbol: dict[str, set[ExchangeConnection]] = {}
            for name, conns in self._subs.items():
                by_symbol.setdefault(name.partition("@")[0], set()).update(conns)
            for symbol, conns in by_symbol.items():
                due = carry.get(symbol, 0.0) + due_base + (self.burst_size if burst else 0)
                count = int(due)
                carry[symbol] = due - count
                market = self._markets[symbol]
                due_fast, due_slow = fast, slow
                if self.paused:
                    # No new events; but changes already made still go out as their depth diffs
                    # at the next cadence, so the diffs sent always end at the book's state.
                    count = 0
                    due_fast, due_slow = fast and market.has_pending_diff(100), slow and market.has_pending_diff(1000)
                    if not due_fast and not due_slow:
                        continue
                # Stamp E and write per symbol, so E-to-receipt latency does not include the time
                # spent generating the other symbols' events.
                self._market_events(market, count, int(time.time() * 1000), due_fast, due_slow)
                for conn in conns:
                    conn.flush(self.max_write_buffer)

    def _market_events(self, market: SymbolMarket, count: int, now_ms: int, fast: bool, slow: bool) -> None:
        subs, name, rng = self._subs, market.name, self._rng
        trade_subs = subs.get(name + "@trade")
        agg_subs = subs.get(name + "@aggTrade")
        ticker_subs = subs.get(name + "@bookTicker")
        for _ in range(count):
            if rng.random() < 0.5:
                trades, agg = market.taker_order(now_ms)
                if trade_subs:
                    for trade_id, payload in trades:
                        for conn in trade_subs:
                            conn.push(name + "@trade", payload, trade_id)
                if agg_subs:
                    for conn in agg_subs:
                        conn.push(name + "@aggTrade", agg)
            quote = market.quote_change()
            if ticker_subs:
                for conn in ticker_subs:
                    conn.push(name + "@bookTicker", quote)
        for cadence_ms, due, suffix in ((100, fast, "@100ms"), (1000, slow, "")):
            if not due:
                continue
            if count == 0 and not market.has_pending_diff(cadence_ms):
                continue  # paused and flushed: nothing at all goes out (partial books neither)
            diff = market.depth_update(now_ms, cadence_ms)
            stream = f"{name}@depth{suffix}"
            copies = self._diff_copies(stream) if diff else 0
            for conn in subs.get(stream, ()) if copies else ():
                for _ in range(copies):
                    conn.push(stream, diff)  # type: ignore[arg-type]
            for levels in (5, 10, 20):
                stream = f"{name}@depth{levels}{suffix}"
                if stream in subs:
                    book = market.partial_depth(levels)
                    for conn in subs[stream]:
                        conn.push(stream, book)

    # --- observation and faults (any thread) --------------------------------------------------

    def connections(self) -> list[ConnectionStats]:
        """Snapshots of every connection accepted so far, oldest first."""
        return self._call(lambda: [conn.snapshot() for conn in self._conns])

    def wait_for(self, predicate: Callable[[list[ConnectionStats]], bool], timeout: float = 10.0) -> list[ConnectionStats]:
        """Poll :meth:`connections` until ``predicate`` holds; raises ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.connections()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"exchange condition not met within {timeout} s: {stats}")
            time.sleep(0.02)

    def drop(self, conn_id: int | None = None) -> int:
        """Abort open connections (all, or one by id) without a close frame; how many."""
        return self._each(conn_id, lambda conn: conn.abort("dropped by fault injection"))

    def stall(self, seconds: float, conn_id: int | None = None) -> int:
        """Hold every byte (data, pings) for ``seconds``, then send what queued up meanwhile."""
        until = time.monotonic() + seconds
        return self._each(conn_id, lambda conn: setattr(conn, "stalled_until", until))

    def send_garbage(self, conn_id: int | None = None, data: bytes = b"\xff\xfe not a websocket frame \x00") -> int:
        """Write bytes that are no WebSocket frame straight to the transport."""
        return self._each(conn_id, lambda conn: conn.write_raw(data))

    def send_oversized(self, conn_id: int | None = None, size: int = 1 << 30) -> int:
        """Write the header of a text frame announcing ``size`` bytes (plus a few of them)."""
        header = b"\x81\x7f" + size.to_bytes(8, "big")
        return self._each(conn_id, lambda conn: conn.write_raw(header + b'{"e":"trade"' * 4))

    def _each(self, conn_id: int | None, action: Callable[[ExchangeConnection], Any]) -> int:
        def run() -> int:
            targets = [c for c in self._conns if c.is_open and (conn_id is None or c.stats.id == conn_id)]
            for conn in targets:
                action(conn)
            return len(targets)

        return self._call(run)

    def _call(self, fn: Callable[[], T]) -> T:
        if self._loop is None or self._thread is None:
            raise RuntimeError("exchange is not running")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the exchange as a process: print ``{"url":..,"ca_file":..,"port":..}``, serve until
    stdin reaches EOF (the parent went away) or SIGTERM/SIGINT."""
    import argparse
    import json
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m boomnet.testing.binance.exchange", description=main.__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="market events/s per symbol")
    parser.add_argument("--burst-every", type=float, default=2.0, help="seconds between bursts (0: none)")
    parser.add_argument("--burst-size", type=int, default=100, help="extra events per burst")
    parser.add_argument("--ping-interval", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    exchange = Exchange(
        rate=args.rate, burst_every=args.burst_every, burst_size=args.burst_size,
        ping_interval=args.ping_interval, seed=args.seed, port=args.port,
    ).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    def until_stdin_closes() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    print(json.dumps({"url": exchange.url, "ca_file": exchange.ca_file, "port": exchange.port}), flush=True)
    try:
        done.wait()
    finally:
        exchange.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
