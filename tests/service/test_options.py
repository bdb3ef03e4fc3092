"""ServiceOptions / Backoff validation at the exact boundaries (limit - e, limit, limit + e):
a bad value is a LocalError at construction, a good one constructs."""

from __future__ import annotations

import math

import pytest

from boomnet.errors import LocalError
from boomnet.service import Backoff, ServiceOptions

E = 1e-9


@pytest.mark.parametrize(
    "ok",
    [(0.0, 1.0, 0.0), (0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (E, 1.0 + E, E), (1.0, 2.0, 30.0)],
)
def test_backoff_accepts_the_boundaries(ok: tuple[float, float, float]) -> None:
    Backoff(*ok)


@pytest.mark.parametrize(
    "bad",
    [(-E, 1.0, 1.0), (1.0, 1.0 - E, 1.0), (1.0, 2.0, 1.0 - E), (math.inf, 2.0, math.inf), (1.0, math.nan, 2.0)],
)
def test_backoff_refuses_past_the_boundaries(bad: tuple[float, float, float]) -> None:
    with pytest.raises(LocalError):
        Backoff(*bad)


def test_backoff_next_doubles_and_caps() -> None:
    b = Backoff(1.0, 2.0, 5.0)
    assert [b.next(d) for d in (0.0, 1.0, 2.0, 2.5, 3.0, 5.0)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("name", ["dns_timeout", "connect_timeout", "busy_step"])
def test_positive_seconds_boundaries(name: str) -> None:
    ServiceOptions(**{name: E})
    for bad in (0, -E, math.inf, math.nan, "1"):
        with pytest.raises(LocalError):
            ServiceOptions(**{name: bad})


def test_healthy_after_boundaries() -> None:
    assert ServiceOptions(healthy_after=0).healthy_after == 0  # every connection healthy: allowed
    ServiceOptions(healthy_after=E)
    for bad in (-E, math.inf, math.nan, None):
        with pytest.raises(LocalError):
            ServiceOptions(healthy_after=bad)  # type: ignore[arg-type]


def test_backoff_type_policy_and_check_every() -> None:
    with pytest.raises(LocalError):
        ServiceOptions(backoff=(1.0, 2.0, 30.0))  # type: ignore[arg-type]
    with pytest.raises(LocalError):
        ServiceOptions(on_error="ignore")  # type: ignore[arg-type]
    assert ServiceOptions(on_error="raise").on_error == "raise"
    assert ServiceOptions(check_every=1).check_every == 1
    for bad in (0, -1, True, 1.5):
        with pytest.raises(LocalError):
            ServiceOptions(check_every=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ServiceOptions(healthy_afer=1.0)  # type: ignore[call-arg]
    assert ServiceOptions().replace(healthy_after=5.0).healthy_after == 5.0
