"""One retraining round without Temporal: train a candidate, score it, promote or reject it.

The workflow runs these steps as activities; `retrain_once` runs them in a row, for a benchmark or
an operator. Each step is idempotent: the candidate of a round is found again by its round id and
the gold labels it read (`gold_end`) in the registry's metadata, so a retried step never trains or
registers a second model for the same gold labels, and a round id used again on other gold labels
never reuses a model trained on fewer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warmline.annotation.gold import GoldLabel
from warmline.retraining import promotion
from warmline.retraining.data import GoldAccount, RoundData, assemble
from warmline.retraining.rules import Judgement, ModelScore, judge, score
from warmline.retraining.settings import RetrainingSettings
from warmline.triage import registry
from warmline.triage.encoder import Encoder
from warmline.triage.errors import TrainingDataError
from warmline.triage.evaluate import evaluate
from warmline.triage.local import LocalModel
from warmline.triage.registry import DataFile
from warmline.triage.training import fit

ROUND_COMMAND = "warmline-retraining"
"""First word of `Metadata.command` for a candidate, followed by `--round <id>`."""

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Candidate(BaseModel):
    """A trained candidate, registered but not current."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str
    taxonomy: str
    version: str
    model_version: str
    parent_version: str | None
    """The registry version current when it was trained."""
    gold_end: int
    """Gold labels at positions 0 .. gold_end-1 were read for it."""
    gold: GoldAccount
    train_rows: int
    skipped: dict[str, dict[str, int]]
    """Rows of the data files left out, by file role (`train`, `dev`) and reason."""


class Verdict(BaseModel):
    """The candidate and the current model scored on the same held-out slice, and the rule's
    judgement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candidate: Candidate
    candidate_score: ModelScore
    current_score: ModelScore | None
    holdout_rows: int
    holdout_skipped: dict[str, int]
    margin: float
    judgement: Judgement


class ShadowStats(BaseModel):
    """How a candidate in shadow read live traffic beside the current model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    messages: int = 0
    same_top_emotion: int = 0
    """Messages where both models' strongest emotion is the same."""
    same_labels: int = 0
    """Messages where both models see the same set of emotions (score 0.5 or more)."""
    crisis_labels_current_only: int = 0
    """Messages where only the current model sees a crisis label."""
    crisis_labels_candidate_only: int = 0
    mean_distress_difference: float = 0.0
    """Mean of candidate minus current distress."""

    @property
    def agreement(self) -> float | None:
        return round(self.same_labels / self.messages, 4) if self.messages else None


Outcome = Literal["promoted", "rejected", "failed", "skipped"]


class RoundDecision(BaseModel):
    """What a round decided, with the numbers behind it: what `run_round` returns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str
    taxonomy: str
    outcome: Outcome
    reason: str
    candidate_version: str | None = None
    model_version: str | None = None
    previous_version: str | None = None
    """What was current before the round (and still is, unless promoted)."""
    macro_f1_before: float | None = None
    macro_f1_after: float | None = None
    """The candidate's macro-F1 on the held-out slice (whether promoted or not)."""
    crisis_recall_before: float | None = None
    crisis_recall_after: float | None = None
    gold: GoldAccount | None = None
    data_skipped: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Rows of the data files left out, by role (`train`, `dev`, `holdout`) and reason."""
    holdout_rows: int = 0
    shadow: ShadowStats | None = None


def find_candidate(
    settings: RetrainingSettings, round_id: str, gold_end: int | None = None
) -> Candidate | None:
    """The candidate an earlier attempt of this round registered, if any; with `gold_end`, only
    one trained on exactly that many gold labels (the same round id on other labels is another
    round, whose candidate must be trained anew)."""
    taxonomy_dir = settings.registry / settings.taxonomy
    for version in reversed(registry.versions(taxonomy_dir)):
        metadata = registry.read_metadata(taxonomy_dir / version)
        if metadata is None or metadata.command[:3] != [ROUND_COMMAND, "--round", round_id]:
            continue
        recorded = metadata.command[3:]
        if len(recorded) == 2 and recorded[0] == "--candidate":
            found = Candidate.model_validate_json(recorded[1])
            if gold_end is not None and found.gold_end != gold_end:
                continue
            return found.model_copy(update={"version": version})
    return None


def holdout_problem(settings: RetrainingSettings, data: RoundData, round_id: str) -> str | None:
    """Why the round has no held-out row to score on, or None when it has some.

    Checked before training: without a held-out slice no candidate can be judged, so training one
    would only add a version to the registry that nothing can promote.
    """
    if data.holdout.texts:
        return None
    account = data.gold
    if settings.holdout_data is not None:
        skipped = dict(data.holdout.skipped) or "none"
        source = f"holdout_data {settings.holdout_data} has no usable row (skipped: {skipped})"
    else:
        source = "no holdout_data is set"
    if settings.holdout_fraction <= 0:
        return (
            f"round {round_id}: the held-out slice is empty: {source} and holdout_fraction is "
            f"{settings.holdout_fraction:g}, so no gold label is held out; set holdout_data to a "
            "TSV of labelled rows, or a holdout_fraction above 0"
        )
    usable = account.trained + account.held_out
    return (
        f"round {round_id}: the held-out slice is empty: {source}, and none of the "
        f"{account.read} gold labels read ({usable} usable, skipped "
        f"{account.skipped or 'none'}) fell in the held-out {settings.holdout_fraction:.0%} "
        "(chosen by a hash of each item id); set holdout_data to a TSV of labelled rows, or "
        "record more gold labels"
    )


def _parent_recipe(settings: RetrainingSettings, parent: str | None) -> tuple[Encoder | None, bool]:
    """The encoder the candidate is fitted with: the current model's own, or none when the
    current model is TF-IDF only, so a round measures what the gold labels add rather than a
    change of recipe. Without a current model, the shipped encoder."""
    if parent is None:
        return None, True
    head = LocalModel.load(settings.registry / settings.taxonomy / parent).head
    if head is None:
        return None, False
    return head.encoder, True


def train_candidate(
    settings: RetrainingSettings,
    gold: list[GoldLabel],
    *,
    round_id: str,
    progress: Progress = _quiet,
) -> Candidate:
    """Train on base data plus the gold labels not held out; register it without promoting it.

    Data that cannot make a round (nothing to train on, an empty held-out slice) is refused with
    `TrainingDataError` before anything is trained or registered.
    """
    found = find_candidate(settings, round_id, len(gold))
    if found is not None:
        return found
    progress("reading data")
    data = assemble(settings, gold)
    if not data.train.texts:
        raise TrainingDataError(
            f"round {round_id}: nothing to train on ({data.gold.read} gold labels, "
            f"{data.gold.held_out} held out, skipped {data.gold.skipped or 'none'}, no base_data)"
        )
    problem = holdout_problem(settings, data, round_id)
    if problem is not None:
        raise TrainingDataError(problem)
    parent, _ = registry.parent_of(settings.registry, settings.taxonomy)
    progress(f"training on {len(data.train.texts)} rows")
    encoder, use_encoder = _parent_recipe(settings, parent)
    model = fit(
        data.train,
        data.dev,
        settings.taxonomy,
        parent_version=parent,
        encoder=encoder,
        use_encoder=use_encoder,
    )
    candidate = Candidate(
        round_id=round_id,
        taxonomy=settings.taxonomy,
        version="",
        model_version=model.model_version,
        parent_version=parent,
        gold_end=len(gold),
        gold=data.gold,
        train_rows=len(data.train.texts),
        skipped={"train": dict(data.train.skipped), "dev": dict(data.dev.skipped)},
    )
    progress("registering the candidate")
    dev_eval = evaluate(
        model,
        data.dev.texts,
        data.dev.matrix(len(model.labels)),
        data_file=data.dev.path.name,
        data_sha256=data.dev.sha256,
        skipped=dict(data.dev.skipped),
    )
    _, metadata = registry.publish(
        settings.registry,
        model,
        data={
            "train": DataFile(
                file=data.train.path.name,
                sha256=data.train.sha256,
                rows=len(data.train.texts),
                skipped=dict(data.train.skipped),
            ),
            "dev": DataFile(
                file=data.dev.path.name,
                sha256=data.dev.sha256,
                rows=len(data.dev.texts),
                skipped=dict(data.dev.skipped),
            ),
        },
        metrics={"dev": dev_eval},
        command=[
            ROUND_COMMAND,
            "--round",
            round_id,
            "--candidate",
            candidate.model_dump_json(),
        ],
        make_current=False,
    )
    return candidate.model_copy(update={"version": metadata.version})


def evaluate_candidate(
    settings: RetrainingSettings,
    candidate: Candidate,
    gold: list[GoldLabel],
    *,
    progress: Progress = _quiet,
) -> Verdict:
    """Score the candidate and the current model on the round's held-out slice and judge."""
    data = assemble(settings, gold)
    taxonomy_dir = settings.registry / settings.taxonomy
    holdout = data.holdout
    problem = holdout_problem(settings, data, candidate.round_id)
    if problem is not None:
        raise TrainingDataError(problem)

    def measure(version: str) -> ModelScore:
        model = LocalModel.load(taxonomy_dir / version)
        evaluation = evaluate(
            model,
            holdout.texts,
            holdout.matrix(len(model.labels)),
            data_file=holdout.path.name,
            data_sha256=holdout.sha256,
            skipped=dict(holdout.skipped),
        )
        return score(evaluation, version, settings.crisis_labels)

    progress(f"scoring {candidate.version} on {len(holdout.texts)} held-out rows")
    candidate_score = measure(candidate.version)
    now = promotion.current(settings.registry, settings.taxonomy)
    current_score = None
    if now is not None and now != candidate.version:
        progress(f"scoring the current model {now}")
        current_score = measure(now)
    return Verdict(
        candidate=candidate,
        candidate_score=candidate_score,
        current_score=current_score,
        holdout_rows=len(holdout.texts),
        holdout_skipped=dict(holdout.skipped),
        margin=settings.promotion_margin,
        judgement=judge(current_score, candidate_score, settings.promotion_margin),
    )


def stale_verdict(settings: RetrainingSettings, verdict: Verdict) -> str | None:
    """Why a verdict to promote no longer holds, or None: it compared the candidate with the
    version current at scoring time, and `CURRENT` has moved since (a rollback or a promotion
    while the candidate was in shadow). A verdict to reject stands whatever is current."""
    candidate = verdict.candidate
    judged = verdict.current_score.version if verdict.current_score is not None else None
    now = promotion.current(settings.registry, settings.taxonomy)
    if not verdict.judgement.promote or now in (judged, candidate.version):
        # Unchanged, or an earlier attempt of this step already promoted it.
        return None
    against = f"against {judged}" if judged is not None else "with no current model"
    moved = ""
    for entry in reversed(promotion.history(settings.registry, settings.taxonomy)):
        if entry.to_version == now and entry.action in (
            promotion.Action.PROMOTED,
            promotion.Action.ROLLED_BACK,
        ):
            moved = f" ({entry.action.value} by {entry.actor}: {entry.reason})"
            break
    return (
        f"the current model changed while the round ran: {candidate.version} was judged "
        f"{against}, but {now or 'no version'} is current now{moved}; it is not promoted on a "
        f"stale verdict; run `warmline triage retrain --force` for a round judged against "
        f"{now or 'no current model'}"
    )


def conclude(
    settings: RetrainingSettings, verdict: Verdict, *, shadow: ShadowStats | None = None
) -> RoundDecision:
    """Promote or reject the candidate as judged, record it in the registry's history.

    A verdict judged against a version that is no longer current (an operator rolled back while
    the candidate was in shadow) is stale: the candidate is rejected, not promoted over a model it
    was never compared with. The shadow counters are reported, not judged: see
    docs/retraining.md#shadow-mode.
    """
    candidate = verdict.candidate
    actor = f"retraining:{candidate.round_id}"
    current = verdict.current_score
    # The check and the move are one step: a rollback waits, or is seen by the check.
    with promotion.moving(settings.registry, settings.taxonomy):
        before = promotion.current(settings.registry, settings.taxonomy)
        # A retried step whose earlier attempt promoted the candidate decides the same, even if
        # an operator rolled it back since (the rollback stands; see `promotion.promote`).
        done = promotion.promotion_by(
            settings.registry, settings.taxonomy, candidate.version, actor
        )
        stale = None if done is not None else stale_verdict(settings, verdict)
        reason = stale if stale is not None else verdict.judgement.reason
        if verdict.judgement.promote and stale is None:
            replaced = promotion.promote(
                settings.registry,
                settings.taxonomy,
                candidate.version,
                actor=actor,
                reason=reason,
                replacing=current.version if current is not None else None,
            )
            outcome: Outcome = "promoted"
        else:
            promotion.note(
                settings.registry,
                settings.taxonomy,
                promotion.Action.REJECTED,
                candidate.version,
                actor=actor,
                reason=reason,
            )
            replaced = before
            outcome = "rejected"
    # Scores of a version that is no longer current (the verdict's, when CURRENT moved since) are
    # not reported as the current model's.
    if current is not None and current.version != replaced:
        current = None
    return RoundDecision(
        round_id=candidate.round_id,
        taxonomy=candidate.taxonomy,
        outcome=outcome,
        reason=reason,
        candidate_version=candidate.version,
        model_version=candidate.model_version,
        previous_version=replaced,
        macro_f1_before=current.macro_f1 if current else None,
        macro_f1_after=verdict.candidate_score.macro_f1,
        crisis_recall_before=current.crisis_recall if current else None,
        crisis_recall_after=verdict.candidate_score.crisis_recall,
        gold=candidate.gold,
        data_skipped={**candidate.skipped, "holdout": verdict.holdout_skipped},
        holdout_rows=verdict.holdout_rows,
        shadow=shadow,
    )


def model_version_of(settings: RetrainingSettings, version: str | None) -> str | None:
    """The model version (`local:...`) of a registry version, from its metadata; None if unknown."""
    if version is None:
        return None
    metadata = registry.read_metadata(settings.registry / settings.taxonomy / version)
    return metadata.model_version if metadata is not None else None


def retrain_once(
    settings: RetrainingSettings,
    gold: list[GoldLabel],
    *,
    round_id: str,
    progress: Progress = _quiet,
) -> RoundDecision:
    """Train, score and promote or reject in one call (no shadow period, no events)."""
    candidate = train_candidate(settings, gold, round_id=round_id, progress=progress)
    verdict = evaluate_candidate(settings, candidate, gold, progress=progress)
    return conclude(settings, verdict)
