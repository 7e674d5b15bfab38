"""`warmline worker` as a real process: serves conversations, stops on SIGTERM, survives SIGKILL.

The crash test kills the worker with SIGKILL in the middle of conversations; a new worker process
picks them up from Temporal and every conversation completes with exactly one escalation.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from tests.worker_process import WARMLINE, dummy_secrets
from tests.workflows.conftest import EventLog
from warmline.config.loader import load_config
from warmline.conversation import (
    CompleteRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    MessageAccepted,
    SatisfactionRating,
    workflow_id,
)
from warmline.escalation import AcceptRequest, OfferStatus, escalation_workflow_id
from warmline.events import EventType
from warmline.runtime import escalation_policy
from warmline.services.ports import free_port
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "online-shop" / "warmline.yaml"
SECRETS = dummy_secrets(CONFIG)


class WorkerProcess:
    def __init__(self, temporal: str, kafka: str, redis: str, topic: str, task_queue: str) -> None:
        self.process = subprocess.Popen(
            [
                str(WARMLINE),
                "worker",
                "--config",
                str(CONFIG),
                "--temporal",
                temporal,
                "--kafka",
                kafka,
                "--redis",
                redis,
                "--task-queue",
                task_queue,
            ],
            env={**os.environ, **SECRETS, "WARMLINE_EVENTS_TOPIC": topic},
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.said: list[str] = []
        for line in self.process.stderr:
            self.said.append(line)
            if "worker ready" in line:
                # Keep draining: a full stderr pipe would block the worker's logging.
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise AssertionError("the worker exited before it was ready:\n" + "".join(self.said))

    def _drain(self) -> None:
        assert self.process.stderr is not None
        self.said.extend(self.process.stderr)

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def topic_log(kafka_bootstrap: str) -> Iterator[EventLog]:
    log = EventLog(kafka_bootstrap, f"events-{uuid.uuid4().hex[:8]}")
    yield log
    log.close()


def test_a_bad_config_exits_2_with_positions(tmp_path: Path) -> None:
    broken = tmp_path / "warmline.yaml"
    broken.write_text("apiVersion: warmline/v1\nkind: WarmlineConfig\nroutng: {}\n")
    result = subprocess.run(
        [str(WARMLINE), "worker", "--config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        f"{broken}:3:1: (top level): unknown key 'routng'; did you mean 'routing'?" in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("absent", ["redis", "kafka"])
def test_a_service_that_is_not_there_stops_the_worker_with_one_line(
    absent: str, temporal_address: str, kafka_bootstrap: str, redis_url: str
) -> None:
    """Before, an absent Redis surfaced only in the first activity (retried for ever), and an
    absent Kafka after kafka-python's 30 s as `KafkaTimeoutError: Unable to bootstrap`."""
    nowhere = f"127.0.0.1:{free_port()}"
    addresses = {"kafka": kafka_bootstrap, "redis": redis_url}
    addresses[absent] = f"redis://{nowhere}/0" if absent == "redis" else nowhere
    command = [str(WARMLINE), "worker", "--config", str(CONFIG), "--temporal", temporal_address]
    command += ["--kafka", addresses["kafka"], "--redis", addresses["redis"]]
    result = subprocess.run(
        command,
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    service = {"redis": "Redis", "kafka": "Kafka"}[absent]
    assert f"error: cannot reach {service} at {addresses[absent]}: " in result.stderr
    assert "Traceback" not in result.stderr


async def test_worker_serves_and_stops_gracefully_on_sigterm(
    dev_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
    topic_log: EventLog,
    task_queue: str,
) -> None:
    worker = WorkerProcess(
        temporal_address, kafka_bootstrap, redis_url, topic_log.topic, task_queue
    )
    try:
        handle = await start_conversation(dev_client, task_queue)
        answer = await handle.execute_update(
            ConversationWorkflow.add_message,
            CustomerMessage(message_id="m0", text="My mother died last night"),
        )
        assert answer.escalated
        # Stopped with nothing under way: a roster update in flight would wait out the worker's
        # grace (its roster's workflow tasks stop with the worker), which
        # tests/test_cli_worker_shutdown.py covers.
        await asyncio.wait_for(nothing_under_way(dev_client, task_queue), timeout=60)
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0


async def nothing_under_way(client: Client, task_queue: str) -> None:
    """Until no workflow on `task_queue` has an activity scheduled or running."""
    while True:
        pending = 0
        async for execution in client.list_workflows(f'TaskQueue="{task_queue}"'):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            pending += len((await handle.describe()).raw_description.pending_activities)
        if not pending:
            return
        await asyncio.sleep(0.2)


async def test_conversations_survive_a_killed_worker(
    dev_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
    topic_log: EventLog,
    task_queue: str,
) -> None:
    first = WorkerProcess(temporal_address, kafka_bootstrap, redis_url, topic_log.topic, task_queue)
    handles = [await start_conversation(dev_client, task_queue) for _ in range(5)]
    await asyncio.gather(*tell_all(handles, "m0", "Where is my order?"))
    # Messages in flight when the worker dies: the updates are durable and wait for a worker.
    pending = [
        asyncio.create_task(update)
        for update in tell_all(handles, "m1", "My husband passed away and I can't cope")
    ]
    await asyncio.sleep(0.2)
    first.stop(signal.SIGKILL)

    second = WorkerProcess(
        temporal_address, kafka_bootstrap, redis_url, topic_log.topic, task_queue
    )
    try:
        answers = await asyncio.wait_for(asyncio.gather(*pending), timeout=120)
        assert all(a.escalated for a in answers)
        await asyncio.wait_for(asyncio.gather(*(hand_off(dev_client, h) for h in handles)), 120)
        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    finally:
        second.stop(signal.SIGTERM)

    for outcome in outcomes:
        assert outcome.message_count == 2
        assert outcome.escalation is not None
        assert (outcome.handoff_outcome, outcome.satisfaction) == ("resolved", 5)
        events = topic_log.read(outcome.conversation_id, until=EventType.CONVERSATION_CLOSED)
        for once in (
            EventType.CONVERSATION_ESCALATED,
            EventType.HANDOFF_ACCEPTED,
            EventType.HANDOFF_COMPLETED,
        ):
            found = {e.id for e in events if e.type == once}
            assert len(found) == 1, f"{outcome.conversation_id}: {len(found)} {once}"


async def hand_off(
    client: Client, handle: WorkflowHandle[ConversationWorkflow, ConversationOutcome]
) -> None:
    """A specialist accepts the conversation's offer, reads the handoff and completes it."""
    conversation = handle.id.rsplit("/", 1)[1]
    escalation = client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("fernhill", conversation, 1)
    )
    while True:
        view = await escalation.query(EscalationWorkflow.view)
        offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
        if offers:
            break
        await asyncio.sleep(0.2)
    offer = offers[0]
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
    )
    while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110 - polling a query
        await asyncio.sleep(0.2)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    # The online shop asks the customer for a satisfaction score before the conversation closes.
    await handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=5))


async def start_conversation(
    client: Client, task_queue: str
) -> WorkflowHandle[ConversationWorkflow, ConversationOutcome]:
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    policy = escalation_policy(load_config(CONFIG, resolve_secrets=False), task_queue=task_queue)
    return await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id="fernhill", conversation_id=conversation, policy=policy),
        id=workflow_id("fernhill", conversation),
        task_queue=task_queue,
    )


def tell_all(
    handles: list[WorkflowHandle[ConversationWorkflow, ConversationOutcome]],
    message_id: str,
    text: str,
) -> list[Coroutine[Any, Any, MessageAccepted]]:
    """The same customer message, as one update per conversation (not yet awaited)."""
    message = CustomerMessage(message_id=message_id, text=text)
    return [h.execute_update(ConversationWorkflow.add_message, message) for h in handles]
