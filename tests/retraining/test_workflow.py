"""RetrainingWorkflow on the time-skipping server with real Redis, Kafka and training."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis import Redis
from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import Deployment, Running, counted
from warmline.events import EventType
from warmline.events.catalog import ModelPromoted, ModelRejected, parse_data
from warmline.retraining import client as retraining
from warmline.retraining.contracts import RetrainingStatus
from warmline.triage import registry


async def _decided(running: Running, deployment: Deployment, rounds: int) -> RetrainingStatus:
    settings = deployment.settings
    for _ in range(300):
        status = await retraining.status(running.client, settings.deployment, settings.taxonomy)
        if status.rounds >= rounds and not status.running and status.last_decision:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"no decision of round {rounds} within 60 s")


def _subject(deployment: Deployment) -> str:
    return f"{deployment.settings.deployment}/{deployment.settings.taxonomy}"


async def test_enough_gold_labels_train_and_promote_a_better_candidate_once(
    worker: Running, deployment: Deployment
) -> None:
    settings = deployment.settings
    assert deployment.add_gold(0, 300) == 300
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        300,
        start=settings,
        task_queue=worker.task_queue,
    )

    status = await _decided(worker, deployment, rounds=1)
    decision = status.last_decision
    assert decision is not None
    assert decision.outcome == "promoted", decision.reason
    assert decision.macro_f1_before is not None
    assert decision.macro_f1_after is not None
    assert decision.macro_f1_after >= decision.macro_f1_before + settings.promotion_margin
    assert decision.gold is not None
    assert decision.gold.read == 300
    assert decision.gold.trained + decision.gold.held_out == 300
    assert registry.current(settings.registry / settings.taxonomy) == "v2"

    events = await worker.events.wait_for(_subject(deployment), until=EventType.MODEL_PROMOTED)
    promoted = [e for e in events if e.type == EventType.MODEL_PROMOTED]
    assert len(promoted) == 1
    data = parse_data(EventType.MODEL_PROMOTED, promoted[0].data)
    assert isinstance(data, ModelPromoted)
    assert data.version == "v2"
    assert data.previous_registry_version == "v1"
    assert data.macro_f1 == decision.macro_f1_after
    assert data.gold_labels == decision.gold.trained
    assert data.gold_skipped == {}
    assert data.crisis_recall is not None
    assert data.previous_crisis_recall is not None
    assert data.crisis_recall >= data.previous_crisis_recall

    # The same news again, and a request for a round: no label is new, so nothing is trained.
    for _ in range(3):
        await retraining.notify_gold_labels(worker.client, settings.deployment, settings.taxonomy)
    again = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)
    assert again.outcome == "skipped"
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1", "v2"]
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert (status.rounds, status.trained_through) == (1, 300)


async def test_too_few_new_gold_labels_do_not_retrain(
    worker: Running, deployment: Deployment
) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 299)
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        start=settings,
        task_queue=worker.task_queue,
    )
    # Checked once the workflow has counted the labels and acted on the count, not after a fixed
    # second (a busy machine may not have counted yet, and nothing would have been checked).
    await counted(worker.client, settings)
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert (status.rounds, status.running) == (0, False)
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1"]


async def test_better_macro_f1_with_lower_crisis_recall_is_rejected(
    worker: Running, deployment: Deployment
) -> None:
    settings = deployment.settings
    # These 300 gold labels lift macro-F1 but cost recall on "negative", the crisis label.
    deployment.add_gold(600, 300)
    decision = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)

    assert decision.outcome == "rejected"
    assert decision.macro_f1_before is not None
    assert decision.macro_f1_after is not None
    assert decision.macro_f1_after > decision.macro_f1_before + settings.promotion_margin
    assert decision.crisis_recall_before is not None
    assert decision.crisis_recall_after is not None
    assert decision.crisis_recall_after < decision.crisis_recall_before
    assert "crisis recall drops" in decision.reason
    assert registry.current(settings.registry / settings.taxonomy) == "v1"

    events = await worker.events.wait_for(_subject(deployment), until=EventType.MODEL_REJECTED)
    data = parse_data(EventType.MODEL_REJECTED, events[-1].data)
    assert isinstance(data, ModelRejected)
    assert data.version == "v2"
    assert data.reason == decision.reason
    assert data.current_crisis_recall == decision.crisis_recall_before


async def test_a_worse_candidate_is_rejected(worker: Running, deployment: Deployment) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 300, shuffle_labels=True)
    decision = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)

    assert decision.outcome == "rejected"
    assert decision.macro_f1_before is not None
    assert decision.macro_f1_after is not None
    assert decision.macro_f1_after < decision.macro_f1_before
    assert "below the promotion margin" in decision.reason
    assert registry.current(settings.registry / settings.taxonomy) == "v1"
    events = await worker.events.wait_for(_subject(deployment), until=EventType.MODEL_REJECTED)
    assert [e.type for e in events] == [EventType.MODEL_REJECTED]


async def test_the_periodic_check_trains_without_any_signal(
    workflow_env: WorkflowEnvironment, worker: Running, deployment: Deployment
) -> None:
    settings = deployment.settings
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        start=settings,
        task_queue=worker.task_queue,
    )
    deployment.add_gold(0, 300)
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert status.rounds == 0

    await workflow_env.sleep(settings.check_interval)
    status = await _decided(worker, deployment, rounds=1)

    assert status.last_decision is not None
    assert status.last_decision.outcome == "promoted"
    assert status.trained_through == 300


async def test_notifying_a_deployment_without_retraining_says_so(worker: Running) -> None:
    with pytest.raises(retraining.RetrainingNotRunningError) as error:
        await retraining.notify_gold_labels(worker.client, "nobody-here", "group", 3)
    assert "no retraining workflow runs for nobody-here/group" in str(error.value)


async def test_a_broken_gold_label_store_fails_the_wake_up_not_the_workflow(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
    redis_url: str,
) -> None:
    settings = deployment.settings
    broken = Redis.from_url(redis_url)
    stream = f"warmline:gold:{settings.deployment}:{settings.taxonomy}:stream"
    broken.set(stream, "not a stream")  # every count now fails with WRONGTYPE
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        start=settings,
        task_queue=worker.task_queue,
    )
    await workflow_env.sleep(timedelta(minutes=10))
    status = await _decided(worker, deployment, rounds=0)
    assert status.last_decision is not None
    assert status.last_decision.outcome == "failed"
    assert "cannot count gold labels" in status.last_decision.reason

    broken.delete(stream)
    broken.close()
    deployment.add_gold(0, 300)
    await retraining.notify_gold_labels(worker.client, settings.deployment, settings.taxonomy)
    status = await _decided(worker, deployment, rounds=1)
    assert status.last_decision is not None
    assert status.last_decision.outcome == "promoted"
