"""The gold-label store and the activity that records into it, against a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis import Redis
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.annotation import AnnotationActivities, GoldCall
from warmline.annotation.gold import GoldLabel, GoldLabelStore
from warmline.annotation.redact import Redactor
from warmline.wellness.view import WellnessStateStore


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def gold(item_id: str, labels: list[str]) -> GoldLabel:
    return GoldLabel(
        item_id=item_id,
        text="I miss her so much",
        labels=labels,
        taxonomy="ekman",
        source="random",
        annotators=["an-ada", "an-ben"],
        created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )


async def test_a_retried_record_reports_the_gold_label_it_kept(
    redis: Redis, workflow_env: WorkflowEnvironment
) -> None:
    """An attempt of `annotation_record_gold` may keep the label and then be lost (the worker
    dies before it reports, the call times out); Temporal retries it. The retry used to answer
    that nothing was recorded, so the workflow counted no gold label, emitted no
    `annotation.gold.recorded` event and told retraining nothing of a label that is in the
    store. It answers as the first attempt would have, and keeps the label once."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    store = GoldLabelStore(redis, deployment="d", prefix=prefix)
    activities = AnnotationActivities(
        workflow_env.client,
        store,
        WellnessStateStore(redis, deployment="d", prefix=f"{prefix}:wellness"),
        Redactor(),
    )
    call = GoldCall(labels=[gold("t/c1/m1/emotion", ["sadness"])])
    env = ActivityEnvironment()
    first = env.run(activities.record_gold, call)
    retried = env.run(activities.record_gold, call)
    assert first.recorded == ["t/c1/m1/emotion"]
    assert retried.recorded == first.recorded
    assert store.count("ekman") == 1

    # Another gold label for an item the store has is not kept, and not reported as kept.
    other = GoldCall(labels=[gold("t/c1/m1/emotion", ["joy"])])
    assert env.run(activities.record_gold, other).recorded == []
    assert [g.labels for g in store.read("ekman")] == [["sadness"]]
