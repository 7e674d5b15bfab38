"""The promotion rule, crisis recall, the held-out split and the account of every gold label."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.retraining.conftest import BASE_ROWS, Deployment
from warmline.annotation.gold import GoldLabel
from warmline.retraining.data import assemble, held_out
from warmline.retraining.rounds import retrain_once, train_candidate
from warmline.retraining.rules import ModelScore, crisis_recall, judge
from warmline.triage import registry
from warmline.triage.evaluate import Evaluation, LabelScores


def _score(macro: float, crisis: float | None) -> ModelScore:
    return ModelScore(
        version="v",
        model_version="m",
        macro_f1=macro,
        crisis_recall=crisis,
        crisis_support=0 if crisis is None else 50,
        per_label_f1={},
    )


def test_better_macro_f1_but_lower_crisis_recall_is_rejected() -> None:
    judgement = judge(_score(0.40, 0.80), _score(0.50, 0.79), margin=0.01)
    assert not judgement.promote
    assert judgement.reason.startswith("crisis recall drops from 0.8000 to 0.7900")


def test_the_margin_is_a_floor_and_equal_crisis_recall_passes() -> None:
    assert not judge(_score(0.40, 0.8), _score(0.4099, 0.9), margin=0.01).promote
    assert judge(_score(0.40, 0.8), _score(0.41, 0.8), margin=0.01).promote
    assert judge(None, _score(0.1, None), margin=0.01).promote


def test_without_crisis_rows_crisis_recall_cannot_be_checked_so_no_promotion() -> None:
    judgement = judge(_score(0.40, None), _score(0.60, None), margin=0.01)
    assert not judgement.promote
    assert "cannot be checked" in judgement.reason


def test_crisis_recall_pools_the_crisis_labels_by_support() -> None:
    def scores(recall: float, support: int) -> LabelScores:
        return LabelScores(precision=1.0, recall=recall, f1=0.5, support=support)

    evaluation = Evaluation(
        taxonomy="ekman",
        model_version="m",
        data_file="h",
        data_sha256="0" * 64,
        rows=100,
        skipped={},
        macro_f1=0.5,
        micro_f1=0.5,
        per_label={"fear": scores(0.5, 10), "sadness": scores(1.0, 30), "joy": scores(0.0, 60)},
        measured_at=datetime.now(UTC),
    )
    assert crisis_recall(evaluation, ["fear", "sadness"]) == (0.875, 40)
    assert crisis_recall(evaluation, ["grief"]) == (None, 0)


def test_a_gold_label_stays_on_its_side_of_the_held_out_split() -> None:
    ids = [f"item-{i}" for i in range(2000)]
    first = [held_out(i, 0.2) for i in ids]
    assert first == [held_out(i, 0.2) for i in ids]
    assert 300 < sum(first) < 500
    assert not any(held_out(i, 0.0) for i in ids)


def test_every_gold_label_read_is_trained_on_held_out_or_skipped_with_a_reason(
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    assert settings.holdout_data is not None
    assert settings.base_data is not None
    rows = deployment.train_rows[BASE_ROWS : BASE_ROWS + 100]
    gold = deployment.store.read(settings.taxonomy)
    assert gold == []
    deployment.add_gold(0, 100)
    gold = deployment.store.read(settings.taxonomy)
    now = datetime.now(UTC)

    def odd(item: str, **changes: object) -> GoldLabel:
        base = {"item_id": item, "text": "so sad", "labels": ["negative"], "taxonomy": "group"}
        return GoldLabel.model_validate({**base, "source": "random", "created_at": now, **changes})

    gold += [
        gold[0],
        odd("x1", labels=["grief"]),
        odd("x2", taxonomy="ekman"),
        odd("x3", text="  "),
        odd("x4", labels=[]),
        odd("x5", text=settings.holdout_data.read_text(encoding="utf-8").split("\t", 1)[0]),
        odd("x6", text=settings.base_data.read_text(encoding="utf-8").split("\t", 1)[0]),
    ]
    data = assemble(settings, gold)

    account = data.gold
    assert account.read == 107
    assert account.skipped == {
        "duplicate_item": 1,
        "unknown_label": 1,
        "other_taxonomy": 1,
        "empty_text": 1,
        "no_label": 1,
        "in_holdout_data": 1,
        "in_base_data": 1,
    }
    assert account.trained + account.held_out == len(rows)
    assert len(data.train.texts) == BASE_ROWS + account.trained
    assert len(data.holdout.texts) == 400 + account.held_out


def test_a_retried_training_step_finds_its_candidate_instead_of_training_another(
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 300)
    gold = deployment.store.read(settings.taxonomy)

    first = train_candidate(settings, gold, round_id="wf/round-1")
    again = train_candidate(settings, gold, round_id="wf/round-1")

    assert again == first
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1", "v2"]
    assert registry.current(settings.registry / settings.taxonomy) == "v1"
    other = train_candidate(settings, gold, round_id="wf/round-2")
    assert other.version == "v3"


def test_malformed_data_rows_are_counted_in_the_decision_not_dropped_silently(
    deployment: Deployment, tmp_path: Path
) -> None:
    settings = deployment.settings
    assert settings.base_data is not None
    broken = tmp_path / "base-with-bad-rows.tsv"
    good = settings.base_data.read_text(encoding="utf-8")
    broken.write_text(good + "no tabs here\n\t1\tid-x\nfine text\t9\tid-y\n", encoding="utf-8")
    settings = settings.model_copy(update={"base_data": broken})
    deployment.add_gold(0, 300)

    decision = retrain_once(
        settings, deployment.store.read(settings.taxonomy), round_id="test/round-1"
    )

    assert decision.data_skipped["train"] == {
        "wrong_column_count": 1,
        "empty_text": 1,
        "label_out_of_range": 1,
    }
    assert decision.data_skipped["dev"] == {}
    assert decision.data_skipped["holdout"] == {}


def test_a_figure_that_is_not_a_number_never_promotes() -> None:
    nan = float("nan")
    # Every comparison with NaN is false, so NaN read as "not below the margin" and "no drop".
    assert not judge(_score(0.40, 0.8), _score(0.30, 0.9), margin=nan).promote
    assert not judge(_score(0.40, 0.8), _score(nan, 0.8), margin=0.01).promote
    assert not judge(_score(0.40, 0.8), _score(0.50, nan), margin=0.01).promote
    judgement = judge(_score(nan, 0.8), _score(0.50, 0.8), margin=float("inf"))
    assert not judgement.promote
    assert judgement.reason == (
        "not a finite number: the promotion margin (inf), the current model's macro-F1 (nan); "
        "the candidate cannot be compared with the current model, so it is not promoted"
    )
