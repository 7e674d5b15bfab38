"""A round whose data cannot make one fails before training, says why, and is not run again by
itself until the gold-label count changes (real Temporal, Redis and training)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import (
    BASE_ROWS,
    Deployment,
    Running,
    counted,
    history_length,
    wait_for_status,
)
from warmline.retraining import client as retraining
from warmline.retraining.contracts import RoundRequest
from warmline.retraining.data import held_out
from warmline.retraining.rounds import train_candidate
from warmline.retraining.settings import RetrainingSettings
from warmline.triage import registry
from warmline.triage.errors import TrainingDataError


def _rows(deployment: Deployment, *, held: bool, count: int) -> list[str]:
    """Train rows after the base slice whose item id falls (or not) in the held-out 20 %."""
    fraction = deployment.settings.holdout_fraction
    rows = [
        row
        for row in deployment.train_rows[BASE_ROWS:]
        if held_out(row.split("\t")[2], fraction) == held
    ]
    return rows[:count]


def _without_holdout_data(deployment: Deployment, **changes: object) -> RetrainingSettings:
    return deployment.settings.model_copy(update={"holdout_data": None, **changes})


def test_an_empty_held_out_slice_is_refused_before_training_with_the_count(
    deployment: Deployment,
) -> None:
    settings = _without_holdout_data(deployment)
    assert settings.holdout_fraction == 0.2
    deployment.add_gold_rows(_rows(deployment, held=False, count=5))

    with pytest.raises(TrainingDataError) as error:
        train_candidate(settings, deployment.store.read(settings.taxonomy), round_id="t/round-1")

    message = str(error.value)
    assert "none of the 5 gold labels read (5 usable, skipped none) fell in the held-out 20%" in (
        message
    )
    assert "no holdout_data is set" in message
    assert "set holdout_data" in message
    assert "record more gold labels" in message
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1"]


def test_a_zero_holdout_fraction_without_holdout_data_says_so(deployment: Deployment) -> None:
    settings = _without_holdout_data(deployment, holdout_fraction=0.0)
    deployment.add_gold(0, 5)

    with pytest.raises(TrainingDataError) as error:
        train_candidate(settings, deployment.store.read(settings.taxonomy), round_id="t/round-1")

    assert "holdout_fraction is 0, so no gold label is held out" in str(error.value)
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1"]


async def test_a_round_that_failed_for_good_waits_for_the_gold_label_count_to_change(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
) -> None:
    settings = _without_holdout_data(deployment, after_gold_labels=5)
    taxonomy_dir = settings.registry / settings.taxonomy
    deployment.add_gold_rows(_rows(deployment, held=False, count=5))
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        5,
        start=settings,
        task_queue=worker.task_queue,
    )
    status = await wait_for_status(
        worker.client,
        settings,
        lambda s: s.rounds >= 1 and not s.running and s.last_decision is not None,
        "decision of the first round",
    )
    failed = status.last_decision
    assert failed is not None
    assert failed.outcome == "failed"
    assert "none of the 5 gold labels read" in failed.reason
    assert "until the gold-label count changes from 5" in failed.reason
    assert status.failed_at == 5
    assert registry.versions(taxonomy_dir) == ["v1"]

    # Three periodic checks and a scheduled round: the same five labels, no round, no training.
    for _ in range(3):
        await workflow_env.sleep(settings.check_interval + timedelta(minutes=1))
        await asyncio.sleep(0.5)
    before = await history_length(worker.client, settings)
    await retraining.signal_round(
        worker.client,
        settings,
        RoundRequest(trigger="schedule", reason="scheduled retraining"),
        task_queue=worker.task_queue,
    )
    await counted(worker.client, settings, after=before)
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert (status.rounds, status.failed_at, status.trained_through) == (1, 5, 0)
    assert registry.versions(taxonomy_dir) == ["v1"]

    # One more gold label, held out: the count changed, so the next wake-up runs a round.
    deployment.add_gold_rows(_rows(deployment, held=True, count=1))
    await retraining.notify_gold_labels(worker.client, settings.deployment, settings.taxonomy)
    status = await wait_for_status(
        worker.client,
        settings,
        lambda s: s.rounds >= 2 and not s.running,
        "decision of the second round",
    )
    assert status.last_decision is not None
    assert status.last_decision.outcome in ("promoted", "rejected"), status.last_decision.reason
    assert status.last_decision.gold is not None
    assert status.last_decision.gold.held_out == 1
    assert (status.failed_at, status.trained_through) == (None, 6)
    assert registry.versions(taxonomy_dir) == ["v1", "v2"]


async def test_a_requested_round_tries_again_at_once(
    worker: Running, deployment: Deployment
) -> None:
    settings = _without_holdout_data(deployment)
    deployment.add_gold_rows(_rows(deployment, held=False, count=5))
    first = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)
    assert first.outcome == "failed"

    again = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)

    assert again.outcome == "failed"
    assert again.round_id != first.round_id
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert (status.rounds, status.failed_at) == (2, 5)
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1"]
