"""Promotion keeps the registry consistent when a step is retried after a crash, and when an
operator's rollback runs at the same moment (real Redis and training; no Temporal needed: these
are the `conclude_round` activity's steps)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from tests.retraining.conftest import Deployment
from warmline.retraining import promotion
from warmline.retraining.rounds import (
    Verdict,
    conclude,
    evaluate_candidate,
    retrain_once,
    train_candidate,
)
from warmline.retraining.settings import RetrainingSettings
from warmline.triage import registry


def _verdict_to_promote(deployment: Deployment) -> tuple[RetrainingSettings, Verdict]:
    """v2 promoted over v1, then a candidate v3 judged against v2 with a verdict to promote."""
    deployment.add_gold(0, 300)
    settings = deployment.settings
    gold = deployment.store.read(settings.taxonomy)
    decision = retrain_once(settings, gold, round_id="t/r-1")
    assert decision.outcome == "promoted", decision.reason
    settings = settings.model_copy(update={"promotion_margin": 0.0})
    candidate = train_candidate(settings, gold, round_id="t/r-2")
    verdict = evaluate_candidate(settings, candidate, gold)
    assert verdict.judgement.promote, verdict.judgement.reason
    assert verdict.current_score is not None
    assert (candidate.version, verdict.current_score.version) == ("v3", "v2")
    return settings, verdict


def _moves(root: Path, taxonomy: str) -> list[tuple[str | None, str]]:
    return [
        (e.from_version, e.to_version)
        for e in promotion.history(root, taxonomy)
        if e.action in (promotion.Action.PROMOTED, promotion.Action.ROLLED_BACK)
    ]


def _chained(moves: list[tuple[str | None, str]]) -> bool:
    """Every move starts from the version the one before it left current."""
    return all(after[0] == before[1] for before, after in itertools.pairwise(moves))


def test_a_retried_promotion_does_not_undo_a_rollback_made_since(deployment: Deployment) -> None:
    settings, verdict = _verdict_to_promote(deployment)
    first = conclude(settings, verdict)
    assert first.outcome == "promoted"
    # The event could not be sent; before the activity's retry, an operator rolls v3 back.
    promotion.rollback(
        settings.registry, settings.taxonomy, to=None, actor="ana", reason="v3 misreads grief"
    )
    again = conclude(settings, verdict)

    assert registry.current(settings.registry / settings.taxonomy) == "v2"
    assert again == first
    assert _moves(settings.registry, settings.taxonomy) == [
        ("v1", "v2"),
        ("v2", "v3"),
        ("v3", "v2"),
    ]


def test_a_crash_after_current_moved_is_completed_by_the_retry(deployment: Deployment) -> None:
    settings, verdict = _verdict_to_promote(deployment)
    promotion.start_shadow(settings.registry, settings.taxonomy, "v3")
    # The first attempt died right after moving CURRENT: no history line, SHADOW still set.
    registry.set_current(settings.registry, settings.taxonomy, "v3")

    decision = conclude(settings, verdict)

    assert decision.outcome == "promoted"
    assert decision.previous_version == "v2"
    assert decision.macro_f1_before is not None
    assert _moves(settings.registry, settings.taxonomy) == [("v1", "v2"), ("v2", "v3")]
    assert promotion.shadow_version(settings.registry, settings.taxonomy) is None
    # Once recorded, a further retry changes nothing.
    assert conclude(settings, verdict) == decision
    assert len(promotion.history(settings.registry, settings.taxonomy)) == 2


def test_a_rollback_racing_a_promotion_never_leaves_history_and_current_apart(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, verdict = _verdict_to_promote(deployment)
    root, taxonomy = settings.registry, settings.taxonomy
    move = registry.set_current
    rolled_back: list[promotion.HistoryEntry] = []

    def operator() -> None:
        rolled_back.append(
            promotion.rollback(root, taxonomy, to=None, actor="ana", reason="v2 misreads grief")
        )

    def promotion_interrupted(where: Path, name: str, version: str) -> None:
        # The round checked its verdict and is about to move CURRENT when the operator's
        # rollback starts: it gets a second to run before the promotion goes on.
        monkeypatch.setattr(registry, "set_current", move)
        racing = threading.Thread(target=operator)
        racing.start()
        racing.join(timeout=1.0)
        move(where, name, version)
        threads.append(racing)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(registry, "set_current", promotion_interrupted)
    decision = conclude(settings, verdict)
    for thread in threads:
        thread.join(timeout=30)
    assert len(rolled_back) == 1

    moves = _moves(root, taxonomy)
    assert _chained(moves), moves
    assert registry.current(root / taxonomy) == moves[-1][1]
    assert decision.outcome == "promoted"
    assert moves == [("v1", "v2"), ("v2", "v3"), ("v3", "v2")]
