"""The exposure tracker: turns conversation events on Kafka into exposure records for workers.

Why a consumer rather than signals from the conversation workflow: every fact it needs is already
on `warmline.events.v1` (who accepted, the triaged distress, crisis and hostile flags, when the
specialist let go), the conversation and escalation workflows stay as they are (their recorded
histories keep replaying), and a slow or stopped tracker never delays a conversation. The cost is a
little lag: exposure is counted when the specialist lets a conversation go, a few hundred
milliseconds after the event.

Per conversation it keeps a small track in Redis (owner, queue, when accepted, peak distress,
crisis, hostile); when the owner completes, hands back, transfers or the conversation closes, it
signals-with-start the owner's `WellnessWorkflow` with an `ExposureRecord` whose id is the event
id, so a redelivered event counts once. `ExposureCounter` is that fold and record, for callers that
hand it events themselves (the demo, `warmline simulate`); `ExposureTracker` is the consumer of
`warmline wellness-tracker`, a `BatchConsumer` like the bridge and the annotation sampler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from kafka.consumer.fetcher import ConsumerRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis import Redis

from warmline.events import DomainEvent, EventType, from_record
from warmline.events.catalog import EventDataError
from warmline.events.consuming import BatchConsumer, ConsumerStats, ConsumerTimings
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.envelope import EventDecodeError
from warmline.events.types import EVENTS_TOPIC
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import ExposureRecord

TRACK_TTL = timedelta(days=7)
HOSTILE = "hostile"
RELEASES = {
    EventType.HANDOFF_COMPLETED,
    EventType.HANDOFF_RETURNED,
    EventType.CONVERSATION_CLOSED,
}


class ConversationTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str | None = None
    queue: str | None = None
    accepted_at: datetime | None = None
    peak_distress: float = 0.0
    crisis: bool = False
    hostile: bool = False


_Fields = TypeVar("_Fields", bound=BaseModel)
T = TypeVar("T")


class _Triaged(BaseModel):
    """What the tracker reads of `message.triaged`: only these fields, so an event from a version
    whose other fields differ still counts."""

    distress: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    risk_flags: list[str] = Field(default_factory=list)
    crisis: bool = False


class _Accepted(BaseModel):
    """What the tracker reads of `handoff.accepted`."""

    specialist: str = Field(min_length=1)
    queue: str
    crisis: bool = False


def _read(model: type[_Fields], event: DomainEvent) -> _Fields:
    try:
        return model.model_validate(event.data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in error.errors()
        )
        raise EventDataError(f"{event.type.value} event {event.id}: {problems}") from None


def fold(
    track: ConversationTrack, event: DomainEvent
) -> tuple[ConversationTrack, tuple[str, ExposureRecord] | None]:
    """The track after `event`, and the exposure to record if the owner let the conversation go.

    `EventDataError` when the event lacks a field the tracker reads, or has it of the wrong type.
    """
    data = event.data
    if event.type == EventType.MESSAGE_TRIAGED:
        triaged = _read(_Triaged, event)
        return track.model_copy(
            update={
                "peak_distress": max(track.peak_distress, triaged.distress),
                "crisis": track.crisis or triaged.crisis,
                "hostile": track.hostile or HOSTILE in triaged.risk_flags,
            }
        ), None
    if event.type == EventType.CRISIS_DETECTED:
        return track.model_copy(update={"crisis": True}), None
    if event.type == EventType.HANDOFF_ACCEPTED:
        accepted = _read(_Accepted, event)
        return track.model_copy(
            update={
                "owner": accepted.specialist,
                "queue": accepted.queue,
                "accepted_at": event.time,
                "crisis": track.crisis or accepted.crisis,
            }
        ), None
    transfer = event.type == EventType.ESCALATION_REROUTED and data.get("reason") == "transfer"
    if (event.type in RELEASES or transfer) and track.owner and track.accepted_at:
        minutes = max((event.time - track.accepted_at).total_seconds() / 60, 0.0)
        record = ExposureRecord(
            record_id=event.id,
            minutes=min(minutes, 24 * 60),
            distress=min(track.peak_distress, 1.0),
            crisis=track.crisis,
            hostile=track.hostile,
            queue=track.queue,
        )
        released = track.model_copy(update={"owner": None, "accepted_at": None})
        return released, (track.owner, record)
    return track, None


class TrackStore:
    """Each conversation's track: `<prefix>:<deployment>:<source>:<conversation>` (JSON, 7 days)."""

    def __init__(
        self, client: Redis, *, deployment: str, prefix: str = "warmline:wellness-track"
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"

    def _key(self, event: DomainEvent) -> str:
        return f"{self._prefix}{event.source}:{event.subject}"

    def get(self, event: DomainEvent) -> ConversationTrack:
        raw = self._client.get(self._key(event))
        return ConversationTrack() if raw is None else ConversationTrack.model_validate_json(raw)

    def put(self, event: DomainEvent, track: ConversationTrack) -> None:
        ttl = int(TRACK_TTL.total_seconds())
        self._client.set(self._key(event), track.model_dump_json(), ex=ttl)


TRACKED = {
    EventType.MESSAGE_TRIAGED,
    EventType.CRISIS_DETECTED,
    EventType.HANDOFF_ACCEPTED,
    EventType.ESCALATION_REROUTED,
    *RELEASES,
}
_TRACKED_TYPES = {event_type.value.encode() for event_type in TRACKED}

_Call = Callable[[str, Callable[[], Awaitable[T]], bool], Awaitable[T]]
"""Runs one call to Redis or Temporal: `(what, call, in_thread)`."""


async def _once(what: str, call: Callable[[], Awaitable[T]], in_thread: bool) -> T:
    return await call()


class ExposureCounter:
    """Folds conversation events into their tracks and records the exposure they add up to."""

    def __init__(
        self,
        wellness: WellnessClient,
        tracks: TrackStore,
        *,
        workers: Collection[str] | None = None,
    ) -> None:
        self._wellness = wellness
        self._tracks = tracks
        self._workers = None if workers is None else frozenset(workers)
        """The configured workers; with them, a `handoff.accepted` naming anyone else (who has
        no running wellness workflow) is refused rather than given a workflow nobody reads."""
        self.recorded = 0

    async def handle(self, event: DomainEvent, call: _Call[Any] = _once) -> None:
        """Fold one event (of any type: only `TRACKED` ones count); `EventDataError` when it
        lacks a field the tracker reads. `call` runs each call to Redis and Temporal (once, by
        default; the tracker's consume loop retries them through an outage)."""
        if event.type not in TRACKED:
            return
        tracks = self._tracks
        track: ConversationTrack = await call(
            "the conversation's track", lambda: asyncio.to_thread(tracks.get, event), True
        )
        after, exposure = fold(track, event)
        if event.type == EventType.HANDOFF_ACCEPTED and after.owner is not None:
            await self._check_worker(event, after.owner, call)
        if exposure is not None:
            # Recorded before the track is saved: a crash in between repeats the record, whose
            # id (the event id) the wellness workflow counts once.
            worker, record = exposure
            await call(f"{worker}'s exposure", lambda: self._wellness.record(worker, record), False)
            self.recorded += 1
        if after != track:
            await call(
                "the conversation's track",
                lambda: asyncio.to_thread(tracks.put, event, after),
                True,
            )

    async def _check_worker(self, event: DomainEvent, worker: str, call: _Call[Any]) -> None:
        """`EventDataError` when the accepting specialist is not in the configuration and has no
        running wellness workflow: a bad or foreign event, whose exposure would start a workflow
        nobody reads (one per id it names). A worker removed from the configuration mid-shift
        keeps their workflow, so their work still counts until they stop."""
        if self._workers is None or worker in self._workers:
            return
        wellness = self._wellness
        running: bool = await call(
            f"{worker}'s wellness workflow", lambda: wellness.is_running(worker), False
        )
        if not running:
            raise EventDataError(
                f"{event.type.value} event {event.id}: specialist {worker!r} is not in the"
                " configuration and has no running wellness workflow"
            )


@dataclass(frozen=True)
class TrackerSettings(ConsumerTimings):
    events_topic: str = EVENTS_TOPIC
    group_id: str = "warmline-wellness-tracker"
    batch_size: int = 200


@dataclass
class TrackerStats(ConsumerStats):
    passed_over: int = 0
    """Events of types the tracker does not read (including ones a newer warmline emits)."""


class ExposureTracker(BatchConsumer[TrackerSettings, TrackerStats]):
    """`warmline wellness-tracker`'s consumer of the events topic, until `stop()`.

    At least once with exactly-once effect, like the bridge and the annotation sampler (the loop,
    retries and dead letters are `BatchConsumer`'s): an outage of Temporal, Redis or Kafka is
    retried with backoff, nothing committed meanwhile; a record of a type the tracker reads that
    cannot be decoded, or lacks a field the tracker reads, goes to the dead-letter topic with the
    reason and the tracker goes on; records of other types (`ce_type`) are passed over undecoded;
    an event handled before (by id, in Redis) is dropped.
    """

    def __init__(
        self,
        counter: ExposureCounter,
        *,
        bootstrap: str,
        deduper: Deduper,
        dead_letters: DeadLetters,
        settings: TrackerSettings | None = None,
    ) -> None:
        settings = settings or TrackerSettings()
        super().__init__(
            label="wellness tracker",
            bootstrap=bootstrap,
            topics=[settings.events_topic],
            settings=settings,
            stats=TrackerStats(),
            deduper=deduper,
            dead_letters=dead_letters,
        )
        self.counter = counter

    async def _handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        wanted: list[tuple[DomainEvent, ConsumerRecord]] = []
        for record in records:
            headers: list[tuple[str, bytes]] = list(record.headers or [])
            if dict(headers).get("ce_type") not in _TRACKED_TYPES:
                self.stats.passed_over += 1
                continue
            try:
                wanted.append((from_record(record.key, headers, record.value or b""), record))
            except EventDecodeError as error:
                await self._dead_letter(record, error.reason)
        fresh = set(await self._unseen([event.id for event, _ in wanted]))
        counted: list[str] = []
        for event, record in wanted:
            if event.id not in fresh:
                self.stats.duplicates += 1
                continue
            try:
                await self.counter.handle(event, self._retried)
            except EventDataError as error:
                await self._dead_letter(record, error.reason)
                continue
            fresh.discard(event.id)
            counted.append(event.id)
        # Only what was counted: a dead-lettered event, fixed and sent again with its id (the way
        # to replay a dead letter), must not be dropped as a duplicate.
        await self._mark_done(counted)

    async def _retried(self, what: str, call: Callable[[], Awaitable[T]], in_thread: bool) -> T:
        return await self._until_done(what, call, in_thread=in_thread)
