"""A dead letter the tracker wrote, fixed and sent again with its id, is counted.

Sending the fixed record again under its event id is how a dead letter is replayed (its reason
asks for it). The tracker used to mark every event id of a batch done, the dead-lettered ones too,
so the dedupe (seven days) dropped the fixed record as a duplicate: the handoff was never known
and the specialist's twenty minutes with a distressed, hostile customer never counted. Real
Kafka, Redis and the wellness workflow on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from tests.wellness.test_tracker import (
    connected,
    consuming,
    conversation,
    dead_letters_on,
    policy_client,
)
from warmline.events import DomainEvent, EventPublisher, EventType
from warmline.events.admin import ensure_topics


async def until(condition: Callable[[], bool], what: str, task: asyncio.Task[None]) -> None:
    """Wait (generously: the machine may be busy) until `condition()` holds."""
    for _ in range(1200):
        if condition():
            return
        if task.done():
            task.result()
            raise AssertionError(f"the tracker stopped before {what}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} after 60 s")


async def test_a_fixed_dead_letter_sent_again_with_its_id_is_counted(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    triaged, accepted, hostile, completed = conversation("c-replayed")
    assert accepted.type is EventType.HANDOFF_ACCEPTED
    broken = accepted.model_copy(
        update={"data": {k: v for k, v in accepted.data.items() if k != "specialist"}}
    )
    topic = f"events-{uuid.uuid4().hex[:8]}"
    dead_letter_topic = f"{topic}-dlq"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic, dead_letter_topic])

    def publish(*events: DomainEvent) -> None:
        publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
        try:
            publisher.publish(list(events))
        finally:
            publisher.close()

    client = policy_client(workflow_env.client, wellness)
    async with connected(kafka_bootstrap, redis_url, dead_letter_topic) as (redis, dead_letters):
        tracker = consuming(client, redis, kafka_bootstrap, topic, dead_letters)
        running = asyncio.create_task(tracker.run())
        try:
            await asyncio.to_thread(publish, triaged, broken)
            await until(lambda: tracker.stats.dead_lettered == 1, "dead letter", running)

            # The operator fixes the record and sends it again, with its id; the conversation
            # goes on.
            await asyncio.to_thread(publish, accepted, hostile, completed)
            await until(
                lambda: tracker.counter.recorded + tracker.stats.duplicates >= 1,
                "exposure recorded (or the fixed record dropped)",
                running,
            )
            assert tracker.stats.duplicates == 0
            assert tracker.counter.recorded == 1
            view = await wellness.view_when(
                "sp-ana", lambda v: v.exposure_minutes > 0, timeout_s=30
            )
        finally:
            tracker.stop()
            await running
    # 20 minutes at high distress (2.0) with a hostile customer (x1.5).
    assert view.exposure_minutes == 60
    [(reason, key)] = await asyncio.to_thread(dead_letters_on, kafka_bootstrap, dead_letter_topic)
    assert key == "c-replayed"
    assert "specialist" in reason
