"""What the benchmarks share: percentiles, the Gini, bootstrap intervals (a cut over days, a
macro-F1 over rows), and running against freshly started local services."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rich.console import Console

from warmline.services import Endpoints, LocalServices, ServiceName


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def run_on_services(
    only: set[ServiceName],
    measure: Callable[[LocalServices, Endpoints], dict[str, Any]],
    show: Callable[[dict[str, Any], Console], None],
    *,
    as_json: bool,
) -> int:
    """Start the services, measure, stop them, and print the summary as a table or JSON."""
    names = ", ".join(sorted(name.value for name in only))
    local = LocalServices(only=set(only))
    with Console(stderr=True).status(f"starting {names}"):
        endpoints = local.start()
    try:
        summary = measure(local, endpoints)
    finally:
        local.stop()
    local.cleanup()
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        show(summary, Console())
    return 0


def gini(values: Sequence[float]) -> float:
    """The Gini coefficient of non-negative values: 0 when all are equal, towards 1 when one
    person carries everything. NaN for no values; 0 when all are zero."""
    if not values:
        return math.nan
    ordered = sorted(values)
    total = sum(ordered)
    if total == 0:
        return 0.0
    count = len(ordered)
    weighted = sum((rank + 1) * value for rank, value in enumerate(ordered))
    return (2 * weighted) / (count * total) - (count + 1) / count


def reduction_interval(
    baseline: Sequence[float], candidate: Sequence[float], confidence: float = 0.95
) -> tuple[float, float]:
    """How much lower the candidate's mean is than the baseline's (`1 - mean(candidate) /
    mean(baseline)`, the figure a verdict reports), as a paired percentile-bootstrap interval
    over the days: each resample draws whole days, both strategies' figures of a day together.

    Days differ far more than strategies do (one late crisis moves a day's peak by 100), so
    this says whether a gap to a target is more than the luck of the days. Seeded: the same
    figures give the same interval. (nan, nan) for fewer than two days.
    """
    if len(baseline) != len(candidate):
        raise ValueError("baseline and candidate need one figure per day each")
    if len(baseline) < 2:
        return math.nan, math.nan

    def lower(base: np.ndarray, cand: np.ndarray, axis: int = -1) -> np.ndarray:
        result: np.ndarray = 1 - np.mean(cand, axis=axis) / np.mean(base, axis=axis)
        return result

    samples = (np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float))
    return _percentile_interval(samples, lower, confidence, 5000, paired=True)


def macro_f1_interval(
    truth: np.ndarray, predicted: np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """A percentile-bootstrap interval of the macro-F1 of rows x labels matrices, resampling
    rows: how far another sample of the same size (a withheld test split) could land from the
    figure measured on this one. Seeded. (nan, nan) for fewer than two rows."""
    if truth.shape != predicted.shape:
        raise ValueError("truth and predicted need the same rows and labels")
    if len(truth) < 2:
        return math.nan, math.nan
    from warmline.triage.evaluate import label_scores

    def macro(rows: np.ndarray) -> float:
        return label_scores(truth[rows], predicted[rows])[0]

    return _percentile_interval((np.arange(len(truth)),), macro, confidence, 2000, vectorized=False)


def _percentile_interval(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    confidence: float,
    resamples: int,
    **options: Any,
) -> tuple[float, float]:
    """scipy's percentile bootstrap with a fixed seed, rounded to 4 places."""
    from scipy.stats import bootstrap

    found = bootstrap(
        samples,
        statistic,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(0),
        **options,
    )
    low, high = found.confidence_interval
    return round(float(low), 4), round(float(high), 4)
