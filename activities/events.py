"""The publishing activity: the only place domain events leave a workflow for Kafka."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from warmline.events import DomainEvent, EventPublisher


class EventBatch(BaseModel):
    """Events of one workflow step, published together and in order."""

    events: list[DomainEvent]


class EventActivities:
    """Built once by the worker with its publisher (an idempotent Kafka producer)."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    @activity.defn(name="publish_events")
    def publish_events(self, batch: EventBatch) -> None:
        self._publisher.publish(batch.events)
