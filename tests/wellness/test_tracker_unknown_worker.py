"""A `handoff.accepted` naming a worker who is not in the configuration starts no workflow.

The tracker signalled-with-start the wellness workflow of whoever an event named: a bad or foreign
event made a workflow nobody reads, one per id it named. With the configured workers it now
dead-letters such an accept with the reason, unless the worker's workflow runs (someone removed
from the configuration mid-shift, whose work still counts).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from redis import Redis
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from tests.wellness.test_tracker import (
    connected,
    conversation,
    dead_letters_on,
    policy_client,
    published,
)
from warmline.events import DomainEvent
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.wellness.client import WellnessClient
from warmline.wellness.tracker import ExposureCounter, ExposureTracker, TrackerSettings, TrackStore


def handled_by(specialist: str, subject: str) -> list[DomainEvent]:
    """`conversation()` with another specialist accepting it."""
    events = []
    for item in conversation(subject):
        data: dict[str, Any] = dict(item.data)
        if "specialist" in data:
            data["specialist"] = specialist
        events.append(item.model_copy(update={"data": data}))
    return events


def tracker_of(
    client: WellnessClient, redis: Redis, kafka: str, topic: str, dead_letters: DeadLetters
) -> ExposureTracker:
    group = f"tracker-{uuid.uuid4().hex[:8]}"
    return ExposureTracker(
        ExposureCounter(
            client,
            TrackStore(redis, deployment="test", prefix=f"track-{group}"),
            workers={"sp-ana"},
        ),
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


async def test_an_accept_by_an_unknown_worker_is_dead_lettered_and_starts_no_workflow(
    workflow_env: WorkflowEnvironment,
    wellness: WellnessDeployment,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    dead_letter_topic = f"dlq-{uuid.uuid4().hex[:8]}"
    events = [
        *handled_by("sp-ghost", "c-ghost"),
        *handled_by("sp-left", "c-left"),
        *conversation(),
    ]
    topic = await published(kafka_bootstrap, events, dead_letter_topic)
    client = policy_client(workflow_env.client, wellness)
    # Removed from the configuration during her shift: her workflow runs on.
    await client.ensure("sp-left")
    async with connected(kafka_bootstrap, redis_url, dead_letter_topic) as (redis, dead_letters):
        tracker = tracker_of(client, redis, kafka_bootstrap, topic, dead_letters)
        running = asyncio.create_task(tracker.run())
        try:
            for worker in ("sp-ana", "sp-left"):
                view = await wellness.view_when(
                    worker, lambda v: v.exposure_minutes > 0, timeout_s=30
                )
                assert view.exposure_minutes == 60, f"{worker}'s work counts"
            for _ in range(600):
                if tracker.stats.dead_lettered:
                    break
                await asyncio.sleep(0.05)
        finally:
            tracker.stop()
            await running
    assert not await client.is_running("sp-ghost"), "no workflow for an unknown worker"
    assert (tracker.counter.recorded, tracker.stats.dead_lettered) == (2, 1)
    letters = await asyncio.to_thread(dead_letters_on, kafka_bootstrap, dead_letter_topic)
    [(reason, key)] = letters
    assert key == "c-ghost"
    assert "'sp-ghost' is not in the configuration" in reason
