"""The triage activities: a provider reads the message; the crisis screen always runs over it.

`triage_and_publish` also publishes the message's `message.triaged` (and `crisis.detected`) events
itself, so an ordinary message costs the conversation one activity rather than two. The events'
ids are derived from the workflow and the message, so a retried attempt re-sends the same events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.triage.provider import TriageProvider, triage
from warmline.triage.types import TriageRequest, TriageResult


class EventStamp(BaseModel):
    """What the events of one workflow step share: the workflow's scope, source and time."""

    scope: str
    """The workflow id, from which event ids are derived."""
    source: str
    time: datetime


class TriageCall(BaseModel):
    request: TriageRequest
    stamp: EventStamp
    preceding: list[DomainEvent] = []
    """Events the workflow has not published yet (`conversation.started`), sent first."""


def triage_events(
    result: TriageResult, message_id: str, stamp: EventStamp, subject: str
) -> list[DomainEvent]:
    """The events of a triaged message: `message.triaged`, and `crisis.detected` for a crisis."""

    def event(event_type: EventType, step: str, data: dict[str, Any]) -> DomainEvent:
        return DomainEvent(
            id=event_id(stamp.scope, step),
            type=event_type,
            source=stamp.source,
            subject=subject,
            time=stamp.time,
            data=data,
        )

    events = [
        event(
            EventType.MESSAGE_TRIAGED,
            f"{message_id}/triaged",
            {"message_id": message_id, **result.model_dump(mode="json", exclude={"provider"})},
        )
    ]
    if result.crisis:
        events.append(
            event(
                EventType.CRISIS_DETECTED,
                f"{message_id}/crisis",
                {"message_id": message_id, "risk_flags": [f.value for f in result.risk_flags]},
            )
        )
    return events


class TriageActivities:
    """Built once by the worker with its provider and publisher; holds no other state."""

    def __init__(self, provider: TriageProvider, publisher: EventPublisher) -> None:
        self._provider = provider
        self._publisher = publisher

    @activity.defn(name="triage_message")
    def triage_message(self, request: TriageRequest) -> TriageResult:
        return triage(self._provider, request)

    @activity.defn(name="triage_and_publish")
    def triage_and_publish(self, call: TriageCall) -> TriageResult:
        result = triage(self._provider, call.request)
        request = call.request
        self._publisher.publish(
            [
                *call.preceding,
                *triage_events(result, request.message_id, call.stamp, request.conversation_id),
            ]
        )
        return result
