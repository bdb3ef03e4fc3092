#!/usr/bin/env python
"""Run the Autobahn TestSuite client cases against ``boomnet.ws`` and summarise the verdicts.

    .venv/bin/python tools/autobahn.py                      # every case (517; 12.*/13.* need deflate)
    .venv/bin/python tools/autobahn.py --cases '1.*' --cases '2.*' --agent boomnet
    .venv/bin/python tools/autobahn.py --exclude '9.*' --json summary.json --report-dir reports

The fuzzing server is kosoku (a native Autobahn implementation), started as a subprocess on a
free loopback port with its working directory in the report directory. The client echoes every
text/binary message with the same opcode (``assemble=True``: fragmented messages arrive whole) and
lets ``boomnet.ws`` answer pings and closes. Every case has a time limit, so nothing hangs.

Exit status: 0 when no non-compression case (outside 12.*/13.*) FAILED, 1 otherwise, 2 when the
run itself broke (server did not start, no report).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from boomnet.errors import BoomnetError, ConnectionClosed, WebSocketProtocolError
from boomnet.ws import Opcode, connect

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
PASSING = frozenset(("OK", "NON-STRICT", "INFORMATIONAL"))
#: behaviorClose verdicts that fail a case even when its message exchange passed
BAD_CLOSE = frozenset(("FAILED", "UNCLEAN"))


def is_compression_case(case_id: str) -> bool:
    """12.* and 13.* exercise permessage-deflate, which boomnet does not negotiate."""
    return case_id.startswith(("12.", "13."))


def case_sort_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split("."))


# --- the fuzzing server ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kosoku_command() -> list[str]:
    script = Path(sys.executable).with_name("kosoku")
    if script.exists():
        return [str(script)]
    found = shutil.which("kosoku")
    if found:
        return [found]
    return [sys.executable, "-c", "import kosoku._cli as cli; cli.main()"]


class FuzzingServer:
    """kosoku in fuzzingserver mode, as a subprocess whose cwd is ``workdir``."""

    def __init__(self, workdir: Path, cases: list[str], exclude: list[str]) -> None:
        self.workdir = workdir
        self.cases = cases
        self.exclude = exclude
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "fuzzingserver.log"

    def start(self, attempts: int = 3, timeout: float = 15.0) -> None:
        for _ in range(attempts):
            self.port = _free_port()
            cmd = [*_kosoku_command(), "-m", "fuzzingserver", f"127.0.0.1:{self.port}"]
            for pattern in self.cases:
                cmd += ["-i", pattern]
            for pattern in self.exclude:
                cmd += ["-x", pattern]
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if b"listening on" in self.log_path.read_bytes():
                    return
                if self.proc.poll() is not None:
                    break  # most likely lost the race for the port: try another
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"fuzzing server did not start; log:\n{self.log_text()}")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout: float) -> int | None:
        """Wait for the server to write its reports and exit."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# --- the client under test ---------------------------------------------------------------------


def run_echo(url: str, limit: float, **ws_options: Any) -> str:
    """Run one case: echo every data message until the connection ends. Returns how it ended."""
    deadline = time.monotonic() + limit
    try:
        ws = connect(url, timeout=min(limit, 10.0), **ws_options)
    except BoomnetError as exc:
        return f"connect failed: {exc!r}"
    TEXT, BINARY = Opcode.TEXT, Opcode.BINARY
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            ws.wait_io(min(remaining, 0.05))
            for frame in ws.read_batch():
                opcode = frame.opcode
                if opcode is TEXT:
                    ws.send_text(frame.payload)
                elif opcode is BINARY:
                    ws.send_binary(frame.payload)
    except WebSocketProtocolError as exc:
        return f"client failed the connection: {exc}"
    except ConnectionClosed as exc:
        return f"closed: {type(exc).__name__}"
    finally:
        ws.close()
        _drain_close(ws, deadline)


def _drain_close(ws: Any, deadline: float) -> None:
    """After ``close()``: read until the close handshake ends (bounded by ``deadline``)."""
    end = min(deadline, time.monotonic() + 2.0)
    try:
        while not ws.closed and time.monotonic() < end:
            ws.wait_io(0.05)
            ws.read_batch()
    except BoomnetError:
        pass
    finally:
        ws.stream.close()


def get_case_count(base: str, limit: float = 10.0) -> int:
    ws = connect(f"{base}/getCaseCount", timeout=limit)
    deadline = time.monotonic() + limit
    count: int | None = None
    try:
        while count is None and time.monotonic() < deadline:
            ws.wait_io(0.05)
            for frame in ws.read_batch():
                if frame.opcode is Opcode.TEXT:
                    count = int(frame.text())
    except ConnectionClosed:
        pass
    finally:
        ws.close()
        _drain_close(ws, deadline)
    if count is None:
        raise RuntimeError("the fuzzing server did not send a case count")
    return count


def update_reports(base: str, agent: str, limit: float = 10.0) -> None:
    ws = connect(f"{base}/updateReports?agent={agent}", timeout=limit)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            ws.wait_io(0.05)
            ws.read_batch()
    except ConnectionClosed:
        pass
    finally:
        ws.close()
        _drain_close(ws, deadline)


# --- the summary ---------------------------------------------------------------------------------


@dataclass
class Summary:
    agent: str
    duration_s: float
    cases_run: int
    core: Counter = field(default_factory=Counter)  # behavior counts outside 12.*/13.*
    compression: Counter = field(default_factory=Counter)  # behavior counts of 12.*/13.*
    core_close: Counter = field(default_factory=Counter)  # behaviorClose counts outside 12.*/13.*
    failed: list[dict[str, Any]] = field(default_factory=list)  # non-passing core cases, with reasons
    lenient: dict[str, str] = field(default_factory=dict)  # core case id -> NON-STRICT / INFORMATIONAL
    client_outcomes: dict[str, str] = field(default_factory=dict)  # timeouts / connect failures only

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)  # Counters become plain dicts below (asdict mangles dict subclasses)
        for name in ("core", "compression", "core_close"):
            data[name] = dict(getattr(self, name))
        data["ok"] = self.ok
        return data


def summarise(
    report_dir: Path, agent: str, duration: float, outcomes: dict[str, str], compression: bool = False
) -> Summary:
    servers = report_dir / "reports" / "servers"
    index = json.loads((servers / "index.json").read_text())
    cases: dict[str, dict[str, Any]] = index.get(agent, {})
    summary = Summary(agent, round(duration, 1), len(cases), client_outcomes=outcomes)
    for case_id in sorted(cases, key=case_sort_key):
        entry = cases[case_id]
        behavior, close = entry["behavior"], entry.get("behaviorClose", "")
        if is_compression_case(case_id):
            summary.compression[behavior] += 1
            if compression and behavior not in PASSING:
                # with --compression the deflate cases are judged too (UNIMPLEMENTED is a failure)
                detail = _case_detail(servers / entry["reportfile"])
                summary.failed.append({"id": case_id, "behavior": behavior, "behaviorClose": close, **detail})
            continue
        summary.core[behavior] += 1
        summary.core_close[close] += 1
        if behavior in ("NON-STRICT", "INFORMATIONAL"):
            summary.lenient[case_id] = behavior
        if behavior not in PASSING or close in BAD_CLOSE:
            detail = _case_detail(servers / entry["reportfile"])
            summary.failed.append({"id": case_id, "behavior": behavior, "behaviorClose": close, **detail})
    return summary


def _case_detail(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {
        "description": report.get("description", ""),
        "result": report.get("result", ""),
        "resultClose": report.get("resultClose", ""),
        "remoteCloseCode": report.get("remoteCloseCode"),
    }


def print_summary(summary: Summary, out: Any = sys.stdout) -> None:
    def line(title: str, counts: Counter) -> None:
        total = sum(counts.values())
        parts = ", ".join(f"{b} {counts[b]}" for b in BEHAVIORS if counts[b])
        others = ", ".join(f"{b} {n}" for b, n in counts.items() if b not in BEHAVIORS)
        print(f"  {title:<22} {total:>4} cases: {parts}{', ' + others if others else ''}", file=out)

    print(f"Autobahn client cases for agent {summary.agent!r}: {summary.cases_run} run "
          f"in {summary.duration_s:.1f} s", file=out)
    line("non-compression", summary.core)
    line("compression 12.*/13.*", summary.compression)
    closes = ", ".join(f"{k} {v}" for k, v in sorted(summary.core_close.items()))
    print(f"  {'close verdicts (core)':<22} {closes}", file=out)
    if summary.lenient:
        ids = ", ".join(f"{k} ({v})" for k, v in summary.lenient.items())
        print(f"  {'not OK but passing':<22} {ids}", file=out)
    for case in summary.failed:
        print(f"  FAILED {case['id']} [{case['behavior']} / {case['behaviorClose']}] "
              f"{case.get('result', '')} | {case.get('resultClose', '')}", file=out)
    for case_id, outcome in summary.client_outcomes.items():
        print(f"  note: case {case_id}: {outcome}", file=out)
    print("RESULT: " + ("PASS" if summary.ok else f"FAIL ({len(summary.failed)} non-compression cases)"),
          file=out)


# --- main ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    # boomnet logs a warning each time it fails a connection, which many cases provoke on purpose
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, stream=sys.stderr)
    if args.report_dir:
        report_dir = Path(args.report_dir).resolve()
        report_dir.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        report_dir = Path(tempfile.mkdtemp(prefix="boomnet-autobahn-"))
        keep = args.keep
    server = FuzzingServer(report_dir, args.cases or [], args.exclude or [])
    started = time.monotonic()
    outcomes: dict[str, str] = {}
    try:
        server.start()
        count = get_case_count(server.url)
        for i in range(1, count + 1):
            outcome = run_echo(
                f"{server.url}/runCase?case={i}&agent={args.agent}",
                args.case_timeout,
                **({"compression": "deflate"} if args.compression else {}),
            )
            if outcome == "timeout" or outcome.startswith("connect failed"):
                outcomes[str(i)] = outcome  # case index; the report has the case id
            if args.verbose:
                print(f"case {i}/{count}: {outcome}", file=sys.stderr)
        update_reports(server.url, args.agent)
        if server.wait(args.report_timeout) is None:
            print("fuzzing server did not exit after updateReports; stopping it", file=sys.stderr)
        duration = time.monotonic() - started
        if not (report_dir / "reports" / "servers" / "index.json").exists():
            print(f"no report was written; server log:\n{server.log_text()}", file=sys.stderr)
            return 2
        summary = summarise(report_dir, args.agent, duration, outcomes, args.compression)
        print_summary(summary)
        if args.json:
            Path(args.json).write_text(json.dumps(summary.to_json(), indent=2))
        if keep:
            print(f"reports: {report_dir / 'reports' / 'servers' / 'index.html'}")
        return 0 if summary.ok else 1
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(report_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", action="append", metavar="GLOB", help="case ids or globs to run (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="GLOB", help="case ids or globs to skip (repeatable)")
    parser.add_argument("--agent", default="boomnet", help="agent name in the reports")
    parser.add_argument("--case-timeout", type=float, default=30.0, help="seconds allowed per case")
    parser.add_argument("--report-timeout", type=float, default=120.0, help="seconds to wait for the reports")
    parser.add_argument("--report-dir", help="keep reports here (default: a temporary directory, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary report directory")
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    parser.add_argument(
        "--compression",
        action="store_true",
        help="offer permessage-deflate and judge the 12.*/13.* cases too (a FAILED one fails the run)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each case's outcome")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
