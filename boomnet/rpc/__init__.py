"""Request/response correlation as data: ids, deadlines, cancellation, streams.

* :mod:`.protocol`: the binary envelope (documented layout) carried as one message of a
  :mod:`boomnet.msg` connection.
* :mod:`.client` / :mod:`.server`: sans-I/O client and server sessions.
* :mod:`.endpoint`: both on the IOService over message connections.
* :mod:`.jsonws`: the same correlation for JSON request/reply APIs over a WebSocket.
"""

from .client import Call, CallState, RpcClient, RpcError
from .endpoint import RpcClientEndpoint, RpcReactor, RpcServerEndpoint
from .jsonws import JsonCorrelator
from .protocol import Control, Envelope, decode, encode
from .server import Request, RpcSession, streaming

__all__ = [
    "Call",
    "CallState",
    "RpcClient",
    "RpcError",
    "RpcClientEndpoint",
    "RpcServerEndpoint",
    "RpcReactor",
    "JsonCorrelator",
    "Control",
    "Envelope",
    "decode",
    "encode",
    "Request",
    "RpcSession",
    "streaming",
]
