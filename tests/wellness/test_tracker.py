"""The exposure tracker: conversation events on real Kafka become exposure in the worker's view."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer
from redis import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.events.admin import ensure_topics
from warmline.events.deadletter import REASON_HEADER, DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import DEADLETTER_TOPIC
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WellnessPolicy
from warmline.wellness.tracker import (
    ConversationTrack,
    ExposureCounter,
    ExposureTracker,
    TrackerSettings,
    TrackStore,
    fold,
)
from warmline.wellness.view import WorkerWellness

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
UNREACHABLE_TEMPORAL = "127.0.0.1:9"


def event(kind: EventType, minute: int, data: dict[str, Any], subject: str = "c-1") -> DomainEvent:
    return DomainEvent(
        id=event_id(subject, f"{kind.value}/{minute}"),
        type=kind,
        source="/warmline/tenants/open-door",
        subject=subject,
        time=START + timedelta(minutes=minute),
        data=data,
    )


def conversation(subject: str = "c-1") -> list[DomainEvent]:
    triaged = {"message_id": "m1", "emotions": [], "confidence": 0.9}
    return [
        event(EventType.MESSAGE_TRIAGED, 0, {**triaged, "distress": 0.5}, subject),
        event(
            EventType.HANDOFF_ACCEPTED,
            1,
            {
                "specialist": "sp-ana",
                "queue": "grief",
                "offer_id": "o",
                "crisis": False,
                "waited_ms": 5,
            },
            subject,
        ),
        event(
            EventType.MESSAGE_TRIAGED,
            5,
            {**triaged, "message_id": "m2", "distress": 0.8, "risk_flags": ["hostile"]},
            subject,
        ),
        event(
            EventType.HANDOFF_COMPLETED,
            21,
            {"specialist": "sp-ana", "queue": "grief", "outcome": "resolved"},
            subject,
        ),
    ]


def consuming(
    client: WellnessClient, redis: Redis, kafka: str, topic: str, dead_letters: DeadLetters
) -> ExposureTracker:
    """A tracker on `topic` in a group of its own, retrying quickly through an outage."""
    group = f"tracker-{uuid.uuid4().hex[:8]}"
    return tracker_in(group, client, redis, kafka, topic, dead_letters)


def tracker_in(
    group: str,
    client: WellnessClient,
    redis: Redis,
    kafka: str,
    topic: str,
    dead_letters: DeadLetters,
) -> ExposureTracker:
    return ExposureTracker(
        ExposureCounter(client, TrackStore(redis, deployment="test", prefix=f"track-{group}")),
        bootstrap=kafka,
        deduper=Deduper(redis, scope=group),
        dead_letters=dead_letters,
        settings=TrackerSettings(
            events_topic=topic,
            group_id=group,
            initial_backoff=timedelta(milliseconds=20),
            max_backoff=timedelta(milliseconds=50),
        ),
    )


def test_a_handled_conversation_becomes_one_exposure_record() -> None:
    track = ConversationTrack()
    recorded = []
    for item in [*conversation(), conversation()[-1]]:
        track, exposure = fold(track, item)
        if exposure is not None:
            recorded.append(exposure)
    [(worker, record)] = recorded
    assert worker == "sp-ana"
    assert (record.minutes, record.distress, record.hostile, record.crisis) == (
        20,
        0.8,
        True,
        False,
    )
    assert record.queue == "grief"
    assert record.record_id == conversation()[-1].id


def policy_client(client: Client, wellness: WellnessDeployment) -> WellnessClient:
    return WellnessClient(
        client,
        deployment=wellness.deployment,
        policy=WellnessPolicy(intense_queues=["grief"]),
        task_queue=wellness.task_queue,
    )


def dead_letters_on(kafka: str, topic: str) -> list[tuple[str, str]]:
    """Each dead letter on `topic`: its `dlq.reason` and the key of the record it keeps."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        return [
            (dict(r.headers)[REASON_HEADER].decode(), (r.key or b"").decode()) for r in consumer
        ]
    finally:
        consumer.close()


async def published(kafka: str, events: list[DomainEvent], *other_topics: str) -> str:
    """A fresh events topic holding `events` (the other topics are created beside it)."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka, [topic, *other_topics])
    publisher = EventPublisher.connect(kafka, topic=topic)
    try:
        publisher.publish(events)
    finally:
        publisher.close()
    return topic


@asynccontextmanager
async def connected(
    kafka: str, redis_url: str, dead_letter_topic: str = DEADLETTER_TOPIC
) -> AsyncIterator[tuple[Redis, DeadLetters]]:
    """The Redis client and dead-letter writer a tracker needs, closed afterwards."""
    redis = Redis.from_url(redis_url)
    dead_letters = DeadLetters.connect(kafka, consumer="test-tracker", topic=dead_letter_topic)
    try:
        yield redis, dead_letters
    finally:
        dead_letters.close()
        redis.close()


async def counted(tracker: ExposureTracker, wellness: WellnessDeployment) -> WorkerWellness:
    """sp-ana's view once the tracker has counted exposure for her; the tracker is stopped."""
    running = asyncio.create_task(tracker.run())
    try:
        return await wellness.view_when("sp-ana", lambda v: v.exposure_minutes > 0, timeout_s=30)
    finally:
        tracker.stop()
        await running


async def test_the_tracker_feeds_the_wellness_workflow(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    # The same conversation's completion twice (a redelivery) counts once.
    topic = await published(kafka_bootstrap, [*conversation(), conversation()[-1]])
    client = policy_client(workflow_env.client, wellness)
    async with connected(kafka_bootstrap, redis_url) as (redis, dead_letters):
        tracker = consuming(client, redis, kafka_bootstrap, topic, dead_letters)
        view = await counted(tracker, wellness)
    # 20 minutes at high distress (2.0) with a hostile customer (x1.5).
    assert view.exposure_minutes == 60
    assert view.exposure_by_queue == {"grief": 60}
    assert tracker.counter.recorded == 1
    assert tracker.stats.duplicates == 1


async def test_an_event_the_tracker_cannot_read_is_dead_lettered_and_the_tracker_goes_on(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    """One event without a field the tracker reads stopped it, and stopped it again on that
    record after every restart: nobody's exposure was counted any more."""
    dead_letter_topic = f"dlq-{uuid.uuid4().hex[:8]}"
    no_specialist = {"queue": "grief", "offer_id": "o", "crisis": False, "waited_ms": 5}
    wordy_distress = {"message_id": "m1", "emotions": [], "confidence": 0.9, "distress": "high"}
    unreadable = [
        event(EventType.HANDOFF_ACCEPTED, 1, no_specialist, "c-bad"),
        event(EventType.MESSAGE_TRIAGED, 2, wordy_distress, "c-bad"),
    ]
    topic = await published(kafka_bootstrap, [*unreadable, *conversation()], dead_letter_topic)
    client = policy_client(workflow_env.client, wellness)
    async with connected(kafka_bootstrap, redis_url, dead_letter_topic) as (redis, dead_letters):
        tracker = consuming(client, redis, kafka_bootstrap, topic, dead_letters)
        view = await counted(tracker, wellness)
    assert view.exposure_minutes == 60
    assert (tracker.counter.recorded, tracker.stats.dead_lettered) == (1, 2)
    letters = await asyncio.to_thread(dead_letters_on, kafka_bootstrap, dead_letter_topic)
    assert [key for _, key in letters] == ["c-bad", "c-bad"]
    assert "specialist" in letters[0][0]
    assert "distress" in letters[1][0]


async def test_exposure_waits_out_a_temporal_outage_and_is_counted_once_it_is_back(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    """A call Temporal does not answer used to end the tracker with a traceback; it is retried,
    nothing committed meanwhile, and the next tracker of the group counts the exposure."""
    topic = await published(kafka_bootstrap, conversation())
    group = f"tracker-{uuid.uuid4().hex[:8]}"
    down = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    async with connected(kafka_bootstrap, redis_url) as (redis, dead_letters):
        stranded = tracker_in(
            group, policy_client(down, wellness), redis, kafka_bootstrap, topic, dead_letters
        )
        running = asyncio.create_task(stranded.run())
        for _ in range(400):
            if stranded.stats.retries >= 3 or running.done():
                break
            await asyncio.sleep(0.05)
        stranded.stop()
        await asyncio.wait_for(running, timeout=10)
        assert stranded.stats.retries >= 3
        assert (stranded.counter.recorded, stranded.stats.batches) == (0, 0)

        client = policy_client(workflow_env.client, wellness)
        tracker = tracker_in(group, client, redis, kafka_bootstrap, topic, dead_letters)
        view = await counted(tracker, wellness)
    assert view.exposure_minutes == 60
    assert tracker.counter.recorded == 1
