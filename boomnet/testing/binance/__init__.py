"""A local Binance-compatible exchange for tests and demos (see :mod:`.exchange`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .exchange import Exchange

__all__ = ["Exchange"]


def __getattr__(name: str) -> Any:
    # lazy, so ``python -m boomnet.testing.binance.exchange`` does not import the module twice
    if name == "Exchange":
        from .exchange import Exchange

        return Exchange
    raise AttributeError(name)
