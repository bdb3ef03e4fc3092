"""The layer map of ``shared/design.md`` as a test: imports point one way.

Read with ``ast`` (nothing is imported), so a violation fails here even if it would only be
reached at run time:

* ``boomnet.stream`` imports nothing above it (no service, no protocol package);
* ``boomnet.service`` imports no protocol package (ws, http, msg, rpc, fix) and nothing beside
  the cake (bus, cluster, testing);
* protocol *cores* (the sans-I/O modules named below) import neither streams nor the service;
* ``endpoints/`` (venue code) uses only boomnet's public API: ``boomnet.<package>`` names, never
  a private module (``boomnet.ws.client``) or a ``_private`` name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("ws", "http", "msg", "rpc", "fix")
BESIDE = ("bus", "cluster", "testing")
# sans-I/O cores: fed bytes, return events and bytes; they never touch a socket or the service
CORES = [
    "boomnet/ws/protocol.py",
    "boomnet/ws/decoder.py",
    "boomnet/ws/encoder.py",
    "boomnet/ws/frame.py",
    "boomnet/buffer.py",
    "boomnet/http/head.py",
    "boomnet/http/parser.py",
    "boomnet/http/request.py",
    "boomnet/fix/parser.py",
    "boomnet/fix/message.py",
    "boomnet/fix/encoder.py",
    "boomnet/fix/dictionary.py",
    "boomnet/fix/session.py",
    "boomnet/fix/store.py",
    "boomnet/rpc/protocol.py",
    "boomnet/rpc/client.py",
    "boomnet/rpc/server.py",
    "boomnet/bus/nats/protocol.py",
    "boomnet/bus/envelope.py",
    "boomnet/msg/codec.py",
    "boomnet/msg/datagram.py",
]


def _modules(path: Path) -> list[tuple[str, int]]:
    """``(absolute module name, line)`` of every import in ``path``, relative ones resolved."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1])  # the package a relative import starts from (also for __init__)
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            # ``from boomnet import ws`` imports the package ws
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in files:
        for name, line in _modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


def test_stream_imports_nothing_above_it() -> None:
    above = tuple(f"boomnet.{p}" for p in ("service", *PROTOCOLS, *BESIDE))
    assert _violations(_files("boomnet/stream"), above) == []


def test_service_imports_no_protocol_package() -> None:
    above = tuple(f"boomnet.{p}" for p in (*PROTOCOLS, *BESIDE))
    assert _violations(_files("boomnet/service"), above) == []


@pytest.mark.parametrize("core", CORES)
def test_protocol_cores_touch_no_stream_or_service(core: str) -> None:
    path = ROOT / core
    if not path.exists():
        pytest.skip(f"n/a: {core} does not exist (yet)")
    assert _violations([path], ("boomnet.stream", "boomnet.service", "socket", "selectors")) == []


def _venue_violations(files: list[Path]) -> list[str]:
    packages = {p.name for p in (ROOT / "boomnet").iterdir() if (p / "__init__.py").exists()}
    public = packages | {"errors", "url"}
    bad = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
                if node.module == "boomnet":
                    names = [f"boomnet.{alias.name}" for alias in node.names]
                elif (node.module or "").startswith("boomnet."):
                    names += [f"{node.module}:{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if not (name == "boomnet" or name.startswith("boomnet.")):
                    continue
                module, _, imported = name.partition(":")
                parts = module.split(".")
                if len(parts) > 2 or (len(parts) == 2 and parts[1] not in public) or imported.startswith("_"):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    return bad


def test_venue_code_uses_only_the_public_api() -> None:
    assert _venue_violations(_files("endpoints")) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checks above must be able to fail: a planted upward import is found."""
    planted = ROOT / "boomnet" / "stream" / "_planted_for_test.py"
    planted.write_text(
        "from ..ws import WebSocket\nimport boomnet.service\n"
        "from boomnet.ws.client import WebSocket as W\nfrom boomnet.ws import _speedups\n"
    )
    try:
        found = _violations([planted], ("boomnet.ws", "boomnet.service"))
        venue = _venue_violations([planted])
    finally:
        planted.unlink()
    assert any(f.endswith("imports boomnet.ws") for f in found)
    assert any(f.endswith("imports boomnet.service") for f in found)
    assert {v.split(" imports ")[1] for v in venue} == {
        "boomnet.ws.client",
        "boomnet.ws.client:WebSocket",
        "boomnet.ws:_speedups",
    }
