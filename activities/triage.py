"""The triage activities: a provider reads the message; the crisis screen always runs over it.

`triage_and_publish` also publishes the message's `message.triaged` (and `crisis.detected`) events
itself, so an ordinary message costs the conversation one activity rather than two. The events'
ids are derived from the workflow and the message, so a retried attempt re-sends the same events.

A provider that keeps failing never holds a conversation up: a refusal no retry can fix (bad
credentials, a model that declines) is read by the lexicon at once, and any other failure from
attempt `FALLBACK_FROM_ATTEMPT` on (the provider is still asked first on every attempt), so an
LLM outage costs a message three tries and then a cruder reading, never the conversation. The
workflow retries these activities without limit: past the provider only the publish can fail,
and events must wait for Kafka rather than be lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.triage.crisis import apply_screen, crisis_under, screen
from warmline.triage.errors import PermanentTriageProviderError
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.provider import TriageProvider
from warmline.triage.types import TriageRequest, TriageResult

FALLBACK_FROM_ATTEMPT = 3
"""The attempt from which a provider that still fails is replaced by the lexicon."""


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


def triage_or_fall_back(
    provider: TriageProvider, fallback: TriageProvider, request: TriageRequest, *, attempt: int
) -> TriageResult:
    """The provider's reading with the crisis screen on top, or the fallback's when the provider
    refused for good or still fails at `FALLBACK_FROM_ATTEMPT`; earlier failures propagate, so
    the activity is retried."""
    try:
        reading = provider.triage(request)
    except Exception as error:
        permanent = isinstance(error, PermanentTriageProviderError)
        if not permanent and attempt < FALLBACK_FROM_ATTEMPT:
            raise
        activity.logger.warning(
            "triage provider %s failed on attempt %d (%s: %s); the %s provider reads message %s",
            provider.name,
            attempt,
            type(error).__name__,
            error,
            fallback.name,
            request.message_id,
        )
        reading = fallback.triage(request)
        why = f"The {provider.name} provider failed ({type(error).__name__}); "
        reading = reading.model_copy(
            update={"rationale": f"{why}read by the {fallback.name} provider. {reading.rationale}"}
        )
    return crisis_under(apply_screen(reading, screen(request.text)), request.crisis_flags)


class TriageActivities:
    """Built once by the worker with its provider and publisher; holds no other state."""

    def __init__(
        self,
        provider: TriageProvider,
        publisher: EventPublisher,
        *,
        fallback: TriageProvider | None = None,
    ) -> None:
        self._provider = provider
        self._publisher = publisher
        self._fallback = fallback or LexiconProvider()

    def _triage(self, request: TriageRequest) -> TriageResult:
        attempt = activity.info().attempt
        return triage_or_fall_back(self._provider, self._fallback, request, attempt=attempt)

    @activity.defn(name="triage_message")
    def triage_message(self, request: TriageRequest) -> TriageResult:
        return self._triage(request)

    @activity.defn(name="triage_and_publish")
    def triage_and_publish(self, call: TriageCall) -> TriageResult:
        result = self._triage(call.request)
        request = call.request
        self._publisher.publish(
            [
                *call.preceding,
                *triage_events(result, request.message_id, call.stamp, request.conversation_id),
            ]
        )
        return result
