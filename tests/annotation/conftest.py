"""The annotation loop on the time-skipping test server, with real Kafka and Redis stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from redis import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog
from warmline.annotation.client import AnnotationLoop, start_loop
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import (
    AnnotationPolicy,
    AnnotatorSpec,
    Task,
)
from warmline.annotation.redact import Redactor
from warmline.events import DomainEvent, EventPublisher
from warmline.events.admin import ensure_topics
from warmline.retraining.settings import RetrainingSettings
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WellnessPolicy, WorkerKind
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from warmline.worker import ACTIVITY_THREADS, Annotation, build_worker

EKMAN = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
ANNOTATORS = ("an-ada", "an-ben", "an-cai", "an-dev", "an-new")
"""Every annotator id the tests use: their wellness workflows are ended after each test."""


def make_policy(**changes: object) -> AnnotationPolicy:
    """Three annotators (one senior), Ekman labels, overlap 2, batches of 2."""
    fields: dict[str, object] = {
        "deployment": f"test-{uuid.uuid4().hex[:8]}",
        "taxonomy": "goemotions/ekman",
        "labels": EKMAN,
        "model_taxonomy": "ekman",
        "annotators": [
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-ben"),
            AnnotatorSpec(id="an-cai"),
        ],
        "supervisors": ["sup-sam"],
        "overlap": 2,
        "threshold": 0.667,
        "batch_size": 2,
        "tenants": ["open-door"],
    }
    fields.update(changes)
    return AnnotationPolicy.model_validate(fields)


@dataclass
class LoopKit:
    """A worker with the annotation activities, its stores and the loop's Kafka topic."""

    client: Client
    task_queue: str
    gold: GoldLabelStore
    wellness: WellnessStateStore
    events: EventLog
    wellness_events: EventLog
    env: WorkflowEnvironment
    exposure: WellnessClient
    """Signals the annotators' wellness workflows (the one the annotation activities use)."""

    async def view_when(
        self, worker_id: str, predicate: Callable[[WorkerWellness], bool], timeout_s: float = 10
    ) -> WorkerWellness:
        """The worker's Redis view once `predicate` holds (wellness workflows write it)."""
        for _ in range(int(timeout_s * 20)):
            view = await asyncio.to_thread(self.wellness.read, [worker_id])
            if predicate(view[worker_id]):
                return view[worker_id]
            await asyncio.sleep(0.05)
        raise AssertionError(f"the view of {worker_id} never matched: {view[worker_id]}")

    async def read_events(
        self, subject: str, *, until: str, timeout_s: float = 20.0
    ) -> list[DomainEvent]:
        """Events about `subject` from real Kafka; off the event loop, so the worker keeps going."""
        return await asyncio.to_thread(self.events.read, subject, until=until, timeout_s=timeout_s)

    async def start(self, policy: AnnotationPolicy) -> AnnotationLoop:
        await start_loop(self.client, policy, task_queue=self.task_queue)
        return AnnotationLoop(self.client, policy.deployment)


async def wait_for_tasks(loop: AnnotationLoop, count: int, *, timeout_s: float = 5.0) -> list[Task]:
    """The open tasks, once there are at least `count` (items are prepared by activities)."""
    for _ in range(int(timeout_s * 20)):
        tasks = await loop.tasks()
        if len(tasks) >= count:
            return tasks
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} open tasks after {timeout_s} s")


@pytest.fixture
def event_log(kafka_bootstrap: str) -> Iterator[EventLog]:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    # Created up front: a consumer subscribed before its topic exists waits for a metadata refresh.
    ensure_topics(kafka_bootstrap, [topic, f"{topic}-wellness"])
    log = EventLog(kafka_bootstrap, topic)
    yield log
    log.close()


@pytest.fixture
def wellness_log(event_log: EventLog) -> Iterator[EventLog]:
    """The wellness topic beside `event_log`'s (wellness events travel apart)."""
    log = EventLog(event_log.bootstrap, f"{event_log.topic}-wellness")
    yield log
    log.close()


@pytest.fixture
def retraining() -> RetrainingSettings | None:
    """The retraining the annotation activities announce gold labels to: off unless a test
    overrides this fixture."""
    return None


@pytest.fixture
def wellness_redis_url(redis_url: str) -> str:
    """The Redis holding the wellness view the loop reads: the test Redis, unless a test
    parametrizes this with one that does not answer (an outage)."""
    return redis_url


@pytest.fixture
async def kit(
    workflow_env: WorkflowEnvironment,
    event_log: EventLog,
    wellness_log: EventLog,
    task_queue: str,
    redis_url: str,
    wellness_redis_url: str,
    retraining: RetrainingSettings | None,
) -> AsyncIterator[LoopKit]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(redis_url)
    wellness_redis = Redis.from_url(wellness_redis_url)
    gold = GoldLabelStore(redis, deployment="test", prefix=f"{prefix}:gold")
    wellness = WellnessStateStore(wellness_redis, deployment="test", prefix=f"{prefix}:wellness")
    publisher = EventPublisher.connect(
        event_log.bootstrap, topic=event_log.topic, wellness_topic=wellness_log.topic
    )
    exposure = WellnessClient(
        workflow_env.client,
        deployment=prefix,
        policy=WellnessPolicy(),
        task_queue=task_queue,
        kinds=dict.fromkeys(ANNOTATORS, WorkerKind.ANNOTATOR),
    )
    annotation = Annotation(
        gold=gold,
        wellness=wellness,
        redactor=Redactor(),
        exposure=exposure,
        retraining=retraining,
    )
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            workflow_env.client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
            annotation=annotation,
        ):
            kit = LoopKit(
                workflow_env.client,
                task_queue,
                gold,
                wellness,
                event_log,
                wellness_log,
                workflow_env,
                exposure,
            )
            yield kit
    publisher.close()
    wellness_redis.close()
    redis.close()
