"""Gold labels announced while a run's last round trains are counted by the next run at once,
not an hour later, and counted once (real Temporal on the time-skipping server, Kafka, Redis and
training).

The workflow continues as new after `CONTINUE_AS_NEW_AFTER` wake-ups; to reach that point in
one round rather than 500, this test's worker runs the workflow outside the sandbox with the
constant set to one. Time is never skipped: the run after continue-as-new waits a month for its
periodic check, so only the carried notice can start its round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from redis import Redis
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import workflows.retraining
from activities.events import EventActivities
from activities.retraining import RetrainingActivities
from tests.retraining.conftest import Deployment, Running, wait_for_status
from tests.workflows.conftest import EventLog
from warmline.events import EventPublisher
from warmline.retraining import client as retraining
from warmline.retraining.contracts import retraining_workflow_id
from warmline.worker import ACTIVITY_THREADS
from workflows.retraining import RetrainingWorkflow


@pytest.fixture
async def one_wakeup_worker(
    workflow_env: WorkflowEnvironment,
    event_log: EventLog,
    redis_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Running]:
    """A worker whose retraining runs continue as new after every wake-up."""
    monkeypatch.setattr(workflows.retraining, "CONTINUE_AS_NEW_AFTER", 1)
    client = workflow_env.client
    publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    redis = Redis.from_url(redis_url)
    activities = RetrainingActivities(client, redis, publisher)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[RetrainingWorkflow],
            activities=[*activities.activities, EventActivities(publisher).publish_events],
            activity_executor=executor,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            yield Running(client=client, task_queue=task_queue, events=event_log)
    publisher.close()
    redis.close()


async def test_gold_labels_announced_during_the_last_round_are_counted_by_the_next_run(
    one_wakeup_worker: Running, deployment: Deployment
) -> None:
    worker = one_wakeup_worker
    settings = deployment.settings.model_copy(update={"check_interval": timedelta(days=30)})
    assert deployment.add_gold(0, 300) == 300
    await retraining.notify_gold_labels(
        worker.client,
        settings.deployment,
        settings.taxonomy,
        300,
        start=settings,
        task_queue=worker.task_queue,
    )
    await wait_for_status(worker.client, settings, lambda s: s.running, "round 1 running")
    # While round 1 trains: 300 more gold labels, announced.
    assert deployment.add_gold(300, 300) == 300
    await retraining.notify_gold_labels(worker.client, settings.deployment, settings.taxonomy, 300)

    status = await wait_for_status(
        worker.client,
        settings,
        lambda s: s.rounds >= 2 and not s.running and s.last_decision is not None,
        "round 2, from the run after continue-as-new",
        timeout_s=120.0,
    )

    decision = status.last_decision
    assert decision is not None
    assert decision.outcome != "failed", decision.reason
    # Every label read once: round 1 read 300, round 2 all 600, and none is new any more.
    assert decision.gold is not None
    assert decision.gold.read == 600
    assert (status.rounds, status.trained_through) == (2, 600)
    # The round ran in a run that continued from another.
    handle = worker.client.get_workflow_handle(
        retraining_workflow_id(settings.deployment, settings.taxonomy)
    )
    started = (await handle.fetch_history()).events[0]
    assert started.workflow_execution_started_event_attributes.continued_execution_run_id
