"""The schedule trigger: a Temporal Schedule (on the dev server) asks for a round."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from tests.retraining.conftest import Deployment, Running, run_worker
from tests.workflows.conftest import EventLog
from warmline.events import EventType
from warmline.retraining import client as retraining
from warmline.retraining.contracts import retraining_workflow_id, schedule_id


def _hours(described: ScheduleDescription) -> list[int]:
    """The hours the schedule fires at (the server keeps a cron as calendar specs)."""
    return [r.start for c in described.schedule.spec.calendars for r in c.hour]


@pytest.fixture
async def dev_worker(
    dev_client: Client, event_log: EventLog, redis_url: str, task_queue: str
) -> AsyncIterator[Running]:
    """The worker with retraining on the real dev server, which runs schedules."""
    async for running in run_worker(dev_client, event_log, redis_url, task_queue):
        yield running


@pytest.fixture
async def cleanup(dev_client: Client, deployment: Deployment) -> AsyncIterator[None]:
    yield
    settings = deployment.settings
    with contextlib.suppress(RPCError):
        await dev_client.get_schedule_handle(
            schedule_id(settings.deployment, settings.taxonomy)
        ).delete()
    with contextlib.suppress(RPCError):
        await dev_client.get_workflow_handle(
            retraining_workflow_id(settings.deployment, settings.taxonomy)
        ).terminate()


async def test_the_schedule_runs_a_round(
    dev_worker: Running, deployment: Deployment, cleanup: None
) -> None:
    # Too few labels for the count trigger: only the schedule can start this round.
    settings = deployment.settings.model_copy(
        update={"schedule": "0 3 * * 1", "after_gold_labels": 10_000}
    )
    deployment.add_gold(0, 300)
    await retraining.ensure_retraining(
        dev_worker.client, settings, task_queue=dev_worker.task_queue
    )
    sid = schedule_id(settings.deployment, settings.taxonomy)
    handle = dev_worker.client.get_schedule_handle(sid)
    described = await handle.describe()
    assert _hours(described) == [3]
    status = await retraining.status(dev_worker.client, settings.deployment, settings.taxonomy)
    assert status.rounds == 0

    await handle.trigger()
    for _ in range(300):
        status = await retraining.status(dev_worker.client, settings.deployment, settings.taxonomy)
        if status.last_decision is not None and not status.running:
            break
        await asyncio.sleep(0.2)
    decision = status.last_decision
    assert decision is not None
    assert decision.outcome == "promoted", decision.reason
    assert status.trained_through == 300
    events = await dev_worker.events.wait_for(
        f"{settings.deployment}/{settings.taxonomy}", until=EventType.MODEL_PROMOTED
    )
    assert [e.type for e in events] == [EventType.MODEL_PROMOTED]

    # A changed cron updates the schedule; no cron removes it.
    changed = settings.model_copy(update={"schedule": "30 2 * * *"})
    await retraining.ensure_schedule(dev_worker.client, changed, task_queue=dev_worker.task_queue)
    assert _hours(await handle.describe()) == [2]
    off = settings.model_copy(update={"schedule": None})
    assert (
        await retraining.ensure_schedule(dev_worker.client, off, task_queue=dev_worker.task_queue)
        is None
    )
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status is RPCStatusCode.NOT_FOUND


async def test_a_restarted_worker_keeps_a_schedule_an_operator_paused(
    dev_client: Client, deployment: Deployment, cleanup: None, task_queue: str
) -> None:
    """The worker brings the cron in line with the configuration at every start; pausing the
    schedule (during an incident, say) is the operator's call, and stays."""
    settings = deployment.settings.model_copy(update={"schedule": "0 3 * * 1"})
    sid = await retraining.ensure_schedule(dev_client, settings, task_queue=task_queue)
    assert sid == schedule_id(settings.deployment, settings.taxonomy)
    handle = dev_client.get_schedule_handle(sid)
    await handle.pause(note="incident 42: no retraining until the data is checked")

    changed = settings.model_copy(update={"schedule": "30 2 * * *"})
    await retraining.ensure_schedule(dev_client, changed, task_queue=task_queue)

    described = await handle.describe()
    assert _hours(described) == [2]
    assert described.schedule.state.paused
    assert described.schedule.state.note == "incident 42: no retraining until the data is checked"
