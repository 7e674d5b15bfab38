"""What a retraining round needs, built once from the configuration and sent to the workflow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from warmline.config.model import WarmlineConfig
from warmline.errors import WarmlineError

CRISIS_LABELS: dict[str, tuple[str, ...]] = {
    "original": ("grief", "fear", "sadness", "nervousness"),
    "ekman": ("fear", "sadness"),
    "group": ("negative",),
}
"""Per taxonomy, the labels whose recall is crisis recall: those weighing most on distress
(weight 0.75 or more in `warmline.triage.lexicon.DISTRESS_WEIGHTS`), the emotions of the
messages that most need a person."""


class RetrainingDisabledError(WarmlineError):
    """The configuration gives retraining no registry (or no data) to work with."""


class RetrainingSettings(BaseModel):
    """One deployment's retraining of one taxonomy: triggers, data, promotion rule, shadow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: str
    """`metadata.name` of the configuration; with the taxonomy it names the workflow."""
    taxonomy: str
    registry: Path
    base_data: Path | None = None
    dev_data: Path
    holdout_data: Path | None = None
    holdout_fraction: float = 0.2
    after_gold_labels: int | None = None
    schedule: str | None = None
    promotion_margin: float = 0.01
    crisis_labels: tuple[str, ...]
    check_interval: timedelta = timedelta(hours=1)
    shadow: bool = False
    shadow_period: timedelta = timedelta(hours=24)
    gold_prefix: str = Field(default="warmline:gold")
    """Redis key prefix of the gold-label store."""
    shadow_prefix: str = Field(default="warmline:shadow")
    """Redis key prefix of the shadow counters."""


def retraining_settings(config: WarmlineConfig) -> RetrainingSettings:
    """The settings `annotation.retraining` describes; `RetrainingDisabledError` says what is
    missing when retraining cannot run."""
    section = config.annotation.retraining
    taxonomy = config.annotation.model_taxonomy
    if section.registry is None:
        raise RetrainingDisabledError(
            "annotation.retraining.registry is not set: give the model registry directory "
            "(and point triage.provider.model_path at it) to turn retraining on"
        )
    dev = section.dev_data
    if dev is None and section.base_data is not None:
        dev = section.base_data.parent / "dev.tsv"
    if dev is None:
        raise RetrainingDisabledError(
            "annotation.retraining.dev_data is not set and there is no base_data to find a "
            "dev.tsv beside: give the TSV the candidate's thresholds are tuned on"
        )
    return RetrainingSettings(
        deployment=config.metadata.name,
        taxonomy=taxonomy,
        registry=section.registry,
        base_data=section.base_data,
        dev_data=dev,
        holdout_data=section.holdout_data,
        holdout_fraction=section.holdout_fraction,
        after_gold_labels=section.after_gold_labels,
        schedule=section.schedule,
        promotion_margin=section.promotion_margin,
        crisis_labels=tuple(section.crisis_labels or CRISIS_LABELS[taxonomy]),
        check_interval=section.check_interval,
        shadow=section.shadow,
        shadow_period=section.shadow_period,
    )
