"""WebSocket client (RFC 6455): sans-I/O decoder/encoder over one buffer, driven over any stream.

    ws = WebSocket(stream, "wss://host/path")     # non-blocking; call ws.establish() until True
    for frame in ws.read_batch():                  # every complete frame read *now*
        handle(frame.opcode, frame.payload)        # payload: memoryview, valid until next read

``connect(url)`` is the blocking convenience for scripts and tests.
"""

from .client import WebSocket
from .connect import connect
from .decoder import Decoder
from .encoder import encode_frame, mask_payload
from .endpoint import WebsocketEndpoint
from .frame import CloseCode, Frame, Opcode

__all__ = ["WebSocket", "WebsocketEndpoint", "connect", "Decoder", "Frame", "Opcode", "CloseCode", "encode_frame", "mask_payload"]
