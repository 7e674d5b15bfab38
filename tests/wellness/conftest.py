"""A wellness worker on the time-skipping server, with real Kafka and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.wellness import WellnessActivities
from tests.events.contract import in_catalog
from warmline.events import DomainEvent, EventPublisher, from_record
from warmline.events.admin import ensure_topics
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow


class WellnessEvents:
    """Reads back the wellness topic of one test."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = KafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        self.events: list[DomainEvent] = []

    def read(self, count: int, *, timeout_s: float = 20.0) -> list[DomainEvent]:
        """At least `count` events (every one checked against its catalog model)."""
        for _ in range(int(timeout_s * 2)):
            if len(self.events) >= count:
                break
            for records in self._consumer.poll(timeout_ms=500).values():
                for record in records:
                    event = from_record(record.key, list(record.headers), record.value)
                    in_catalog(event)
                    self.events.append(event)
        assert len(self.events) >= count, f"{len(self.events)} events, wanted {count}"
        return self.events

    def close(self) -> None:
        self._consumer.close()


@dataclass
class WellnessDeployment:
    task_queue: str
    store: WellnessStateStore
    events: WellnessEvents
    deployment: str

    async def view_when(
        self, worker_id: str, predicate: Callable[[WorkerWellness], bool], timeout_s: float = 10
    ) -> WorkerWellness:
        """The worker's Redis view once `predicate` holds (a signal is handled asynchronously)."""
        for _ in range(int(timeout_s * 20)):
            view = self.store.read([worker_id])[worker_id]
            if predicate(view):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"the view of {worker_id} never matched: {view}")


@pytest.fixture
def wellness_store(redis_url: str) -> Iterator[WellnessStateStore]:
    store = WellnessStateStore.connect(
        redis_url, deployment="test", prefix=f"test-wellness-{uuid.uuid4().hex[:8]}"
    )
    yield store
    store.close()


@pytest.fixture
async def wellness(
    workflow_env: WorkflowEnvironment,
    kafka_bootstrap: str,
    task_queue: str,
    wellness_store: WellnessStateStore,
) -> AsyncIterator[WellnessDeployment]:
    topic = f"wellness-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic])
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic, wellness_topic=topic)
    events = WellnessEvents(kafka_bootstrap, topic)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            workflow_env.client,
            task_queue=task_queue,
            workflows=[WellnessWorkflow, RosterWorkflow],
            activities=[WellnessActivities(wellness_store, publisher).sync],
            activity_executor=executor,
        ):
            deployment = WellnessDeployment(
                task_queue=task_queue, store=wellness_store, events=events, deployment="test"
            )
            yield deployment
    events.close()
    publisher.close()
