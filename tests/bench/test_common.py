"""The statistics the benchmark write-ups rest on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.common import gini, macro_f1_interval, percentile, reduction_interval
from warmline.triage.evaluate import label_scores


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


def test_macro_f1_interval_brackets_the_figure_and_is_exact_for_perfect_decisions() -> None:
    rng = np.random.default_rng(3)
    truth = rng.random((400, 4)) < 0.3
    noisy = truth ^ (rng.random((400, 4)) < 0.15)
    figure = label_scores(truth, noisy)[0]
    low, high = macro_f1_interval(truth, noisy)
    assert low < figure < high
    assert high - low < 0.2
    assert (low, high) == macro_f1_interval(truth, noisy), "seeded"
    assert macro_f1_interval(truth, truth) == (1.0, 1.0)
    with pytest.raises(ValueError, match="same rows and labels"):
        macro_f1_interval(truth, noisy[:10])
