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

A retried `triage_and_publish` publishes and returns the reading of the attempt that first read the
message, not a new one: a publish that fails after Kafka wrote the events (a lost acknowledgement,
one record of two written) would otherwise leave consumers, who drop a repeated event id, with one
reading and the workflow acting on another. The worker keeps its recent readings in memory, which
covers a local activity's retries (they run in the same worker), and a regular activity also sends
its reading as heartbeat details, which reach a retry on any worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity

from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.triage.crisis import apply_screen, crisis_under, screen
from warmline.triage.errors import PermanentTriageProviderError
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.provider import TriageProvider
from warmline.triage.types import TriageRequest, TriageResult

FALLBACK_FROM_ATTEMPT = 3
"""The attempt from which a provider that still fails is replaced by the lexicon."""
READINGS_KEPT = 10_000
"""How many readings a worker remembers for retries: more than the messages one worker has in
flight at once (during a Kafka outage every conversation's message waits in triage). An entry is
its key and the reading's JSON: about 1.3 kB for a lexicon reading, 2.2 kB for one scoring all 28
emotions with a long rationale, so 13 to 22 MB when full; kept as models, several times that."""


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
            {
                "message_id": message_id,
                **result.model_dump(mode="json", exclude={"provider"}),
                "rationale": published_rationale(result),
            },
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


def published_rationale(result: TriageResult) -> str:
    """The rationale `message.triaged` carries, built from the reading's labels and flags alone.

    A provider's own rationale may quote the message (the lexicon's cue phrases, the crisis
    screen's matches, an LLM's retelling of it), and events reach every subscribed connector (a
    webhook, the gRPC gateway) as they are; the event's contract is a sentence with no customer
    text. The workflow keeps the provider's own rationale for the handoff's specialist."""
    read = ", ".join(f"{e.label} {e.score:.2f}" for e in result.emotions[:3]) or "no emotion"
    parts = [f"{result.provider} reads {read}", f"distress {result.distress:.2f}"]
    if result.risk_flags:
        parts.append("risks: " + ", ".join(f.value for f in result.risk_flags))
    if result.crisis:
        parts.append("a crisis")
    return "; ".join(parts) + "."


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


class Readings:
    """The worker's recent readings by (event scope, message id), the oldest forgotten first.

    Thread-safe: the triage activities run on the worker's thread pool. This is the one piece of
    state the activities hold, on purpose: a retry that read the message again could publish a
    different reading under the event ids of the first, which consumers drop as duplicates.
    """

    def __init__(self, limit: int = READINGS_KEPT) -> None:
        self._limit = limit
        self._readings: OrderedDict[tuple[str, str], str] = OrderedDict()
        """The readings as JSON, the most recently used last."""
        self._lock = threading.Lock()

    def get(self, scope: str, message_id: str) -> TriageResult | None:
        key = (scope, message_id)
        with self._lock:
            kept = self._readings.get(key)
            if kept is None:
                return None
            self._readings.move_to_end(key)
        return TriageResult.model_validate_json(kept)

    def keep(self, scope: str, message_id: str, reading: TriageResult) -> None:
        kept = reading.model_dump_json()
        key = (scope, message_id)
        with self._lock:
            self._readings[key] = kept
            self._readings.move_to_end(key)
            while len(self._readings) > self._limit:
                self._readings.popitem(last=False)


def earlier_reading(details: Sequence[Any]) -> TriageResult | None:
    """The reading an earlier attempt of a regular activity sent as heartbeat details, if any."""
    if not details:
        return None
    try:
        return TriageResult.model_validate(details[0])
    except ValidationError as error:
        activity.logger.warning(
            "an earlier attempt's heartbeat details are not a triage reading (%s); "
            "the message is read again",
            error,
        )
        return None


class TriageActivities:
    """Built once by the worker with its provider and publisher; holds only `Readings`."""

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
        self._readings = Readings()

    def _triage(self, request: TriageRequest) -> TriageResult:
        attempt = activity.info().attempt
        return triage_or_fall_back(self._provider, self._fallback, request, attempt=attempt)

    @activity.defn(name="triage_message")
    def triage_message(self, request: TriageRequest) -> TriageResult:
        return self._triage(request)

    def _reading_once(self, call: TriageCall) -> TriageResult:
        """The message's reading: the one an earlier attempt published, or a new one, kept (and
        for a regular activity heartbeated) before anything is published."""
        scope, message_id = call.stamp.scope, call.request.message_id
        info = activity.info()
        reading = self._readings.get(scope, message_id)
        if reading is None and not info.is_local:
            reading = earlier_reading(info.heartbeat_details)
            if reading is not None:
                self._readings.keep(scope, message_id, reading)
        if reading is not None:
            return reading
        reading = self._triage(call.request)
        self._readings.keep(scope, message_id, reading)
        if not info.is_local:
            activity.heartbeat(reading)
        return reading

    @activity.defn(name="triage_and_publish")
    def triage_and_publish(self, call: TriageCall) -> TriageResult:
        result = self._reading_once(call)
        request = call.request
        self._publisher.publish(
            [
                *call.preceding,
                *triage_events(result, request.message_id, call.stamp, request.conversation_id),
            ]
        )
        return result
