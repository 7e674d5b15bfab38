"""Dropping events a consumer has already handled, by event id, in Redis with a TTL.

Delivery is at least once end to end: Kafka redelivers after a crash or a rebalance, and a retried
activity re-sends an event with the same deterministic id. A consumer asks `unseen` before
handling a batch and calls `mark_done` only once its effects are durable, so a crash between the
two re-handles the event rather than losing it; the effect is exactly once as long as handling the
same event again within the TTL is prevented here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import NamedTuple

from redis import Redis

DEFAULT_TTL = timedelta(days=7)
_NO_EVENT_ID = ""
"""Stands for the event id of a dead-lettered record that has none (`mark_record_dead_lettered`)."""
"""Longer than any redelivery: Kafka's retention of an uncommitted offset and Temporal's retries."""


class RecordAt(NamedTuple):
    """Where a record sits in Kafka. A redelivery of the record comes with the same coordinates;
    its event sent again (a dead letter replayed) comes as a new record, with others."""

    topic: str
    partition: int
    offset: int


class Deduper:
    """Remembers which event ids one consumer (`scope`, e.g. a connector's name) has handled."""

    def __init__(self, client: Redis, *, scope: str, ttl: timedelta = DEFAULT_TTL) -> None:
        self._client = client
        self._prefix = f"warmline:dedupe:{scope}:"
        self._dead_lettered_prefix = f"warmline:dead-lettered:{scope}:"
        self._ttl_ms = int(ttl.total_seconds() * 1000)

    @classmethod
    def connect(cls, url: str, *, scope: str, ttl: timedelta = DEFAULT_TTL) -> Deduper:
        return cls(Redis.from_url(url), scope=scope, ttl=ttl)

    def unseen(self, event_ids: Sequence[str]) -> list[str]:
        """The ids not handled yet, in order, each once (a batch may repeat an id)."""
        if not event_ids:
            return []
        known = self._client.mget([self._prefix + i for i in event_ids])
        fresh: list[str] = []
        taken: set[str] = set()
        for event_id, value in zip(event_ids, known, strict=True):
            if value is None and event_id not in taken:
                taken.add(event_id)
                fresh.append(event_id)
        return fresh

    def mark_done(self, event_ids: Iterable[str]) -> None:
        """Record the ids as handled, for the TTL."""
        pipeline = self._client.pipeline(transaction=False)
        for event_id in event_ids:
            pipeline.set(self._prefix + event_id, b"1", px=self._ttl_ms)
        pipeline.execute()

    def mark_dead_lettered(self, records: Iterable[tuple[str, RecordAt]]) -> None:
        """Record, for the TTL, that each event id was dead-lettered from the record at those
        coordinates, without marking the id done: a redelivery of that record is then known
        (`dead_lettered`), while the event sent again as a new record, fixed, goes through."""
        pipeline = self._client.pipeline(transaction=False)
        for event_id, at in records:
            pipeline.set(self._dead_lettered_key(event_id, at), b"1", px=self._ttl_ms)
        pipeline.execute()

    def dead_lettered(self, records: Sequence[tuple[str, RecordAt]]) -> list[bool]:
        """For each (event id, coordinates), in order: whether that event was dead-lettered from
        that very record (`mark_dead_lettered`)."""
        if not records:
            return []
        known = self._client.mget([self._dead_lettered_key(i, at) for i, at in records])
        return [value is not None for value in known]

    def mark_record_dead_lettered(self, at: RecordAt) -> None:
        """`mark_dead_lettered` for a record that has no event id (not a warmline event, or one
        that failed its checks): remembered by its coordinates alone."""
        self.mark_dead_lettered([(_NO_EVENT_ID, at)])

    def record_dead_lettered(self, at: RecordAt) -> bool:
        """Whether the record at `at` was dead-lettered as one with no event id
        (`mark_record_dead_lettered`): a redelivery of it is not dead-lettered again."""
        [before] = self.dead_lettered([(_NO_EVENT_ID, at)])
        return before

    def _dead_lettered_key(self, event_id: str, at: RecordAt) -> str:
        # Kafka topic names hold no '[' nor '@', so the coordinates end where the id begins.
        return f"{self._dead_lettered_prefix}{at.topic}[{at.partition}]@{at.offset}:{event_id}"

    def close(self) -> None:
        self._client.close()
