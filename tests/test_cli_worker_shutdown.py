"""`warmline worker` stopped by SIGTERM while an activity is under way: the activity finishes
(as docs/conversation.md and the systemd unit promise), it is not cancelled and retried."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client
from temporalio.worker import Worker

from activities.routing import ensure_roster
from tests.worker_process import start_worker
from warmline.config.loader import load_config
from warmline.conversation import ConversationInput, CustomerMessage, workflow_id
from warmline.escalation import escalation_workflow_id
from warmline.runtime import escalation_policy, roster_settings
from workflows.conversation import ConversationWorkflow
from workflows.roster import RosterWorkflow

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "online-shop" / "warmline.yaml"
RESERVE = "roster_reserve"
WAIT_S = 120.0
"""Far more than any step needs; only a hung one is late."""


async def reserve_in_flight(client: Client, escalation_id: str) -> bool:
    described = await client.get_workflow_handle(escalation_id).describe()
    return any(
        pending.activity_type.name == RESERVE
        and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for pending in described.raw_description.pending_activities
    )


async def test_sigterm_lets_an_activity_under_way_finish(
    dev_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
    task_queue: str,
) -> None:
    """The escalation's roster lives on a task queue nobody serves yet, so its `reserve`
    activity (an update of the roster) is held until the test serves that queue, after the
    worker was told to stop."""
    config = load_config(CONFIG, resolve_secrets=False)
    roster_queue = f"{task_queue}-roster"
    held_roster = f"roster-held-{uuid.uuid4().hex[:8]}"
    await ensure_roster(dev_client, held_roster, roster_settings(config), task_queue=roster_queue)
    policy = escalation_policy(config, task_queue=task_queue)
    assert policy.routing is not None
    routing = policy.routing.model_copy(update={"roster_id": held_roster})
    policy = policy.model_copy(update={"routing": routing})
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    args = ["--config", str(CONFIG), "--temporal", temporal_address, "--kafka", kafka_bootstrap]
    args += ["--redis", redis_url, "--task-queue", task_queue]
    process, said = start_worker(args, secrets_in=CONFIG, topic=f"events-{task_queue}")
    try:
        handle = await dev_client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id="fernhill", conversation_id=conversation, policy=policy),
            id=workflow_id("fernhill", conversation),
            task_queue=task_queue,
        )
        answer = await handle.execute_update(
            ConversationWorkflow.add_message,
            CustomerMessage(message_id="m0", text="My mother died last night"),
        )
        assert answer.escalated
        escalation = escalation_workflow_id("fernhill", conversation, 1)
        async with asyncio.timeout(WAIT_S):
            while not await reserve_in_flight(dev_client, escalation):  # noqa: ASYNC110 - polling a description
                await asyncio.sleep(0.2)

        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(2)  # time enough for the stop to cancel what it would cancel
        async with Worker(dev_client, task_queue=roster_queue, workflows=[RosterWorkflow]):
            code = await asyncio.to_thread(process.wait, WAIT_S)
        history = await dev_client.get_workflow_handle(escalation).fetch_history()
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
        await dev_client.get_workflow_handle(held_roster).terminate()

    log = "".join(said)
    assert code == 0, log
    reserves = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == RESERVE
    }
    completed = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in reserves
    ]
    assert completed, "the reserve under way at SIGTERM finished"
    assert "Completing activity as failed" not in log
