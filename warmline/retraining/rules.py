"""The promotion rule: better macro-F1 by the margin, and crisis recall that does not drop.

Crisis recall is recall over the crisis labels (`settings.CRISIS_LABELS`) pooled: of all the
(held-out row, crisis label) pairs the gold labels carry, the share the model predicts (score
0.5 or more, as rules read it). Pooling weighs each label by how often it occurs, so a rare
label cannot swing the figure on a handful of rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from warmline.triage.evaluate import Evaluation

# Scores are rounded to four places; a difference below this is equality.
_TOLERANCE = 1e-6


class ModelScore(BaseModel):
    """One model's scores on the round's held-out slice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str | None
    """The registry's name for it (`v3`); None for a model outside the registry."""
    model_version: str
    macro_f1: float
    crisis_recall: float | None
    """None when the held-out slice carries no crisis label."""
    crisis_support: int
    """(row, crisis label) pairs in the held-out slice."""
    per_label_f1: dict[str, float]


class Judgement(BaseModel):
    """Whether the candidate may be promoted, and why in a sentence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    promote: bool
    reason: str


def crisis_recall(evaluation: Evaluation, crisis_labels: Sequence[str]) -> tuple[float | None, int]:
    """Pooled recall over `crisis_labels` and the number of (row, label) pairs it rests on."""
    found = support = 0
    for label in crisis_labels:
        scores = evaluation.per_label.get(label)
        if scores is None:
            continue
        # Recall is rounded to four places; times a support under 5,000 it rounds back exactly.
        found += round(scores.recall * scores.support)
        support += scores.support
    return (round(found / support, 4) if support else None), support


def score(evaluation: Evaluation, version: str | None, crisis_labels: Sequence[str]) -> ModelScore:
    recall, support = crisis_recall(evaluation, crisis_labels)
    return ModelScore(
        version=version,
        model_version=evaluation.model_version,
        macro_f1=evaluation.macro_f1,
        crisis_recall=recall,
        crisis_support=support,
        per_label_f1={label: s.f1 for label, s in evaluation.per_label.items()},
    )


def judge(current: ModelScore | None, candidate: ModelScore, margin: float) -> Judgement:
    """The promotion rule. Without a current model the candidate is promoted as the first one."""
    if current is None:
        return Judgement(promote=True, reason="no current model: the candidate is the first")
    unmeasured = _not_numbers(current, candidate, margin)
    if unmeasured:
        # Every comparison with NaN is false: read as "not below the margin" and "not lower
        # recall", a NaN would promote whatever the candidate is.
        return Judgement(
            promote=False,
            reason=(
                f"not a finite number: {', '.join(unmeasured)}; the candidate cannot be "
                "compared with the current model, so it is not promoted"
            ),
        )
    gain = candidate.macro_f1 - current.macro_f1
    if gain + _TOLERANCE < margin:
        return Judgement(
            promote=False,
            reason=(
                f"macro-F1 {candidate.macro_f1:.4f} vs current {current.macro_f1:.4f} "
                f"(gain {gain:+.4f}) is below the promotion margin {margin:.4f}"
            ),
        )
    if candidate.crisis_recall is None or current.crisis_recall is None:
        return Judgement(
            promote=False,
            reason=(
                "the held-out slice has no row with a crisis label, so crisis recall cannot be "
                "checked; add rows to holdout_data"
            ),
        )
    if candidate.crisis_recall + _TOLERANCE < current.crisis_recall:
        return Judgement(
            promote=False,
            reason=(
                f"crisis recall drops from {current.crisis_recall:.4f} to "
                f"{candidate.crisis_recall:.4f} (macro-F1 gain {gain:+.4f})"
            ),
        )
    return Judgement(
        promote=True,
        reason=(
            f"macro-F1 {candidate.macro_f1:.4f} beats {current.macro_f1:.4f} by {gain:+.4f} "
            f"(margin {margin:.4f}); crisis recall {current.crisis_recall:.4f} -> "
            f"{candidate.crisis_recall:.4f}"
        ),
    )


def _not_numbers(current: ModelScore, candidate: ModelScore, margin: float) -> list[str]:
    """The figures of the rule that are NaN or infinite, each saying what it is."""
    figures: dict[str, float | None] = {
        "the promotion margin": margin,
        "the current model's macro-F1": current.macro_f1,
        "the candidate's macro-F1": candidate.macro_f1,
        "the current model's crisis recall": current.crisis_recall,
        "the candidate's crisis recall": candidate.crisis_recall,
    }
    return [
        f"{name} ({value})"
        for name, value in figures.items()
        if value is not None and not math.isfinite(value)
    ]
