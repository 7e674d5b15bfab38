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
id, so a redelivered event counts once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis import Redis

from warmline.events import DomainEvent, EventType, from_record
from warmline.events.catalog import EventDataError
from warmline.events.consuming import open_consumer, poll_records
from warmline.events.envelope import EventDecodeError
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import ExposureRecord

log = logging.getLogger(__name__)

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


class ExposureTracker:
    """Consumes the events topic until `stop()`; at least once, with exactly-once effect."""

    def __init__(
        self,
        wellness: WellnessClient,
        tracks: TrackStore,
        *,
        bootstrap: str,
        topic: str,
        group_id: str = "warmline-wellness-tracker",
        batch_size: int = 200,
    ) -> None:
        self._wellness = wellness
        self._tracks = tracks
        self._bootstrap = bootstrap
        self._topic = topic
        self._group_id = group_id
        self._batch_size = batch_size
        self._stopping = False
        self.recorded = 0
        self.skipped = 0
        """Records that are not a warmline event, or lack what the tracker reads of one."""

    def stop(self) -> None:
        self._stopping = True

    async def handle(self, event: DomainEvent) -> None:
        if event.type not in TRACKED:
            return
        track = await asyncio.to_thread(self._tracks.get, event)
        after, exposure = fold(track, event)
        if exposure is not None:
            # Recorded before the track is saved: a crash in between repeats the record, whose
            # id (the event id) the wellness workflow counts once.
            worker, record = exposure
            await self._wellness.record(worker, record)
            self.recorded += 1
        if after != track:
            await asyncio.to_thread(self._tracks.put, event, after)

    async def run(self) -> None:
        consumer = await asyncio.to_thread(
            open_consumer,
            self._bootstrap,
            [self._topic],
            group_id=self._group_id,
            batch_size=self._batch_size,
            max_poll_interval=timedelta(minutes=5),
            stopping=lambda: self._stopping,
        )
        try:
            while not self._stopping:
                records = await asyncio.to_thread(
                    poll_records,
                    consumer,
                    timeout=timedelta(milliseconds=500),
                    batch_size=self._batch_size,
                )
                for record in records:
                    try:
                        event = from_record(record.key, list(record.headers), record.value)
                        await self.handle(event)
                    except (EventDecodeError, EventDataError) as error:
                        # Not the tracker's to dead-letter: the topic's producers are warmline's.
                        # Skipped, not raised: raised, it would stop the tracker on this record
                        # again after every restart.
                        log.warning(
                            "tracker: skipped the record at %s[%d] offset %d: %s",
                            record.topic,
                            record.partition,
                            record.offset,
                            error.reason,
                        )
                        self.skipped += 1
                if records:
                    await asyncio.to_thread(consumer.commit)
        finally:
            await asyncio.to_thread(consumer.close)
