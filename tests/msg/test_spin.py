"""Waiting for a message spins without any call between attempts when ``spin_sleep=0`` (the default).

``time.sleep(0)`` is not free: on Linux it is a ``clock_nanosleep`` — a trip through the
scheduler and a timer (measured ~100 us on this project's loaded machine) — so a "spinning"
``recv`` that called it on every empty read answered a 13 us round trip in 70+ us. These tests
count calls, never time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from boomnet.errors import DeadlineExceeded
from boomnet.msg import Clt, Connection, LengthPrefixed, Svc
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls_server import TlsServerOptions


class SleepCounter:
    """Counts ``time.sleep`` calls made by the test's own thread (others sleep as usual)."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.thread = threading.get_ident()
        self.real = time.sleep

    def __call__(self, seconds: float) -> None:
        if threading.get_ident() == self.thread:
            self.calls.append(seconds)
        self.real(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[SleepCounter]:
    counter = SleepCounter()
    monkeypatch.setattr(time, "sleep", counter)
    yield counter


def _echo_thread(svc: Svc[memoryview], stop: threading.Event) -> threading.Thread:
    def serve() -> None:
        end = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < end:
            for clt, msg in svc.poll():
                clt.send(bytes(msg))
            svc.wait(0.005)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_recv_spins_without_sleeping(sleeps: SleepCounter, cert_files: tuple[str, str], ca_file: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    svc = Svc.bind("127.0.0.1", 0, codec=LengthPrefixed(), tls=TlsServerOptions(*cert_files))
    stop = threading.Event()
    server = _echo_thread(svc, stop)
    try:
        clt = Clt.connect("127.0.0.1", svc.address[1], codec=LengthPrefixed(), timeout=10,  # type: ignore[index]
                          tls=TlsOptions(ca_file=ca_file, server_hostname="localhost"))
        sleeps.calls.clear()  # connecting yields to the peer (sleep(0)); recv must not
        reads = 0
        read = Connection.read_batch

        def counting(self: Connection[memoryview]) -> list[memoryview]:
            nonlocal reads
            if threading.get_ident() == sleeps.thread:
                reads += 1
            return read(self)

        monkeypatch.setattr(Connection, "read_batch", counting)
        for i in range(50):
            clt.send(b"ping %d" % i)
            assert bytes(clt.recv(timeout=10)) == b"ping %d" % i
        assert reads > 50, "recv never had to wait: the test proved nothing"
        assert sleeps.calls == [], f"spin_sleep=0 slept {len(sleeps.calls)} times"
        clt.close()
    finally:
        stop.set()
        server.join(10)
        svc.close()


def test_a_positive_spin_sleep_is_honoured(sleeps: SleepCounter) -> None:
    with Svc.bind("127.0.0.1", 0, codec=LengthPrefixed()) as svc:
        clt = Clt.connect("127.0.0.1", svc.address[1], codec=LengthPrefixed(), timeout=10, spin_sleep=0.0005)  # type: ignore[index]
        with pytest.raises(DeadlineExceeded):
            clt.recv(timeout=0.02)  # nothing comes: spins with the sleep
        assert sleeps.calls and set(sleeps.calls) == {0.0005}
        clt.close()
