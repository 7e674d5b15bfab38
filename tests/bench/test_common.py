"""The statistics the benchmark write-ups rest on."""

from __future__ import annotations

import math

import pytest

from bench.common import gini, percentile, reduction_interval


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


def test_reduction_interval_brackets_the_cut_and_is_exact_when_every_day_agrees() -> None:
    baseline = [335.0, 300.0, 400.0, 280.0, 390.0, 310.0]
    candidate = [260.0, 250.0, 300.0, 270.0, 240.0, 300.0]
    low, high = reduction_interval(baseline, candidate)
    cut = 1 - sum(candidate) / sum(baseline)
    assert low < cut < high
    assert low > 0
    assert high < 0.5
    assert (low, high) == reduction_interval(baseline, candidate), "seeded"
    # Every day cut by half: no resample of the days can say otherwise.
    assert reduction_interval([300.0, 200.0, 400.0], [150.0, 100.0, 200.0]) == (0.5, 0.5)


def test_reduction_interval_needs_days_in_pairs() -> None:
    assert all(math.isnan(x) for x in reduction_interval([300.0], [200.0]))
    with pytest.raises(ValueError, match="one figure per day each"):
        reduction_interval([300.0, 200.0], [200.0])
