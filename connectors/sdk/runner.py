"""Runs a connector against Kafka: at-least-once delivery, exactly-once effect through dedupe.

One poll is one batch. Every record of it is decoded and typed (a record that is not a warmline
event is dead-lettered with the reason), duplicates are dropped by event id, and the rest go to
the connector's handlers: events of one subject in order, different subjects concurrently. A
handler that fails is retried with exponential backoff and full jitter (honouring a
`retry_after`), and dead-lettered after `max_attempts` or at once for a `PermanentError`.

Each event's id is marked done as soon as it is handled or dead-lettered, and the offsets are
committed once every record of the batch is. Whatever leaves a batch unfinished leaves it
uncommitted, to be delivered again, and the dedupe drops what was already done: a crash; a stop
(handlers under way finish, one waiting to retry gives up, no further event starts); a batch
that ran out of time (no event starts after `BATCH_SHARE` of `max_poll_interval`, so the consumer
polls again before Kafka takes its partitions away); and a commit Kafka refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_attempt,
)

from connectors.sdk.connector import (
    Connector,
    ConnectorError,
    Event,
    PermanentError,
    RetryableError,
)
from warmline.events.catalog import EventData, EventDataError
from warmline.events.consuming import open_consumer, poll_records
from warmline.events.deadletter import DeadLetters, Origin
from warmline.events.dedupe import Deduper
from warmline.events.envelope import EventDecodeError, from_record
from warmline.events.types import EVENTS_TOPIC, EventType

log = logging.getLogger(__name__)

BATCH_SHARE = 0.5
"""The share of `max_poll_interval` after a poll during which events of its batch may start. The
rest of a batch is left for the next poll, and the other share is for the events under way to
finish, retries included: a batch must end, and the consumer poll again, within
`max_poll_interval`, or Kafka gives its partitions to another consumer and refuses its commit."""


@dataclass(frozen=True)
class RunnerSettings:
    """How a connector consumes; the defaults suit a production broker."""

    topics: tuple[str, ...] = (EVENTS_TOPIC,)
    events: tuple[str, ...] = ("*",)
    """CloudEvents types to deliver (`fnmatch` patterns, e.g. `io.warmline.handoff.*`)."""
    group_id: str | None = None
    """The Kafka consumer group; `warmline-connector-<name>` by default."""
    max_attempts: int = 5
    initial_backoff: timedelta = timedelta(milliseconds=500)
    max_backoff: timedelta = timedelta(seconds=30)
    batch_size: int = 100
    concurrency: int = 8
    """Subjects handled at the same time (events of one subject are always in order)."""
    poll_timeout: timedelta = timedelta(milliseconds=500)
    max_poll_interval: timedelta = timedelta(minutes=10)
    """Kafka's limit between two polls. Events of a batch start only in its first `BATCH_SHARE`
    (the rest is redelivered), so the slowest event with all its retries must fit in the rest."""


@dataclass
class RunnerStats:
    """Counters a test or a health check reads."""

    handled: int = 0
    duplicates: int = 0
    skipped: int = 0
    """Events of types the connector does not take."""
    retries: int = 0
    dead_lettered: int = 0
    batches: int = 0
    handled_ids: list[str] = field(default_factory=list)


class _StopRequestedError(Exception):
    """Shutdown began while a handler waited to retry: that handler gives up, its event is left
    for redelivery."""


@dataclass
class _Item:
    record: ConsumerRecord
    event: Event[EventData]


class ConnectorRunner:
    """Consumes for one connector until `stop()`; see the module docstring for the guarantees."""

    def __init__(
        self,
        connector: Connector,
        *,
        bootstrap: str,
        deduper: Deduper,
        dead_letters: DeadLetters,
        settings: RunnerSettings | None = None,
    ) -> None:
        self.connector = connector
        self.settings = settings or RunnerSettings()
        self.stats = RunnerStats()
        self._bootstrap = bootstrap
        self._deduper = deduper
        self._dead_letters = dead_letters
        self._table = type(connector).handler_table()
        self._stop = asyncio.Event()
        self._consumer: KafkaConsumer | None = None
        self.assigned = asyncio.Event()
        """Set once the consumer group gave this runner its partitions."""

    @property
    def name(self) -> str:
        return self.connector.context.name

    def stop(self) -> None:
        """Let the handlers under way finish (one waiting to retry gives up), start no other
        event, and stop; a batch left unfinished stays uncommitted, to be redelivered."""
        self._stop.set()

    async def run(self) -> None:
        consumer = await asyncio.to_thread(self._connect)
        self._consumer = consumer
        await self.connector.start()
        try:
            while not self._stop.is_set():
                records = await asyncio.to_thread(self._poll, consumer)
                if consumer.assignment():
                    self.assigned.set()
                if not records:
                    continue
                budget = self.settings.max_poll_interval.total_seconds() * BATCH_SHARE
                left = await self._process(records, asyncio.get_running_loop().time() + budget)
                if not left:
                    if await asyncio.to_thread(self._commit, consumer):
                        self.stats.batches += 1
                elif self._stop.is_set():
                    log.info(
                        "%s: stopping with %d event(s) of the batch not done; the batch is left "
                        "uncommitted and redelivered",
                        self.name,
                        len(left),
                    )
                else:
                    log.warning(
                        "%s: %d event(s) of the batch not started within %.0f s of the poll; "
                        "they are redelivered",
                        self.name,
                        len(left),
                        budget,
                    )
                    await asyncio.to_thread(self._rewind, consumer, [i.record for i in left])
        finally:
            await self.connector.stop()
            await asyncio.to_thread(consumer.close, autocommit=False)

    # --- consuming ---------------------------------------------------------------------------

    def _connect(self) -> KafkaConsumer:
        s = self.settings
        return open_consumer(
            self._bootstrap,
            s.topics,
            group_id=s.group_id or f"warmline-connector-{self.name}",
            batch_size=s.batch_size,
            max_poll_interval=s.max_poll_interval,
            stopping=self._stop.is_set,
        )

    def _poll(self, consumer: KafkaConsumer) -> list[ConsumerRecord]:
        s = self.settings
        return poll_records(consumer, timeout=s.poll_timeout, batch_size=s.batch_size)

    def _commit(self, consumer: KafkaConsumer) -> bool:
        """Commit the batch; when Kafka refuses (the group rebalanced because the batch outlived
        `max_poll_interval`), log it and go on: the batch is redelivered, and the dedupe drops
        its events, each marked done when it was."""
        try:
            consumer.commit()
        except KafkaError as error:
            log.warning(
                "%s: offsets not committed (%s: %s); the batch is redelivered and its events "
                "already done are dropped as duplicates",
                self.name,
                type(error).__name__,
                error,
            )
            return False
        return True

    def _rewind(self, consumer: KafkaConsumer, left: Sequence[ConsumerRecord]) -> None:
        """Poll `left` again: each partition goes back to its first record not done."""
        first: dict[TopicPartition, int] = {}
        for record in left:
            partition = TopicPartition(record.topic, record.partition)
            first[partition] = min(record.offset, first.get(partition, record.offset))
        assigned = consumer.assignment()
        for partition, offset in first.items():
            # A partition taken away meanwhile is redelivered from its committed offset anyway.
            if partition in assigned:
                consumer.seek(partition, offset)

    async def _process(self, records: Sequence[ConsumerRecord], deadline: float) -> list[_Item]:
        """Handle a batch; the events left for redelivery (stopped, or out of time)."""
        items: list[_Item] = []
        for record in records:
            item = await self._decode(record)
            if item is not None:
                items.append(item)
        fresh = set(self._deduper.unseen([i.event.id for i in items]))
        self.stats.duplicates += len(items) - len(fresh)
        kept: list[_Item] = []
        for item in items:
            if item.event.id in fresh:
                fresh.discard(item.event.id)
                kept.append(item)
        return await self._dispatch(kept, deadline)

    async def _decode(self, record: ConsumerRecord) -> _Item | None:
        headers = [(k, v) for k, v in (record.headers or [])]
        try:
            envelope = from_record(record.key, headers, record.value or b"")
            event = Event.of(envelope)
        except (EventDecodeError, EventDataError) as error:
            await self._dead_letter(record, error.reason, attempts=0)
            return None
        if event.type not in self._table or not self._wanted(event.type):
            self.stats.skipped += 1
            return None
        return _Item(record, event)

    def _wanted(self, event_type: EventType) -> bool:
        return any(fnmatch.fnmatchcase(event_type.value, p) for p in self.settings.events)

    # --- handling ----------------------------------------------------------------------------

    async def _dispatch(self, items: list[_Item], deadline: float) -> list[_Item]:
        """Hand `items` to the handlers; those not done (see `_may_start`) are returned.

        A subject whose event is not done leaves its later events too, so they keep their order.
        """
        batched: dict[str, list[_Item]] = defaultdict(list)
        by_subject: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            method, batch = self._table[item.event.type]
            (batched[method] if batch else by_subject[item.event.subject]).append(item)
        limit = asyncio.Semaphore(self.settings.concurrency)
        left: list[_Item] = []

        async def in_order(group: list[_Item]) -> None:
            async with limit:
                for index, item in enumerate(group):
                    if not (self._may_start(deadline) and await self._deliver([item], batch=False)):
                        left.extend(group[index:])
                        return

        async def together(group: list[_Item]) -> None:
            if not (self._may_start(deadline) and await self._deliver(group, batch=True)):
                left.extend(group)

        async with asyncio.TaskGroup() as tasks:
            for group in by_subject.values():
                tasks.create_task(in_order(group))
            for group in batched.values():
                tasks.create_task(together(group))
        return left

    def _may_start(self, deadline: float) -> bool:
        """Whether another event of the batch may start: not after `stop()`, nor past the
        batch's deadline (see `BATCH_SHARE`)."""
        return not self._stop.is_set() and asyncio.get_running_loop().time() < deadline

    async def _deliver(self, items: list[_Item], *, batch: bool) -> bool:
        """Handle `items` (or dead-letter them) and mark them done; False when a stop made the
        handler give up while it waited to retry (they are left for redelivery)."""
        method_name, _ = self._table[items[0].event.type]
        method = getattr(self.connector, method_name)
        argument: Any = [i.event for i in items] if batch else items[0].event
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=self._wait,
                retry=retry_if_not_exception_type((PermanentError, _StopRequestedError)),
                reraise=True,
                sleep=self._sleep,
                before_sleep=self._count_retry,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    await method(argument)
        except _StopRequestedError:
            log.info("%s: %s gave up its retry to stop", self.name, method_name)
            return False
        except Exception as error:  # noqa: BLE001 - any handler failure ends in the dead letter
            reason = f"{method_name} failed after {attempts} attempt(s): {_describe(error)}"
            log.warning("%s: %s", self.name, reason)
            for item in items:
                await self._dead_letter(item.record, reason, attempts=attempts)
            await self._mark_done(items)
            return True
        await self._mark_done(items)
        self.stats.handled += len(items)
        self.stats.handled_ids.extend(i.event.id for i in items)
        return True

    async def _mark_done(self, items: list[_Item]) -> None:
        """Remember the events as done at once: a batch left unfinished is redelivered, and
        this is what keeps their effects from happening twice."""
        await asyncio.to_thread(self._deduper.mark_done, [i.event.id for i in items])

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff with full jitter, or the API's Retry-After when it gave one."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(error.retry_after, self.settings.max_backoff.total_seconds())
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2 ** (state.attempt_number - 1),
        )
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    async def _sleep(self, seconds: float) -> None:
        """Sleep between attempts, cut short by shutdown."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            raise _StopRequestedError

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    async def _dead_letter(self, record: ConsumerRecord, reason: str, *, attempts: int) -> None:
        origin = Origin.of(record)
        await asyncio.to_thread(self._dead_letters.send, origin, reason, attempts=attempts)
        self.stats.dead_lettered += 1


def _describe(error: BaseException) -> str:
    """A connector's own errors speak for themselves; others get their type named."""
    if isinstance(error, ConnectorError):
        return str(error)
    return f"{type(error).__name__}: {error}"
