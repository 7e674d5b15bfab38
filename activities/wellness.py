"""The wellness workflow's one activity: write the worker's Redis view, then publish its events.

The view goes first so routing stops offering (a break, a rotation) before the world hears of it.
Both steps are idempotent: the view is the whole state and the events carry deterministic ids.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from warmline.events import DomainEvent, EventPublisher
from warmline.wellness.view import WellnessStateStore, WorkerWellness


class WellnessSync(BaseModel):
    view: WorkerWellness
    events: list[DomainEvent]


class WellnessActivities:
    """Built once by the worker with the deployment's wellness view and the event publisher."""

    def __init__(self, store: WellnessStateStore, publisher: EventPublisher) -> None:
        self._store = store
        self._publisher = publisher

    @activity.defn(name="wellness_sync")
    def sync(self, call: WellnessSync) -> None:
        self._store.write(call.view)
        if call.events:
            self._publisher.publish(call.events)
