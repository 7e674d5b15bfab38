"""A round is one round: its candidate is trained on its own gold labels, and its events are its
own, even when a workflow started again under the same id counts rounds from 1 again (real
Temporal, Kafka, Redis and training)."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import Deployment, Running
from warmline.events import EventType
from warmline.retraining import client as retraining
from warmline.retraining.contracts import retraining_workflow_id
from warmline.retraining.rounds import train_candidate
from warmline.triage import registry


def test_a_round_id_used_again_on_more_gold_labels_trains_a_new_candidate(
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 3)
    few = train_candidate(settings, deployment.store.read(settings.taxonomy), round_id="wf/round-1")
    deployment.add_gold(3, 37)

    more = train_candidate(
        settings, deployment.store.read(settings.taxonomy), round_id="wf/round-1"
    )

    assert (few.version, few.gold_end) == ("v2", 3)
    assert (more.version, more.gold_end, more.gold.read) == ("v3", 40, 40)
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1", "v2", "v3"]


async def test_a_workflow_started_again_trains_its_own_candidate_and_sends_new_event_ids(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    subject = f"{settings.deployment}/{settings.taxonomy}"
    deployment.add_gold(0, 300)
    first = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)
    assert first.outcome == "promoted", first.reason
    assert first.candidate_version == "v2"
    first_events = await worker.events.wait_for(subject, until=EventType.MODEL_PROMOTED)

    # The operator ends the workflow; the next notice starts another under the same id.
    handle = workflow_env.client.get_workflow_handle(
        retraining_workflow_id(settings.deployment, settings.taxonomy)
    )
    await handle.terminate(reason="test: stuck")
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED
    deployment.add_gold(300, 40)
    second = await retraining.run_round(worker.client, settings, task_queue=worker.task_queue)

    assert second.round_id != first.round_id
    assert second.round_id.endswith("/round-1")
    assert second.candidate_version == "v3"
    assert second.gold is not None
    assert second.gold.read == 340
    assert registry.versions(settings.registry / settings.taxonomy) == ["v1", "v2", "v3"]
    until = EventType.MODEL_PROMOTED if second.outcome == "promoted" else EventType.MODEL_REJECTED
    count = 2 if until == EventType.MODEL_PROMOTED else 1
    events = await worker.events.wait_for(subject, until=until, count=count)
    assert len(events) == 2
    assert events[0].id == first_events[0].id
    assert events[1].id != events[0].id
    assert events[1].data["round_id"] == second.round_id
