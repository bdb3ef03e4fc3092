"""``python -m perf.clients NAME --url ... --job ...`` — run one benchmark client in this process.

Only the chosen client's library is imported, so each process pays for its own stack only.
"""

from __future__ import annotations

import importlib
import sys

from perf.clients import CLIENTS
from perf.clients.common import parse_args


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in CLIENTS:
        raise SystemExit(f"usage: python -m perf.clients {{{','.join(CLIENTS)}}} --url URL --job JOB ...")
    module_name, func = CLIENTS[argv[0]]
    args = parse_args(argv[1:])
    getattr(importlib.import_module(module_name), func)(args)


if __name__ == "__main__":
    main(sys.argv[1:])
