"""Stackable connectors keyed by origin, and one generic connection pool (see the modules)."""

from .connector import Connector, Origin, RecordingConnector, TcpConnector, TlsConnector, UnixConnector
from .pool import Pool, Poolable, PoolStats

__all__ = ["Connector", "Origin", "TcpConnector", "UnixConnector", "TlsConnector", "RecordingConnector",
           "Pool", "Poolable", "PoolStats"]
