"""pytest fixtures for code built on boomnet (registered as the ``boomnet`` pytest plugin).

Installed with boomnet, so your own test suite gets them without a conftest:

    def test_my_feed(binance_exchange, boomnet_io):
        feed = MyFeed(["btcusdt@trade"], base_url=binance_exchange.url, ca_file=binance_exchange.ca_file)
        boomnet_io.register(feed)
        ...

* ``binance_exchange`` — the embedded Binance exchange on loopback (TLS with its own CA:
  ``.url``, ``.ca_file``; fault injection: ``drop()``, ``stall()``, ``send_garbage()``,
  ``drop_diffs()``, ...), stopped after the test.
* ``fix_venue`` — the offline FIX 4.4 venue on a loopback port (``.port``), stopped after the test.
* ``msg_echo_server`` — a message echo server (length-prefixed, 4-byte big-endian) on its own
  IOService thread: ``.address``; every message is sent back on its connection.
* ``boomnet_io`` — an ``IOService`` closed after the test.
* ``boomnet_replay`` — ``boomnet_replay(endpoint, name, directory="recordings", ctx=None,
  timeout=30)`` runs ``endpoint`` over a recording until it ends and returns it.
* ``boomnet_recorder`` — ``boomnet_recorder(stream, name)`` wraps a stream in a
  ``RecordedStream`` under the test's temporary directory (redacted by default) and returns it;
  closed after the test. ``boomnet_recorder.directory`` is where the files go.

The embedded peers need the ``demo`` extra (``pip install boomnet[demo]``); without it the
fixtures that need it raise :class:`~boomnet.errors.MissingExtra`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..errors import DeadlineExceeded, MissingExtra

__all__ = ["binance_exchange", "fix_venue", "msg_echo_server", "boomnet_io", "boomnet_replay", "boomnet_recorder"]


def _needs_demo() -> None:
    try:
        import trustme  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"the embedded peers need the demo extra: pip install 'boomnet[demo]' ({exc})") from exc


@pytest.fixture
def binance_exchange() -> Iterator[Any]:
    _needs_demo()
    from .binance import Exchange

    with Exchange(rate=200, burst_every=0, seed=1) as exchange:
        yield exchange


class _FixVenue:
    def __init__(self) -> None:
        from .fix.acceptor import Venue

        self.venue = Venue(0, 10.0)
        self.port: int = self.venue.port
        self.thread = threading.Thread(target=self.venue.run, name="fix-venue", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.venue.stop.set()
        self.thread.join(10)


@pytest.fixture
def fix_venue() -> Iterator[_FixVenue]:
    venue = _FixVenue()
    try:
        yield venue
    finally:
        venue.stop()


class _EchoServer:
    def __init__(self) -> None:
        from ..msg.codec import LengthPrefixed
        from ..msg.endpoint import ListenerEndpoint, Reactor
        from ..service import IOService

        class Echo(Reactor[Any]):
            def on_message(self, conn: Any, msg: Any, ctx: Any) -> None:
                conn.push(bytes(msg))

        self.io: IOService[Any] = IOService()
        self.listener = ListenerEndpoint("127.0.0.1", 0, codec=LengthPrefixed(), reactor_factory=lambda conn: Echo())
        self.io.register(self.listener)
        deadline = time.monotonic() + 5
        while self.listener.address is None:
            self.io.poll()
            if time.monotonic() > deadline:
                raise DeadlineExceeded("the echo server did not start listening")
        self.address: tuple[str, int] = self.listener.address
        self.loop = self.io.run_in_thread(idle=0.001, name="boomnet-echo")

    def stop(self) -> None:
        self.loop.stop()
        self.loop.join()
        self.io.close()


@pytest.fixture
def msg_echo_server() -> Iterator[_EchoServer]:
    server = _EchoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def boomnet_io() -> Iterator[Any]:
    from ..service import IOService

    io: IOService[Any] = IOService()
    try:
        yield io
    finally:
        io.close()


@pytest.fixture
def boomnet_replay() -> Callable[..., Any]:
    from ..service import DirectSelector, IOService

    def replay(endpoint: Any, name: str, directory: str | Path = "recordings", ctx: Any = None,
               timeout: float = 30.0) -> Any:
        io: IOService[Any]
        with IOService(DirectSelector()) as io:
            io.register(endpoint.replay(name, str(directory)))
            deadline = time.monotonic() + timeout
            while len(io):
                io.poll(ctx)
                if time.monotonic() > deadline:
                    raise DeadlineExceeded(f"replay of {name!r} did not end within {timeout}s")
        return endpoint

    return replay


class _Recorder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.streams: list[Any] = []

    def __call__(self, stream: Any, name: str, **options: Any) -> Any:
        recorded = stream.into_recorded(name, directory=str(self.directory), **options)
        self.streams.append(recorded)
        return recorded

    def close(self) -> None:
        for s in self.streams:
            s.close()
            wait = getattr(s, "wait_closed", None)
            if wait is not None:
                wait(10)


@pytest.fixture
def boomnet_recorder(tmp_path: Path) -> Iterator[_Recorder]:
    recorder = _Recorder(tmp_path / "recordings")
    recorder.directory.mkdir()
    try:
        yield recorder
    finally:
        recorder.close()

