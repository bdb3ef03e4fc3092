"""Profile one benchmark client against the feed server and summarise where its time goes.

    .venv/bin/python -m perf.profile_client                       # boomnet, blast plain, cProfile
    .venv/bin/python -m perf.profile_client --tls --handler orjson --count 2000000
    .venv/bin/python -m perf.profile_client --py-spy /path/to/py-spy   # sampling, C frames too

py-spy (``pip install --target DIR py-spy``) samples natively, so time inside C code (the frame
scan, OpenSSL, orjson) shows up under its own name; cProfile only sees Python-level calls, and
the C scan appears as the ``scan`` builtin. Start-up (imports, connect) is excluded from the
py-spy categories and is small next to a 2 M-message run under cProfile.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import pstats
import subprocess
import sys
import tempfile

from perf.servers import REPO, _env, make_tls_files, start_feed_server

#: a sample whose stack has one of these frames belongs to start-up (imports, connect, handshakes)
STARTUP_MARKS = ("importlib", "connect (perf/clients", "ws_connect", "establish", "create_connection")

#: (category, predicate on one collapsed-stack frame); the innermost matching frame wins
CATEGORIES = [
    ("orjson.loads", lambda f: f.startswith("loads (orjson") or "orjson/orjson" in f),
    ("TLS decryption (OpenSSL + ssl module)", lambda f: "libssl" in f or "libcrypto" in f or "_ssl" in f),
    ("recv/read syscalls (TLS: OpenSSL's socket reads)", lambda f: f.startswith(("recv (", "read (")) or "sock_call" in f or "sock_recv" in f),
    ("send path (encode, mask, send)", lambda f: "encoder.py" in f or f.startswith(("send (", "mask (")) or "send_text" in f),
    ("C frame scan: UTF-8 check", lambda f: f.startswith("utf8_valid")),
    ("C frame scan: frames, payload views, pool", lambda f: f.startswith("scan (")),
    ("garbage collector", lambda f: f.startswith("gc_collect")),
    ("Decoder (Python)", lambda f: "boomnet/ws/decoder.py" in f),
    ("WebSocket.read_batch (Python)", lambda f: "boomnet/ws/client.py" in f),
    ("streams (Python)", lambda f: "boomnet/stream/" in f),
    ("IOService / selectors", lambda f: "boomnet/service/" in f),
    ("uvloop / asyncio", lambda f: "uvloop" in f or "asyncio" in f),
    ("picows", lambda f: "picows" in f),
    ("handler loop (client code)", lambda f: "perf/clients" in f or "perf/replay_bench" in f),
]


def summarise_collapsed(path: str) -> list[tuple[str, float]]:
    """Percent of samples (start-up excluded) per category, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in open(path):
        stack, _, n = line.rstrip().rpartition(" ")
        if any(mark in stack for mark in STARTUP_MARKS):
            counts["start-up"] += int(n)
            continue
        for frame in reversed(stack.split(";")):
            hit = next((name for name, pred in CATEGORIES if pred(frame)), None)
            if hit:
                counts[hit] += int(n)
                break
        else:
            counts["other"] += int(n)
    measured = sum(v for k, v in counts.items() if not k.startswith("start-up"))
    return [(k, 100 * v / measured) for k, v in counts.most_common() if not k.startswith("start-up")]


def top_lines(path: str, n: int = 15) -> list[tuple[str, float]]:
    """Innermost frames (function, file:line) with the most samples."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in open(path):
        stack, _, k = line.rstrip().rpartition(" ")
        if any(mark in stack for mark in STARTUP_MARKS):
            continue
        counts[stack.split(";")[-1]] += int(k)
        total += int(k)
    return [(frame, 100 * v / total) for frame, v in counts.most_common(n)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", default="boomnet")
    ap.add_argument("--job", choices=("blast", "echo"), default="blast")
    ap.add_argument("--handler", choices=("len", "orjson"), default="len")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--count", type=int, default=2_000_000, help="messages (blast) or round trips (echo)")
    ap.add_argument("--py-spy", dest="py_spy", default=None, help="path of a py-spy binary: sample natively")
    ap.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="boomnet-prof-") as tmp:
        tls = make_tls_files(tmp) if args.tls else None
        with start_feed_server(tls) as server:
            url = server.url(f"/blast?n={args.count}" if args.job == "blast" else "/echo")
            client = [sys.executable, "-m", "perf.clients", args.client, "--url", url, "--job", args.job,
                      "--count", str(args.count), "--handler", args.handler, "--warmup", "1000"]  # fmt: skip
            if tls is not None:
                client += ["--ca-file", tls.ca]
            if args.py_spy:
                out = os.path.join(tmp, "stacks.txt")
                cmd = [args.py_spy, "record", "--native", "-r", str(args.rate), "-f", "raw", "-o", out, "--"] + client
                proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
                print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:])
                print("\n| where | % of samples (start-up excluded) |\n|---|---:|")
                for name, pct in summarise_collapsed(out):
                    print(f"| {name} | {pct:.1f} |")
                print("\n| innermost frame | % of samples (start-up excluded) |\n|---|---:|")
                for frame, pct in top_lines(out):
                    print(f"| `{frame}` | {pct:.1f} |")
            else:
                prof_path = os.path.join(tmp, "prof.out")
                cmd = [sys.executable, "-m", "cProfile", "-o", prof_path, "-m", "perf.clients"] + client[3:]
                proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
                print(proc.stdout.strip()[-300:] or proc.stderr[-500:])
                buf = io.StringIO()
                pstats.Stats(prof_path, stream=buf).sort_stats("tottime").print_stats(15)
                print(buf.getvalue())


if __name__ == "__main__":
    main()
