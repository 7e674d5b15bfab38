"""The exposure tracker: conversation events on real Kafka become exposure in the worker's view."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.events.admin import ensure_topics
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WellnessPolicy
from warmline.wellness.tracker import ConversationTrack, ExposureTracker, TrackStore, fold
from warmline.wellness.types import wellness_workflow_id

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


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


async def test_the_tracker_feeds_the_wellness_workflow(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic])
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    # The same conversation's completion twice (a redelivery) counts once.
    publisher.publish([*conversation(), conversation()[-1]])
    publisher.close()
    client = WellnessClient(
        workflow_env.client,
        deployment=wellness.deployment,
        policy=WellnessPolicy(intense_queues=["grief"]),
        task_queue=wellness.task_queue,
    )
    wellness.started.append(wellness_workflow_id(wellness.deployment, "sp-ana"))
    redis = Redis.from_url(redis_url)
    tracker = ExposureTracker(
        client,
        TrackStore(redis, deployment="test", prefix=f"test-track-{uuid.uuid4().hex[:8]}"),
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=f"tracker-{uuid.uuid4().hex[:8]}",
    )
    running = asyncio.create_task(tracker.run())
    try:
        # 20 minutes at high distress (2.0) with a hostile customer (x1.5).
        view = await wellness.view_when("sp-ana", lambda v: v.exposure_minutes > 0, timeout_s=30)
        assert view.exposure_minutes == 60
        assert view.exposure_by_queue == {"grief": 60}
    finally:
        tracker.stop()
        await running
        redis.close()
    assert tracker.recorded == 1


async def test_an_event_whose_data_does_not_fit_its_type_is_skipped_and_the_tracker_goes_on(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic])
    no_specialist = {"queue": "grief", "offer_id": "o", "crisis": False, "waited_ms": 5}
    wordy_distress = {"message_id": "m1", "emotions": [], "confidence": 0.9, "distress": "high"}
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    publisher.publish(
        [
            event(EventType.HANDOFF_ACCEPTED, 1, no_specialist, "c-bad"),
            event(EventType.MESSAGE_TRIAGED, 2, wordy_distress, "c-bad"),
            *conversation(),
        ]
    )
    publisher.close()
    client = WellnessClient(
        workflow_env.client,
        deployment=wellness.deployment,
        policy=WellnessPolicy(intense_queues=["grief"]),
        task_queue=wellness.task_queue,
    )
    wellness.started.append(wellness_workflow_id(wellness.deployment, "sp-ana"))
    redis = Redis.from_url(redis_url)
    tracker = ExposureTracker(
        client,
        TrackStore(redis, deployment="test", prefix=f"test-track-{uuid.uuid4().hex[:8]}"),
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=f"tracker-{uuid.uuid4().hex[:8]}",
    )
    running = asyncio.create_task(tracker.run())
    try:
        view = await wellness.view_when("sp-ana", lambda v: v.exposure_minutes > 0, timeout_s=30)
        assert view.exposure_minutes == 60
    finally:
        tracker.stop()
        await running
        redis.close()
    assert (tracker.recorded, tracker.skipped) == (1, 2)
