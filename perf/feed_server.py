"""A tiny raw WebSocket server built to never be the bottleneck of a client benchmark.

Run as its own process: ``python -m perf.feed_server [--tls CERT KEY]``. It prints
``PORT <n>`` on stdout once listening, then serves one connection at a time, forever:

* ``GET /blast?n=N`` — after the upgrade, writes N pre-encoded unmasked trade text frames in
  256 KiB ``sendall`` batches, then a close frame (1000), then waits for the client to go.
* ``GET /paced`` — each client text message ``k`` is answered with the next k trade frames.
* ``GET /echo`` — reads masked client frames and echoes each message back unmasked
  (text/binary keep their opcode; ping gets a pong; close is answered and ends the session).

No extension or subprotocol is ever negotiated, so every client sees plain frames.
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import struct
import sys
from urllib.parse import parse_qs, urlsplit

from perf.frames import CYCLE, accept_key, apply_mask, close_frame, feed, frame_header

log = logging.getLogger("perf.feed_server")

BATCH = 256 * 1024
FEED = feed(1)  # the pre-encoded frame cycle (built once, at import)


def read_request(conn: socket.socket) -> tuple[str, dict[str, str]]:
    """Read the HTTP upgrade request; return (target, lower-cased headers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client went away during the handshake")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("handshake too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    if rest:  # a client must wait for 101 before sending frames
        raise ConnectionError("bytes after the upgrade request")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    if method != "GET":
        raise ConnectionError(f"unexpected method {method}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return target, headers


def answer_upgrade(conn: socket.socket, headers: dict[str, str]) -> None:
    key = headers.get("sec-websocket-key", "")
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        ).encode()
    )


def client_frames(conn: socket.socket):
    """Yield ``(opcode, fin, unmasked payload)`` for each client frame until EOF."""
    buf = bytearray()
    recv = conn.recv
    while True:
        chunk = recv(65536)
        if not chunk:
            return
        buf += chunk
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            hdr = 2
            if length == 126:
                if end - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", buf, pos + 2)
                hdr = 4
            elif length == 127:
                if end - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                hdr = 10
            mlen = 4 if b1 & 0x80 else 0
            if end - pos < hdr + mlen + length:
                break
            start = pos + hdr + mlen
            payload = bytes(buf[start : start + length])
            if mlen:
                payload = apply_mask(payload, bytes(buf[pos + hdr : start]))
            pos = start + length
            yield b0 & 0x0F, bool(b0 & 0x80), payload
        del buf[:pos]


def drain_until_gone(conn: socket.socket, seconds: float = 5.0) -> None:
    """After our close frame: drop data until the client's close frame or EOF (or time runs out)."""
    conn.settimeout(seconds)
    try:
        for opcode, _, _ in client_frames(conn):
            if opcode == 0x8:
                return  # close handshake complete: the server closes TCP first (RFC 6455 §7.1.1)
    except (OSError, ssl.SSLError):
        pass


def send_range(conn: socket.socket, first: int, count: int) -> int:
    """Send ``count`` feed frames starting at cycle index ``first`` in one write; return next index."""
    cycle, offsets = FEED.cycle, FEED.offsets
    parts = []
    while count:
        take = min(count, CYCLE - first)
        parts.append(cycle[offsets[first] : offsets[first + take]])
        count -= take
        first = (first + take) % CYCLE
    conn.sendall(b"".join(parts))
    return first


def blast(conn: socket.socket, count: int) -> None:
    sendall = conn.sendall
    for chunk in feed(count).chunks(BATCH):
        sendall(chunk)
    sendall(close_frame(1000))
    drain_until_gone(conn)


def paced(conn: socket.socket) -> None:
    """Each client text message "k" asks for the next k feed frames (the allocation job uses this
    so both snapshots are taken right after a batch of known size)."""
    index = 0
    for opcode, _, payload in client_frames(conn):
        if opcode == 0x8:
            conn.sendall(close_frame(1000))
            return
        if opcode == 0x1:
            index = send_range(conn, index, int(payload))


def echo(conn: socket.socket) -> None:
    """Echo client messages back unmasked; ping gets pong; close is answered and ends the session."""
    sendall = conn.sendall
    for opcode, fin, payload in client_frames(conn):
        if opcode == 0x8:
            code = payload[:2] if len(payload) >= 2 else struct.pack("!H", 1000)
            sendall(frame_header(0x8, len(code)) + code)
            return
        if opcode == 0x9:
            sendall(frame_header(0xA, len(payload)) + payload)
        elif opcode in (0x0, 0x1, 0x2):
            sendall(frame_header(opcode, len(payload), fin=fin) + payload)


def serve_one(conn: socket.socket, tls: ssl.SSLContext | None) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(10.0)
    if tls is not None:
        conn = tls.wrap_socket(conn, server_side=True)
    try:
        target, headers = read_request(conn)
        answer_upgrade(conn, headers)
        conn.settimeout(None)  # plain blocking I/O: the fastest path for recv/sendall
        url = urlsplit(target)
        if url.path == "/blast":
            blast(conn, int(parse_qs(url.query)["n"][0]))
        elif url.path == "/echo":
            echo(conn)
        elif url.path == "/paced":
            paced(conn)
        else:
            conn.sendall(close_frame(1008, b"unknown path"))
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        import os

        os.sched_setaffinity(0, {args.cpu})
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
    srv = socket.create_server((args.host, args.port), backlog=16)
    print(f"PORT {srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            serve_one(conn, tls)
        except (OSError, ssl.SSLError, ValueError, KeyError) as exc:
            log.info("session ended: %r", exc)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
