"""A Kafka outage longer than every retry of a step never undoes a round's decision: a promotion
that moved `CURRENT` is reported as promoted, its `model.promoted` event goes out once Kafka is
back, and its gold labels are not new again (real Temporal, Kafka, Redis and training; the
publisher refuses every publish while the test holds Kafka down, as the real one does during an
outage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import (
    Deployment,
    OutagePublisher,
    Running,
    run_worker,
    wait_for_status,
)
from tests.workflows.conftest import EventLog
from warmline.events import EventType
from warmline.events.catalog import ModelPromoted, parse_data
from warmline.retraining import client as retraining
from warmline.retraining.rounds import RoundDecision
from warmline.triage import registry
from workflows.retraining import STORE_RETRY


@pytest.fixture
async def outage(
    workflow_env: WorkflowEnvironment, event_log: EventLog, redis_url: str, task_queue: str
) -> AsyncIterator[tuple[Running, OutagePublisher]]:
    """The retraining worker, publishing through a publisher the test can take Kafka from."""
    publisher = OutagePublisher.connect(event_log.bootstrap, topic=event_log.topic)
    assert isinstance(publisher, OutagePublisher)
    async for running in run_worker(
        workflow_env.client, event_log, redis_url, task_queue, publisher=publisher
    ):
        yield running, publisher


async def _answered_while_skipping(
    env: WorkflowEnvironment, call: asyncio.Task[RoundDecision]
) -> RoundDecision:
    """Skip time (retry backoff) until the round is answered: at most about ten minutes of it,
    well past the three minutes `STORE_RETRY` tries a step for."""
    for _ in range(40):
        if call.done():
            return call.result()
        await env.sleep(timedelta(seconds=15))
        await asyncio.sleep(0.2)
    raise AssertionError("the round was never answered")


async def test_a_promotion_outlasting_a_kafka_outage_is_reported_and_its_event_sent_later(
    workflow_env: WorkflowEnvironment,
    outage: tuple[Running, OutagePublisher],
    deployment: Deployment,
) -> None:
    worker, publisher = outage
    settings = deployment.settings
    subject = f"{settings.deployment}/{settings.taxonomy}"
    deployment.add_gold(0, 300)
    publisher.down = True

    call = asyncio.create_task(
        retraining.run_round(worker.client, settings, task_queue=worker.task_queue)
    )
    # Training runs in real time (skipping time now would outrun its heartbeats): skip only
    # once the decision was taken and its event is being refused.
    for _ in range(600):
        if publisher.refused or call.done():
            break
        await asyncio.sleep(0.2)
    decision = await _answered_while_skipping(workflow_env, call)

    assert registry.current(settings.registry / settings.taxonomy) == "v2"
    assert decision.outcome == "promoted", decision.reason
    assert decision.candidate_version == "v2"
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert status.trained_through == 300, "the promoted round's labels are read"
    assert status.last_decision == decision

    # Kafka stays down longer than a step's retries last; the event is held, not dropped.
    await workflow_env.sleep(timedelta(minutes=10))
    await asyncio.sleep(0.5)
    assert STORE_RETRY.maximum_attempts is not None
    assert publisher.refused > STORE_RETRY.maximum_attempts
    status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
    assert status.publishing is not None
    with pytest.raises(AssertionError, match=f"no {EventType.MODEL_PROMOTED} event"):
        await worker.events.wait_for(subject, until=EventType.MODEL_PROMOTED, timeout_s=2.0)

    publisher.down = False
    for _ in range(20):
        status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
        if status.publishing is None:
            break
        await workflow_env.sleep(timedelta(seconds=30))
        await asyncio.sleep(0.2)
    events = await worker.events.wait_for(subject, until=EventType.MODEL_PROMOTED)
    assert [e.type for e in events] == [EventType.MODEL_PROMOTED]
    data = parse_data(EventType.MODEL_PROMOTED, events[0].data)
    assert isinstance(data, ModelPromoted)
    assert (data.version, data.previous_registry_version) == ("v2", "v1")
    assert data.round_id == decision.round_id

    # The labels the promoted round read are not new for the next one.
    again = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)
    assert again.outcome == "skipped", again.reason
    status = await wait_for_status(
        worker.client, settings, lambda s: not s.running, "an idle workflow"
    )
    assert (status.rounds, status.trained_through, status.publishing) == (1, 300, None)
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1", "v2"]
