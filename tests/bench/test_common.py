"""The statistics the benchmark write-ups rest on."""

from __future__ import annotations

import math

import pytest

from bench.common import gini, percentile


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0, 3.0, 3.0], 0.0),
        ([0.0, 0.0, 0.0, 10.0], 0.75),
        ([1.0, 2.0, 3.0, 4.0], 0.25),
        ([0.0, 0.0], 0.0),
    ],
)
def test_gini(values: list[float], expected: float) -> None:
    assert gini(values) == pytest.approx(expected)


def test_gini_ignores_order_and_scale() -> None:
    assert gini([4.0, 1.0, 3.0, 2.0]) == pytest.approx(gini([10.0, 20.0, 30.0, 40.0]))


def test_gini_of_nothing_is_nan() -> None:
    assert math.isnan(gini([]))


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert math.isnan(percentile([], 0.5))
