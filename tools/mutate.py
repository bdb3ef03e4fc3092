"""A small, curated mutation-testing run over boomnet's safety-critical code.

Why our own and not mutmut/cosmic-ray: both mutate whole packages and run the whole suite per
mutant, which on a shared 2-core machine takes hours; the question here is narrower — *does a
test fail when a safety guard is broken?* — so each target names the functions that hold the
guards and the tests that must catch them, and only those run per mutant.

Operators (each applied alone, at one place): comparison flips (``<``/``<=``, ``>``/``>=``,
``==``/``!=``, ``in``/``not in``, ``is``/``is not``), ``and``/``or``, dropping a ``not``, integer
constants ±1, ``+``/``-``, ``raise`` replaced by ``pass``, ``return True``/``False`` swapped. A
mutant is written by unparsing the mutated module (formatting is irrelevant to the tests), the
target's tests run with ``-x`` under a timeout, and the original file is always restored.

    python tools/mutate.py                      # every target; report to perf/results/mutation.md
    python tools/mutate.py --only http_parser   # one target
    python tools/mutate.py --list               # the mutants, without running anything

A *survivor* is a mutant no test caught: either a missing test or an equivalent mutant (a
change that cannot alter behaviour); the report lists each with its line so a person can judge.
An equivalent mutant is declared where it lives, on the mutated line, with the reason:

    if n <= limit:  # equivalent-mutant: LtE -> Lt: n == limit is refused by the caller first

Declared mutants are not run; the report lists every one of them with its reason, apart from the
survivors, so a reviewer can disagree. A declaration that matches no mutant is reported (stale).
Not a CI gate: the report is kept like a perf result (``perf/results/mutation.md``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """Functions (``Class.method`` or ``function``; empty = the whole module) and their tests."""

    name: str
    path: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


PURE = {"BOOMNET_PURE_PYTHON": "1"}

# The safety-critical list of issue 19. Function names follow the code; a name that no longer
# exists is reported (so the list cannot silently go stale).
HTTP_UNIT = (  # cheapest and most often failing first: a killed mutant stops at its first failure (-x)
    "tests/http/test_http_guards.py",
    "tests/http/test_http_boundaries.py",
    "tests/http/test_http_head_boundaries.py",
    "tests/http/test_http_head.py",
    "tests/http/test_http_request.py",
    "tests/http/test_http_parser.py",
    "tests/http/test_http_response.py",
    "tests/http/test_http_connection_state.py",
    "tests/http/test_http_options.py",
    "tests/http/test_http_malformed.py",
    "tests/http/test_http_parser_fuzz.py",
)
WS_UNIT = ("tests/ws/test_decoder_edges.py", *(f"tests/ws/test_deflate.py::{t}" for t in (
               "test_compressed_messages_inflate_with_and_without_context_takeover",
               "test_fragmented_compressed_message_with_control_frame_between", "test_rsv1_misuse_is_a_protocol_error",
               "test_corrupt_data_and_invalid_utf8_after_inflating", "test_deflate_bomb_is_stopped_at_max_message_size")),
           "tests/ws/test_codec.py", "tests/ws/test_properties.py", "tests/ws/test_raw_peer.py", "tests/ws/test_contract.py")
WS_PROTOCOL = (*WS_UNIT, "tests/ws/test_client_faults.py", "tests/ws/test_server_role.py", "tests/ws/test_liveness.py")
SERVICE = ("tests/service/test_options.py", "tests/service/test_io_service.py", "tests/service/test_ws_endpoint.py", "tests/service/test_selectors.py",
           "tests/service/test_policy.py", "tests/service/test_wait.py")
RECORD = ("tests/stream/test_recording.py", "tests/stream/test_redact.py", "tests/stream/test_redact_peers.py")
REPLAY = ("tests/stream/test_recording.py", "tests/stream/test_replay_file.py", "tests/stream/test_redact_peers.py")
SCHEDULER = ("tests/service/test_scheduler.py", "tests/service/test_policy.py", "tests/service/test_io_service.py")
SELECTOR = ("tests/service/test_selectors.py", "tests/service/test_wait.py")
TLS = ("tests/stream/test_tls_engines.py", "tests/stream/test_tls.py", "tests/stream/test_tls_guards.py",
       "tests/stream/test_tls_close.py", "tests/stream/test_contract.py")

# the codec files first: the boundary tests fail fast (-x), the properties only catch the rest
MSG_UNIT = ("tests/msg/test_codec_bounds.py", "tests/msg/test_datagram_bounds.py", "tests/msg/test_codecs.py",
            "tests/msg/test_properties.py")

TARGETS: tuple[Target, ...] = (
    Target("tls_identity", "boomnet/stream/tls.py", ("TlsStream.__init__",), TLS),
    Target("tls_engines", "boomnet/stream/tls_engines.py", (), TLS),
    Target("http_parser", "boomnet/http/parser.py", (), HTTP_UNIT),
    Target("http_request", "boomnet/http/request.py", (), HTTP_UNIT),
    Target("http_head", "boomnet/http/head.py", (), HTTP_UNIT),
    Target("ws_decoder", "boomnet/ws/decoder.py", (), WS_UNIT, PURE),
    Target("ws_frame", "boomnet/ws/frame.py", (), WS_UNIT, PURE),
    Target("ws_protocol", "boomnet/ws/protocol.py", (), WS_PROTOCOL, PURE),
    # the back-off moved from service/conn.py to service/options.py in the refactor
    Target("service_backoff", "boomnet/service/options.py", ("Backoff.__post_init__", "Backoff.next"), SERVICE),
    Target("service_lifecycle", "boomnet/service/lifecycle.py", (), SERVICE),
    Target("recording", "boomnet/stream/recording.py", (), ("tests/stream/test_recording.py", "tests/stream/test_replay_file.py")),
    Target("recording_file", "boomnet/stream/recording_file.py", (), ("tests/stream/test_replay_file.py", "tests/stream/test_recording.py")),
    Target("redact", "boomnet/stream/redact.py", (), ("tests/stream/test_redact.py",)),
    Target("recorded", "boomnet/stream/recorded.py", (), RECORD),
    Target("replay", "boomnet/stream/replay.py", (), REPLAY),
    Target("record_sink", "boomnet/stream/record_sink.py", (), RECORD),
    Target("service_scheduler", "boomnet/service/scheduler.py", (), SCHEDULER),
    Target("service_select_base", "boomnet/service/select/base.py", (), SELECTOR),
    Target("msg_codecs", "boomnet/msg/codec.py", (), MSG_UNIT, PURE),
    Target("msg_datagram", "boomnet/msg/datagram.py", (), MSG_UNIT, PURE),
    Target("fix_parser", "boomnet/fix/parser.py", (), ("tests/fix/test_parser_bounds.py", "tests/fix/test_codec.py",
                                                       "tests/fix/test_codec_props.py"), PURE),
    Target("nats_protocol", "boomnet/bus/nats/protocol.py", (), ("tests/bus/test_nats_protocol_bounds.py",
                                                                 "tests/bus/test_nats_protocol.py")),
    Target("rpc_protocol", "boomnet/rpc/protocol.py", (), ("tests/rpc/test_rpc_envelope_bounds.py", "tests/rpc/test_rpc_protocol.py")),
    Target("h2_demux", "boomnet/http/h2/demux.py", (), ("tests/http2/test_h2_fastpath.py", "tests/http2/test_h2_demux_edges.py",
                                                        "tests/http2/test_h2_frames.py", "tests/http2/test_h2_speedups.py")),
    Target("http_body", "boomnet/http/body.py", (), ("tests/http/test_body.py", "tests/http2/test_h2_fastpath.py")),
)

_CMP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    target: Target
    index: int  # position in the walk of the mutable nodes
    line: int
    what: str
    equivalent: str = ""  # the declared reason, when the line says this mutant is equivalent


_PRAGMA = re.compile(r"#\s*equivalent-mutant:\s*(?P<whats>[^:]+?)\s*:\s*(?P<why>.+)$")


def _declared(line: str) -> dict[str, str]:
    """``{what: reason}`` declared on one source line (``what`` as the report spells it)."""
    m = _PRAGMA.search(line)
    if not m:
        return {}
    return {w.strip(): m.group("why").strip() for w in m.group("whats").split(",") if w.strip()}


def _scopes(tree: ast.Module, functions: tuple[str, ...]) -> tuple[list[ast.AST], list[str]]:
    """The function nodes named in ``functions`` (all of the module if empty) and missing names."""
    if not functions:
        return [tree], []
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{item.name}"] = item
    return [found[f] for f in functions if f in found], [f for f in functions if f not in found]


def _is_docstring_or_annotation(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    return isinstance(parent, (ast.AnnAssign, ast.arg)) and getattr(parent, "annotation", None) is node


def _points(tree: ast.Module, target: Target) -> Iterator[tuple[ast.AST, int, str]]:
    """``(node, variant, description)`` for each mutation, in a stable order."""
    scopes, _ = _scopes(tree, target.functions)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for scope in scopes:
        for node in ast.walk(scope):
            if _is_docstring_or_annotation(node, parents):
                continue
            if isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    if type(op) in _CMP:
                        yield node, i, f"{type(op).__name__} -> {_CMP[type(op)].__name__}"
            elif isinstance(node, ast.BoolOp):
                yield node, 0, f"{type(node.op).__name__} -> {'Or' if isinstance(node.op, ast.And) else 'And'}"
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                yield node, 0, "drop not"
            elif isinstance(node, ast.Constant) and type(node.value) is int:
                if isinstance(parents.get(node), (ast.Compare, ast.BinOp, ast.Subscript, ast.Slice, ast.Call)):
                    yield node, 0, f"{node.value} -> {node.value + 1}"
                    yield node, 1, f"{node.value} -> {node.value - 1}"
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                yield node, 0, "Add -> Sub" if isinstance(node.op, ast.Add) else "Sub -> Add"
            elif isinstance(node, ast.Raise) and node.exc is not None:
                yield node, 0, "raise -> pass"
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and type(node.value.value) is bool:
                yield node, 0, f"return {node.value.value} -> {not node.value.value}"


def _apply(node: ast.AST, variant: int, parents: dict[ast.AST, ast.AST]) -> None:
    if isinstance(node, ast.Compare):
        node.ops[variant] = _CMP[type(node.ops[variant])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        parent = parents[node]
        for name, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, name, node.operand)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if item is node:
                        value[i] = node.operand
    elif isinstance(node, ast.Constant):
        node.value = node.value + (1 if variant == 0 else -1)
    elif isinstance(node, ast.BinOp):
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif isinstance(node, ast.Raise):
        parent = parents[node]
        for _, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is node:
                        value[i] = ast.Pass()
    elif isinstance(node, ast.Return):
        assert isinstance(node.value, ast.Constant)
        node.value.value = not node.value.value


def mutants(target: Target) -> tuple[list[Mutant], list[str]]:
    path = ROOT / target.path
    if not path.exists():
        return [], [f"{target.path} does not exist"]
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, target.path)
    _, missing = _scopes(tree, target.functions)
    found: list[Mutant] = []
    used: set[tuple[int, str]] = set()
    for i, (node, _variant, what) in enumerate(_points(tree, target)):
        line = getattr(node, "lineno", 0)
        reason = _declared(lines[line - 1]).get(what, "") if 0 < line <= len(lines) else ""
        if reason:
            used.add((line, what))
        found.append(Mutant(target, i, line, what, reason))
    notes = [f"{target.path}: no function {m}" for m in missing]
    for n, text in enumerate(lines, 1):
        for what in _declared(text):
            if (n, what) not in used:
                notes.append(f"{target.path}:{n}: stale equivalent-mutant declaration '{what}' (no such mutant)")
    return found, notes


def mutated_source(mutant: Mutant) -> str:
    source = (ROOT / mutant.target.path).read_text()
    tree = ast.parse(source, mutant.target.path)
    tree_copy = copy.deepcopy(tree)
    parents = {child: node for node in ast.walk(tree_copy) for child in ast.iter_child_nodes(node)}
    node, variant, _ = list(_points(tree_copy, mutant.target))[mutant.index]
    _apply(node, variant, parents)
    return ast.unparse(ast.fix_missing_locations(tree_copy)) + "\n"


def _run_tests(target: Target, timeout: float) -> tuple[str, float]:
    env = {**os.environ, **target.env, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:boomnet", "-m", "not slow and not autobahn",
           "--timeout", "60", *target.tests]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    elapsed = time.monotonic() - started
    return ("survived" if proc.returncode == 0 else "killed"), elapsed


def _write_report(args: argparse.Namespace, rows: list[tuple[str, int, int, int, int, int]], survivors: list[str],
                  equivalents: list[str], notes: list[str], *, final: bool) -> None:
    lines = [f"# Mutation run{': ' + args.title if args.title else ''}", "",
             f"`python tools/mutate.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             "killed + timed out = caught; score = caught / (mutants - declared equivalent)."
             + ("" if final else " (in progress: targets so far)"), "",
             "| target | mutants | killed | timed out | declared equivalent | survived | score |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, n, k, t, e, sv in rows:
        score = f"{100 * (k + t) / (n - e):.0f}%" if n > e else "-"
        lines.append(f"| {name} | {n} | {k} | {t} | {e} | {sv} | {score} |")
    lines += ["", "## Survivors", "", *(survivors or ["none"]),
              "", "## Declared equivalent (not run; the reason is on the mutated line)", "", *(equivalents or ["none"]),
              "", "## Notes", "", *(f"- {n}" for n in notes or ["none"])]
    Path(ROOT / args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(ROOT / args.report).write_text("\n".join(lines) + "\n")
    if final:
        print("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="target name (repeatable)")
    ap.add_argument("--list", action="store_true", help="list mutants, run nothing")
    ap.add_argument("--report", default="perf/results/mutation.md")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    rows: list[tuple[str, int, int, int, int, int]] = []
    survivors: list[str] = []
    equivalents: list[str] = []
    notes: list[str] = []
    for target in targets:
        found, missing = mutants(target)
        notes += missing
        if args.list:
            for m in found:
                print(f"{target.name} {target.path}:{m.line} {m.what}" + (f"  [declared equivalent: {m.equivalent}]" if m.equivalent else ""))
            continue
        if not found:
            continue
        path = ROOT / target.path
        original = path.read_text()
        status, base = _run_tests(target, 900)
        if status != "survived":
            notes.append(f"{target.name}: the unmutated tests do not pass ({status}); skipped")
            continue
        killed = timeouts = declared = 0
        try:
            for m in found:
                if m.equivalent:
                    declared += 1
                    equivalents.append(f"- `{target.path}:{m.line}` {m.what}: {m.equivalent}")
                    continue
                path.write_text(mutated_source(m))
                result, _ = _run_tests(target, max(30.0, base * 4))
                path.write_text(original)
                if result == "killed":
                    killed += 1
                elif result == "timeout":
                    timeouts += 1  # a mutant that hangs the tests is caught (the suite did not pass)
                else:
                    survivors.append(f"- `{target.path}:{m.line}` {m.what}")
                print(f"{target.name}:{m.line} {m.what}: {result}", flush=True)
        finally:
            path.write_text(original)
        n = len(found)
        rows.append((target.name, n, killed, timeouts, declared, n - killed - timeouts - declared))
        _write_report(args, rows, survivors, equivalents, notes, final=False)
    if args.list:
        return 0
    _write_report(args, rows, survivors, equivalents, notes, final=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
