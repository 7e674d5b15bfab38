"""A dead letter the sampler wrote, fixed and sent again with its id, is sampled.

Sending the fixed record again under its event id is how a dead letter is replayed. The sampler
used to mark every sampled event id of a batch done, the ones Temporal refused and it
dead-lettered too, so the dedupe (seven days) dropped the fixed record as a duplicate and the
message never reached the annotators. Real services: the dev server (which refuses a signal whose
payload is over its 2 MiB blob limit, as a production cluster does), Apache Kafka and Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kafka import KafkaProducer
from redis import Redis
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client

from tests.annotation.conftest import make_policy
from tests.api.conftest import load_peer_support
from tests.wellness.test_tracker import dead_letters_on
from warmline.annotation.model import annotation_workflow_id
from warmline.annotation.sampler import AnnotationSampler, SamplerSettings
from warmline.config.model import WarmlineConfig
from warmline.events import DomainEvent, EventType, to_record
from warmline.events.admin import ensure_topics
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper

OVER_THE_BLOB_LIMIT = 3 * 1_048_576
"""A `model_version` longer than the dev server's (and Temporal's default) 2 MiB payload limit."""


def sampling_everything() -> WarmlineConfig:
    """The peer-support example, sampling every triaged message for low confidence."""
    base = load_peer_support()
    sampling = base.annotation.sampling.model_copy(
        update={"confidence_below": 1.0, "random_fraction": 0.0}
    )
    return base.model_copy(
        update={"annotation": base.annotation.model_copy(update={"sampling": sampling})}
    )


def triaged(conversation: str, model_version: str) -> DomainEvent:
    return DomainEvent(
        id=f"triaged-{uuid.uuid4().hex[:8]}",
        type=EventType.MESSAGE_TRIAGED,
        source="/warmline/tenants/open-door",
        subject=conversation,
        time=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        data={
            "message_id": "m1",
            "emotions": [],
            "distress": 0.4,
            "confidence": 0.3,
            "rationale": "unsure",
            "model_version": model_version,
        },
    )


def send(kafka: str, topic: str, event: DomainEvent) -> None:
    record = to_record(event)
    producer = KafkaProducer(bootstrap_servers=kafka, max_request_size=8 * 1_048_576)
    try:
        producer.send(topic, key=record.key, value=record.value, headers=record.headers).get(
            timeout=30
        )
    finally:
        producer.close(timeout=5)


async def until(condition: Callable[[], bool], what: str, task: asyncio.Task[None]) -> None:
    """Wait (generously: the machine may be busy) until `condition()` holds."""
    for _ in range(1200):
        if condition():
            return
        if task.done():
            task.result()
            raise AssertionError(f"the sampler stopped before {what}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} after 60 s")


async def test_a_fixed_dead_letter_sent_again_with_its_id_is_sampled(
    dev_client: Client, kafka_bootstrap: str, redis_url: str
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    dead_letter_topic = f"{topic}-dlq"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic, dead_letter_topic])
    policy = make_policy(deployment=f"replayed-{uuid.uuid4().hex[:6]}")
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    oversized = triaged(conversation, "x" * OVER_THE_BLOB_LIMIT)
    fixed = oversized.model_copy(update={"data": {**oversized.data, "model_version": "v1"}})

    redis = Redis.from_url(redis_url)
    dead_letters = DeadLetters.connect(
        kafka_bootstrap, consumer="test-sampler", topic=dead_letter_topic
    )
    sampler = AnnotationSampler(
        dev_client,
        sampling_everything(),
        bootstrap=kafka_bootstrap,
        deduper=Deduper(redis, scope=f"test-{uuid.uuid4().hex[:8]}"),
        dead_letters=dead_letters,
        settings=SamplerSettings(
            task_queue=f"no-worker-{uuid.uuid4().hex[:8]}",
            events_topic=topic,
            group_id=f"sampler-{uuid.uuid4().hex[:8]}",
            initial_backoff=timedelta(milliseconds=20),
            max_backoff=timedelta(milliseconds=200),
        ),
        policy=policy,
    )
    loop = dev_client.get_workflow_handle(annotation_workflow_id(policy.deployment))
    running = asyncio.create_task(sampler.run())
    try:
        await asyncio.to_thread(send, kafka_bootstrap, topic, oversized)
        await until(lambda: sampler.stats.dead_lettered == 1, "dead letter", running)
        assert sampler.stats.sampled == 0

        # The operator fixes the record and sends it again, with its id.
        await asyncio.to_thread(send, kafka_bootstrap, topic, fixed)
        await until(
            lambda: sampler.stats.sampled + sampler.stats.duplicates >= 1,
            "item handed on (or the fixed record dropped)",
            running,
        )
        assert (sampler.stats.sampled, sampler.stats.duplicates) == (1, 0)
        signals = [
            event.workflow_execution_signaled_event_attributes.signal_name
            async for event in loop.fetch_history_events()
            if event.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert signals.count("submit_item") == 1
    finally:
        sampler.stop()
        await running
        dead_letters.close()
        redis.close()
        # Nobody works its task queue: nothing is in flight to stall.
        await loop.terminate(reason="test over")
    [(reason, key)] = await asyncio.to_thread(dead_letters_on, kafka_bootstrap, dead_letter_topic)
    assert reason.startswith("Temporal refused the item: ")
    assert key == conversation
