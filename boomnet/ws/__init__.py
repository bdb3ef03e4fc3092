"""WebSocket (RFC 6455): a sans-I/O connection protocol (client and server roles) over one
buffer, driven over any boomnet stream.

    ws = WebSocket(stream, "wss://host/path")     # non-blocking; call ws.establish() until True
    for frame in ws.read_batch():                  # every complete frame read *now*
        handle(frame.opcode, frame.payload)        # payload: memoryview, valid until next read

**Zero-copy contract:** the frames and payload views ``read_batch()`` returns are reused by the
next ``read_batch()``; copy (``frame.bytes()``) what must live longer. ``WsOptions(debug_views=True)``
or ``BOOMNET_DEBUG_VIEWS=1`` makes a view held too long raise instead of showing other bytes.

``connect(url)`` is the blocking convenience for scripts and tests; ``ServerWebSocket`` answers
an accepted connection; ``Protocol`` is the sans-I/O core both drive.
"""

from .client import WebSocket
from .connect import connect
from .decoder import Decoder
from .encoder import encode_frame, mask_payload
from .endpoint import WebsocketEndpoint
from .frame import CloseCode, Frame, Opcode
from .options import WsLimits, WsOptions
from .protocol import Protocol, Role
from .server import ServerWebSocket

__all__ = [
    "WebSocket",
    "ServerWebSocket",
    "WebsocketEndpoint",
    "WsOptions",
    "WsLimits",
    "Protocol",
    "Role",
    "connect",
    "Decoder",
    "Frame",
    "Opcode",
    "CloseCode",
    "encode_frame",
    "mask_payload",
]
