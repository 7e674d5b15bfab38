"""Agreement between annotators: Krippendorff's alpha per batch, and the labels a majority chose.

Items may carry several labels, so each (item, label) pair is one unit of reliability data coded
present (1) or absent (0) by every annotator who labelled the item, and alpha is computed over all
units with the nominal metric (the `krippendorff` package). Alpha is undefined when every value is
the same (no variation to agree on): then it is None, and the batch is treated as agreeing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import krippendorff
import numpy as np

ItemLabels = Mapping[str, Sequence[str]]
"""One item: annotator id -> the labels they chose."""


def alpha(items: Sequence[ItemLabels], labels: Sequence[str]) -> float | None:
    """Krippendorff's alpha (nominal) of a batch over (item, label) units; None when undefined."""
    annotators = sorted({annotator for item in items for annotator in item})
    if len(annotators) < 2 or not items:
        return None
    columns: list[list[float]] = []
    for item in items:
        for label in labels:
            columns.append(
                [
                    (1.0 if label in item[annotator] else 0.0) if annotator in item else math.nan
                    for annotator in annotators
                ]
            )
    data = np.array(columns, dtype=float).T
    pairable = np.sum(~np.isnan(data), axis=0) >= 2
    data = data[:, pairable]
    if data.size == 0:
        return None
    values = data[~np.isnan(data)]
    if len(set(values.tolist())) < 2:
        return None
    result = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return None if math.isnan(result) else result


def majority(item: ItemLabels) -> list[str]:
    """Labels chosen by more than half of the item's annotators, most chosen first."""
    votes = Counter(label for chosen in item.values() for label in set(chosen))
    needed = len(item) / 2
    return [label for label, count in votes.most_common() if count > needed]


def unanimous(item: ItemLabels) -> bool:
    sets = {frozenset(chosen) for chosen in item.values()}
    return len(sets) == 1


def votes(item: ItemLabels) -> dict[str, int]:
    return dict(Counter(label for chosen in item.values() for label in set(chosen)))
