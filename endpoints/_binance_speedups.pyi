"""Type stubs of the optional C fast path (_binance_speedups.c); loaded by binance_checks only."""

from collections.abc import Sequence
from typing import Any

def first_bad(
    fields: dict[type, tuple[str, ...]], levels: dict[type, tuple[str, ...]], records: Sequence[Any], /
) -> int:
    """Index of the first record with a field in ``fields[type(record)]`` that is not a plain
    decimal string, or one in ``levels[type(record)]`` that is not a list of ``(price, qty)``
    tuples of them; -1 if none."""
