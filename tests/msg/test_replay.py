"""Record/replay: a recorded Clt replays the same messages in the same batches."""

from __future__ import annotations

import socket
import struct
import time

from boomnet.errors import ConnectionClosed
from boomnet.msg import Clt, Datagram, DatagramCodec, Store
from boomnet.stream import RecordedStream, ReplayStream, TcpStream


def frames(*msgs: tuple[int, bytes]) -> bytes:
    return b"".join(struct.pack(">IHH", 4 + len(p), 1, t) + p for t, p in msgs)


def batches_until_closed(clt: Clt, timeout: float = 10.0) -> list[list[tuple[int, bytes]]]:
    out = []
    end = time.monotonic() + timeout
    while True:
        try:
            batch = clt.recv_batch()
        except ConnectionClosed:
            return out
        if batch:
            out.append([(d.tag, bytes(d.data)) for d in batch])
        assert time.monotonic() < end
        time.sleep(0.0005)


def test_recorded_clt_replays_the_same_batches(tmp_path) -> None:
    lst = socket.create_server(("127.0.0.1", 0))
    raw = socket.create_connection(lst.getsockname())
    peer, _ = lst.accept()
    lst.close()
    stream = RecordedStream(TcpStream(raw, "venue"), "session", tmp_path)
    clt = Clt(stream, DatagramCodec(), observers=[])
    clt.send(Datagram(1, b"subscribe"))
    # the peer sends in bursts: each burst is one read, so one batch (a frame split across two)
    bursts = [frames((1, b"a"), (2, b"bb")), frames((3, b"c" * 1000))[:500], frames((3, b"c" * 1000))[500:] + frames((4, b"d"))]
    live = []
    for burst in bursts:
        peer.sendall(burst)
        end = time.monotonic() + 5
        before = len(live)
        while len(live) == before and (burst is not bursts[1]):
            batch = clt.recv_batch()
            if batch:
                live.append([(d.tag, bytes(d.data)) for d in batch])
            assert time.monotonic() < end
        if burst is bursts[1]:
            end = time.monotonic() + 5
            while clt.conn._rbuf.undecoded < 500:  # the half frame has been read (no batch yet)
                assert clt.recv_batch() == []
                assert time.monotonic() < end
    peer.close()
    live.extend(batches_until_closed(clt))
    clt.close()
    assert live == [[(1, b"a"), (2, b"bb")], [(3, b"c" * 1000), (4, b"d")]]

    store = Store()
    replayed = Clt(ReplayStream.from_file("session", tmp_path), DatagramCodec(), observers=[store])
    assert batches_until_closed(replayed) == live
    assert [bytes(d.data) for d in store.received()] == [b"a", b"bb", b"c" * 1000, b"d"]
