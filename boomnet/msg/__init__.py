"""Typed-message connections, client and server: codecs, Clt/Svc, reactor in, sender out.

    from boomnet.msg import Clt, Svc, LengthPrefixed

    svc = Svc.bind("127.0.0.1", 0, codec=LengthPrefixed())
    clt = Clt.connect(*svc.address, codec=LengthPrefixed())
    peer = svc.accept(timeout=5)
    clt.send(b"ping")
    assert bytes(peer.recv(timeout=5)) == b"ping"

Layers: sans-I/O codecs (:mod:`.codec`, :mod:`.datagram`, :mod:`.typed`); the connection core
(:mod:`.connection`: receive buffer -> codec -> batch of messages; push -> coalesced writev);
blocking-style drivers that spin (:mod:`.clt`, :mod:`.svc`); IOService endpoints (:mod:`.endpoint`);
traffic observers (:mod:`.observe`); pooled connections per origin over :class:`boomnet.connect.Pool`
(:mod:`.pool`).
"""

from .clt import Clt
from .codec import Buffer, Codec, LengthPrefixed, Lines
from .connection import Connection
from .datagram import Datagram, DatagramCodec
from .observe import Counters, LogObserver, Observer, Store
from .options import MsgOptions
from .pool import MsgPool, PooledClt, msg_connector
from .svc import Svc
from .typed import Typed

__all__ = [
    "Buffer",
    "Codec",
    "LengthPrefixed",
    "Lines",
    "Datagram",
    "DatagramCodec",
    "Typed",
    "MsgOptions",
    "Observer",
    "LogObserver",
    "Counters",
    "Store",
    "Connection",
    "Clt",
    "Svc",
    "MsgPool",
    "PooledClt",
    "msg_connector",
]
