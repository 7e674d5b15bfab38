"""What the benchmarks share: percentiles and running against freshly started local services."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

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
