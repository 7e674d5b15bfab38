"""A verdict holds only against the model it was judged against: when an operator rolls back
while the candidate is in shadow, the round rejects it instead of promoting it over a model it
was never compared with (real Temporal, Kafka, Redis and training)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import Deployment, Running, wait_for_status
from warmline.events import EventType
from warmline.events.catalog import ModelRejected, parse_data
from warmline.retraining import client as retraining
from warmline.retraining import promotion
from warmline.retraining.contracts import RoundRequest
from warmline.retraining.rounds import conclude, evaluate_candidate, retrain_once, train_candidate
from warmline.retraining.settings import RetrainingSettings
from warmline.triage import registry


def _v2_current(deployment: Deployment) -> RetrainingSettings:
    """v2 promoted over v1 from 300 gold labels; the settings then promote a candidate that is
    no worse than v2 (margin 0), so the next round's verdict is to promote."""
    deployment.add_gold(0, 300)
    settings = deployment.settings
    decision = retrain_once(settings, deployment.store.read(settings.taxonomy), round_id="t/r-1")
    assert decision.outcome == "promoted", decision.reason
    assert registry.current(settings.registry / settings.taxonomy) == "v2"
    return settings.model_copy(update={"promotion_margin": 0.0})


def test_a_rollback_after_scoring_makes_the_verdict_stale(deployment: Deployment) -> None:
    settings = _v2_current(deployment)
    gold = deployment.store.read(settings.taxonomy)
    candidate = train_candidate(settings, gold, round_id="t/r-2")
    verdict = evaluate_candidate(settings, candidate, gold)
    assert verdict.judgement.promote, verdict.judgement.reason
    assert verdict.current_score is not None
    assert verdict.current_score.version == "v2"

    promotion.rollback(
        settings.registry, settings.taxonomy, to=None, actor="ana", reason="v2 misreads grief"
    )
    decision = conclude(settings, verdict)

    assert decision.outcome == "rejected"
    assert decision.reason.startswith(
        "the current model changed while the round ran: v3 was judged against v2, but v1 is "
        "current now (rolled_back by ana: v2 misreads grief); it is not promoted"
    )
    assert "warmline triage retrain --force" in decision.reason
    assert decision.previous_version == "v1"
    # v2's scores are not v1's: none are reported as the current model's.
    assert (decision.macro_f1_before, decision.crisis_recall_before) == (None, None)
    assert registry.current(settings.registry / settings.taxonomy) == "v1"
    last = promotion.history(settings.registry, settings.taxonomy)[-1]
    assert (last.action, last.from_version, last.to_version) == (
        promotion.Action.REJECTED,
        "v1",
        "v3",
    )
    assert not any(
        e.action is promotion.Action.PROMOTED and e.to_version == "v3"
        for e in promotion.history(settings.registry, settings.taxonomy)
    )
    # A retried step decides the same and records it once.
    assert conclude(settings, verdict) == decision
    assert len(promotion.history(settings.registry, settings.taxonomy)) == 3


def test_a_repeated_promotion_is_not_taken_for_a_stale_verdict(deployment: Deployment) -> None:
    settings = _v2_current(deployment)
    gold = deployment.store.read(settings.taxonomy)
    candidate = train_candidate(settings, gold, round_id="t/r-2")
    verdict = evaluate_candidate(settings, candidate, gold)
    assert verdict.judgement.promote, verdict.judgement.reason

    first = conclude(settings, verdict)
    again = conclude(settings, verdict)

    assert first.outcome == again.outcome == "promoted"
    assert first.previous_version == again.previous_version == "v2"
    assert again.macro_f1_before == first.macro_f1_before is not None


async def test_a_rollback_during_shadow_rejects_the_candidate_with_the_reason(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
) -> None:
    settings = _v2_current(deployment).model_copy(
        update={"shadow": True, "shadow_period": timedelta(hours=6)}
    )
    # A signal, not the run_round update: the test server loses an update across skipped time.
    await retraining.signal_round(
        worker.client, settings, RoundRequest(reason="test"), task_queue=worker.task_queue
    )
    await wait_for_status(
        worker.client,
        settings,
        lambda s: (
            s.in_shadow == "v3"
            and promotion.shadow_version(settings.registry, settings.taxonomy) == "v3"
        ),
        "candidate in shadow",
    )
    promotion.rollback(
        settings.registry, settings.taxonomy, to=None, actor="ana", reason="v2 misreads grief"
    )

    await workflow_env.sleep(timedelta(hours=6, minutes=1))
    status = await wait_for_status(
        worker.client,
        settings,
        lambda s: s.last_decision is not None and not s.running,
        "decision after the shadow period",
    )

    decision = status.last_decision
    assert decision is not None
    assert decision.outcome == "rejected", decision.reason
    assert "v3 was judged against v2, but v1 is current now" in decision.reason
    assert decision.shadow is not None
    assert registry.current(settings.registry / settings.taxonomy) == "v1"
    assert promotion.shadow_version(settings.registry, settings.taxonomy) is None
    events = await worker.events.wait_for(
        f"{settings.deployment}/{settings.taxonomy}", until=EventType.MODEL_REJECTED
    )
    assert [e.type for e in events] == [EventType.MODEL_REJECTED]
    data = parse_data(EventType.MODEL_REJECTED, events[0].data)
    assert isinstance(data, ModelRejected)
    assert data.version == "v3"
    assert data.reason == decision.reason
    # The model that keeps serving, not the one the candidate was judged against.
    serving = registry.read_metadata(settings.registry / settings.taxonomy / "v1")
    assert serving is not None
    assert data.current_version == serving.model_version
    assert data.current_macro_f1 is None
