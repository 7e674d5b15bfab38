"""The broker goes away for 20 s while conversations run: nothing is lost, nothing doubled.

Conversations on the real dev server publish through a broker of their own, which is stopped
after the first messages and started again 20 s later on the same address and log directory.
A connector reads the topic throughout. Afterwards every event id on the topic reached the
connector's handler exactly once, and every conversation completed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from temporalio.client import Client

from connectors.sdk import Connector, Event, handles
from connectors.sdk.testkit import ConnectorHarness
from warmline.conversation import (
    CloseRequest,
    ConversationInput,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.events.catalog import EventData
from warmline.events.envelope import from_record
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType
from warmline.services.base import RunningService, ServiceName
from warmline.services.kafka import restart_kafka
from warmline.services.local import start_service
from warmline.triage.lexicon import LexiconProvider
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.conversation import ConversationWorkflow

OUTAGE_S = 20.0
CONVERSATIONS = 6
MESSAGES = 6
TEXTS = ("Where is my parcel?", "It was due Tuesday.", "Can you check?", "Thanks!")


class Counter(Connector):
    """Counts what reaches its handler, by event id."""

    type_name = "counter"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.delivered: list[str] = []

    @handles(*(t for t in EventType if not t.inbound))
    async def count(self, event: Event[EventData]) -> None:
        self.delivered.append(event.id)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[list[RunningService]]:
    """A broker of this test's own (the session's must stay up), restartable in place."""
    holder = [start_service(ServiceName.KAFKA, tmp_path, embedded=False, persist=False)]
    yield holder
    holder[-1].process.stop()


def topic_ids(bootstrap: str, topic: str) -> list[str]:
    """Every event id on the topic, duplicates included."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        return [from_record(r.key, list(r.headers), r.value).id for r in consumer]
    finally:
        consumer.close()


async def converse(client: Client, task_queue: str, n: int, waits: list[float]) -> int:
    conversation = f"outage-{n}-{uuid.uuid4().hex[:6]}"
    handle = await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="acme",
            conversation_id=conversation,
            policy=EscalationPolicy(triage_as_local_activity=True),
        ),
        id=workflow_id("acme", conversation),
        task_queue=task_queue,
    )
    for m in range(MESSAGES):
        message = CustomerMessage(message_id=f"m{m}", text=TEXTS[m % len(TEXTS)])
        started = time.monotonic()
        await handle.execute_update(ConversationWorkflow.add_message, message)
        waits.append(time.monotonic() - started)
        await asyncio.sleep(3)
    await handle.signal(ConversationWorkflow.close, CloseRequest())
    outcome = await handle.result()
    return outcome.message_count


async def test_a_broker_outage_loses_and_doubles_nothing(
    broker: list[RunningService], tmp_path: Path, dev_client: Client, redis_url: str
) -> None:
    bootstrap = broker[0].address
    task_queue = f"outage-{uuid.uuid4().hex[:8]}"
    waits: list[float] = []
    async with ConnectorHarness(Counter, {}, kafka=bootstrap, redis=redis_url) as kit:
        publisher = EventPublisher.connect(bootstrap, topic=kit.topic)
        with ThreadPoolExecutor(ACTIVITY_THREADS) as pool:
            worker = build_worker(
                dev_client,
                provider=LexiconProvider(),
                publisher=publisher,
                task_queue=task_queue,
                executor=pool,
            )
            async with worker:
                talks = [
                    asyncio.create_task(converse(dev_client, task_queue, n, waits))
                    for n in range(CONVERSATIONS)
                ]
                await asyncio.sleep(4)
                await asyncio.to_thread(broker[0].process.stop)
                await asyncio.sleep(OUTAGE_S)
                broker.append(await asyncio.to_thread(restart_kafka, tmp_path, broker[0]))
                counts = await asyncio.wait_for(asyncio.gather(*talks), timeout=180)
        published = topic_ids(bootstrap, kit.topic)
        connector = kit.connector
        assert isinstance(connector, Counter)
        await kit.wait_for(lambda: len(connector.delivered) >= len(set(published)), within=60)
        delivered = list(connector.delivered)
    publisher.close()

    assert counts == [MESSAGES] * CONVERSATIONS, "every conversation completed"
    assert max(waits) > OUTAGE_S / 2, "a message was in flight while the broker was down"
    expected = CONVERSATIONS * (1 + MESSAGES + 1)
    assert len(set(published)) == expected, "started, one triage per message, closed"
    assert sorted(delivered) == sorted(set(published)), "each event handled exactly once"
