"""Runs a connector against Kafka: at-least-once delivery, exactly-once effect through dedupe.

One poll is one batch. Every record of it is decoded and typed (a record that is not a warmline
event is dead-lettered with the reason, once: its coordinates are remembered, as below, for a
partition rewound past it; one the Kafka client cannot read at all, by its coordinates, committing
past it once the dead letter is written), duplicates are dropped by event id, and the rest go to
the connector's handlers: events of one subject in order, different subjects concurrently. A
handler that fails is retried with exponential backoff and full jitter, and dead-lettered after
`max_attempts` failures or at once for a `PermanentError`; one that raises `asyncio.CancelledError`
without being cancelled fails so too (`HandlerCancelledError`). A `retry_after` (an API's
Retry-After) is honoured in full and is not one of those failures: the API said when, so the event
waits and is not the worse for it. One longer than `max_retry_after` is dead-lettered at once,
saying so. A wait ending after the batch's events may no longer start (`BATCH_SHARE`, below) is not
waited within the batch: the event is held, its partition rewound to it and paused until the API
allows the retry, and the consumer keeps polling meanwhile, so Kafka keeps its partitions and no
commit passes the event.

An event's tries (calls made, failures toward `max_attempts`, the moment a Retry-After allows the
next call) are saved when it fails or is held, read when its batch starts and cleared once it is
done or dead-lettered (`connectors.sdk.state.RetryState`, in the Redis and scope of the dedupe and
of the writes in doubt; a key is kept `max_retry_after` and `TRIES_MARGIN` after the last
failure). So the process that gets an event after a stop, a crash or a rebalance goes on where the
last one got: it does not call the API before its Retry-After, and an event that always fails is
dead-lettered after `max_attempts` failures in all, not `max_attempts` per process. The moment is
saved on the wall clock: across hosts it is honoured to within their clocks' difference (never
beyond `max_retry_after`). Redis out while reading the tries is waited out, as for the dedupe
(below); a Redis error saving them after a failure leaves the event for redelivery, as a stop
does, this process keeping them in memory; one clearing them is logged (they expire). No event is
lost to Redis. A call cut off by a crash is not counted: tries are saved after a failure.

Each event's id is marked done as soon as it is handled, and the offsets are committed once every
record of the batch is handled or dead-lettered. Whatever leaves a batch unfinished leaves it
uncommitted, to be delivered again, and the dedupe drops what was already done: a crash; a stop
(handlers under way finish, one waiting to retry gives up, no further event starts); a batch
that ran out of time (no event starts after `BATCH_SHARE` of `max_poll_interval`, so the consumer
polls again before Kafka takes its partitions away); and a commit Kafka refuses. A dead-lettered
event's id is not marked done, so the event fixed and sent again with its id (how a dead letter is
replayed) is handled, with fresh tries; what is remembered is the record it was dead-lettered from
(its coordinates, in the dedupe's Redis, scope and TTL), so a redelivery of that same record is
dropped rather than tried `max_attempts` times and dead-lettered again.

A Redis outage is never an event's fault. The dedupe's calls (which ids are done, which records
were dead-lettered, the saved tries, marking done) run in threads, each bounded by the client's
socket timeouts (`connectors.sdk.state.connect_redis`), and one that fails because Redis is out
(refused, timed out, loading, read-only, out of memory) is retried with the backoff above,
logged, for as long as it takes: nothing is committed meanwhile, and an event handled while
Redis was out is marked done once it is back, before the batch is committed, so it is not
delivered again. A stop during an outage ends the runner once the call under way fails or
answers: the batch is left uncommitted, and an event handled but not yet marked done is then
handled again by the next run (the writes in doubt are for that). A Redis error that is a refusal
(a command this Redis lacks, a key of the wrong type) is raised: no retry mends it.

A dead letter Kafka does not take (the broker out, or the dead-letter topic refusing even a
letter cut short until its `max.message.bytes` is raised) is not the event's fault either: it is
written again with the same backoff, logged, for as long as it takes, and nothing is committed
past its record meanwhile. A stop then ends the runner once the send under way gives up (the
producer's timeouts): the batch is left uncommitted, and its redelivery tries the event again
from its saved tries (dead-lettering it if it fails again), never losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CorruptRecordError, KafkaError
from kafka.structs import OffsetAndMetadata
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from connectors.sdk.connector import (
    Connector,
    ConnectorError,
    Event,
    PermanentError,
    RetryableError,
)
from connectors.sdk.state import RetryState, SavedTries
from warmline.events.catalog import EventData, EventDataError
from warmline.events.consuming import (
    find_unreadable,
    open_consumer,
    poll_records,
    unreadable_dead_letter,
)
from warmline.events.deadletter import DeadLetterError, DeadLetters, Origin
from warmline.events.dedupe import Deduper, RecordAt
from warmline.events.envelope import EventDecodeError, from_record
from warmline.events.types import EVENTS_TOPIC, EventType

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_SHARE = 0.5
"""The share of `max_poll_interval` after a poll during which events of its batch may start. The
rest of a batch is left for the next poll, and the other share is for the events under way to
finish, retries included: a batch must end, and the consumer poll again, within
`max_poll_interval`, or Kafka gives its partitions to another consumer and refuses its commit."""


_REDIS_OUTAGES = (ReadOnlyError, TryAgainError, ClusterDownError, OutOfMemoryError)
"""Error answers of a Redis that fails over, reshards or is out of memory: they pass, and are
retried. Any other error answer refuses the command itself, on every retry alike."""

HANDLED_IDS_KEPT = 1_000
"""How many of the latest handled event ids `RunnerStats.handled_ids` keeps: enough for a test or
a health check, while a connector that runs for months does not hold every id it ever handled."""

TRIES_MARGIN = timedelta(hours=1)
"""How much longer than `max_retry_after` an event's saved tries outlive its last failure: a
connector restarted, or a partition taken over after a rebalance, within that sees them."""


@dataclass(frozen=True)
class RunnerSettings:
    """How a connector consumes; the defaults suit a production broker."""

    topics: tuple[str, ...] = (EVENTS_TOPIC,)
    events: tuple[str, ...] = ("*",)
    """CloudEvents types to deliver (`fnmatch` patterns, e.g. `io.warmline.handoff.*`)."""
    group_id: str | None = None
    """The Kafka consumer group; `warmline-connector-<name>` by default."""
    max_attempts: int = 5
    """Failures before an event is dead-lettered; a wait an API asked for (Retry-After) is not
    one."""
    initial_backoff: timedelta = timedelta(milliseconds=500)
    max_backoff: timedelta = timedelta(seconds=30)
    """The longest backoff between attempts, when the API named no Retry-After."""
    max_retry_after: timedelta = timedelta(minutes=10)
    """The longest Retry-After waited out; an event told to wait longer is dead-lettered at once,
    the reason saying so (a far HTTP-date, an account suspended for the day)."""
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
    redelivered_dead_letters: int = 0
    """Records redelivered after their event (or the record, not being a warmline event) was
    dead-lettered from them: not tried nor dead-lettered again (the event sent again as a new
    record is tried)."""
    skipped: int = 0
    """Events of types the connector does not take."""
    retries: int = 0
    redis_retries: int = 0
    """Calls to Redis retried because it was out (refused, or did not answer in time)."""
    dead_letter_retries: int = 0
    """Dead letters written again because Kafka did not take them (out, or the dead-letter topic
    refusing them)."""
    dead_lettered: int = 0
    batches: int = 0
    handled_ids: list[str] = field(default_factory=list)
    """The ids of the latest events handled (`HANDLED_IDS_KEPT` at most), oldest first."""


class _StopRequestedError(Exception):
    """Shutdown began while a handler waited to retry, or while Redis or the dead-letter topic
    was out (`waiting_for` names it): that handler (or the batch) gives up, its event is left
    for redelivery."""

    def __init__(self, waiting_for: str) -> None:
        super().__init__(waiting_for)
        self.waiting_for = waiting_for


class HandlerCancelledError(Exception):
    """A handler raised `asyncio.CancelledError` though the runner did not cancel it: it awaited
    a task of its own that it had cancelled, or a library let a cancellation out. That is the
    handler failing, retried and dead-lettered as any failure; left as a cancellation, it would
    end the handler's task quietly, and the batch be committed past events never handled."""


class _RetryAfterTooLongError(Exception):
    """The API asked for a wait beyond `max_retry_after`: the event is dead-lettered at once."""


class _TriesNotSavedError(Exception):
    """Redis failed to save an event's tries after a failure: the event is left for redelivery,
    as for a stop, rather than tried again with tries a restart would not know."""


@dataclass
class _Item:
    record: ConsumerRecord
    event: Event[EventData]


@dataclass
class _Tries:
    """How far an event's delivery got; kept while it is left for redelivery (in memory, and in
    `RetryState` for another process), so its redelivery goes on from there."""

    attempts: int = 0
    """Calls made."""
    failures: int = 0
    """Those that count toward `max_attempts` (one answered with a Retry-After does not)."""
    not_before: float = 0.0
    """`time.monotonic()` before which the API asked not to be called again."""


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
        retry_state: RetryState | None = None,
    ) -> None:
        """`retry_state` keeps the events' tries across restarts, in Redis as `warmline connector
        run` and the test kit give it (the dedupe's client and scope). Without it, the tries are
        kept beside the connector's writes in doubt (`context.in_doubt.retry_state()`): in the
        same Redis when those are, else in this process only."""
        self.connector = connector
        self.settings = settings or RunnerSettings()
        self.stats = RunnerStats()
        self._bootstrap = bootstrap
        self._deduper = deduper
        self._dead_letters = dead_letters
        self._retry_state = retry_state or connector.context.in_doubt.retry_state()
        self._table = type(connector).handler_table()
        self._stop = asyncio.Event()
        self._consumer: KafkaConsumer | None = None
        self._held: dict[str, _Tries] = {}
        """Events left for redelivery with their tries, by event id: held for the Retry-After of
        an API, or their tries not saved (Redis failed). An entry outlives a partition Kafka gives
        another consumer meanwhile; that is all it costs. The tries are saved in `_retry_state`
        too, for another process."""
        self._paused: dict[TopicPartition, float] = {}
        """Partitions paused until an event held in them may be tried (`time.monotonic()`)."""
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
                try:
                    records = await asyncio.to_thread(self._poll, consumer)
                except CorruptRecordError as error:
                    try:
                        await self._skip_unreadable(consumer, error)
                    except _StopRequestedError:
                        log.info("%s: stopping before an unreadable record", self.name)
                        break
                    continue
                if consumer.assignment():
                    self.assigned.set()
                if not records:
                    continue
                budget = self.settings.max_poll_interval.total_seconds() * BATCH_SHARE
                try:
                    left = await self._process(records, asyncio.get_running_loop().time() + budget)
                except _StopRequestedError as stopped:
                    log.info(
                        "%s: stopping while %s is out; the batch is left uncommitted and "
                        "redelivered",
                        self.name,
                        stopped.waiting_for,
                    )
                    break
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
                    await asyncio.to_thread(self._rewind, consumer, left)
                    late = [
                        i
                        for i in left
                        if i.event.id not in self._held and _partition(i.record) not in self._paused
                    ]
                    if late:
                        log.warning(
                            "%s: %d event(s) of the batch not started within %.0f s of the poll; "
                            "they are redelivered",
                            self.name,
                            len(late),
                            budget,
                        )
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
        """The next records, once the partitions whose held event may be tried are resumed.

        Polling goes on while partitions are paused (it returns nothing from them), so Kafka
        sees this consumer alive however long an API asked it to wait."""
        now = time.monotonic()
        due = [partition for partition, until in self._paused.items() if until <= now]
        assigned = consumer.assignment()
        for partition in due:
            del self._paused[partition]
            if partition in assigned:
                consumer.resume(partition)
        s = self.settings
        return poll_records(consumer, timeout=s.poll_timeout, batch_size=s.batch_size)

    def _commit(
        self,
        consumer: KafkaConsumer,
        offsets: dict[TopicPartition, OffsetAndMetadata] | None = None,
    ) -> bool:
        """Commit the batch (or `offsets`); when Kafka refuses (the group rebalanced because the
        batch outlived `max_poll_interval`), log it and go on: the batch is redelivered, and the
        dedupe drops its events, each marked done (or its record dead-lettered) when it was."""
        try:
            consumer.commit(offsets)
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

    async def _skip_unreadable(self, consumer: KafkaConsumer, error: CorruptRecordError) -> None:
        """Dead-letter the record the Kafka client cannot read, by its coordinates, and move past
        it; `_StopRequestedError` when a stop cuts short the wait before looking again.

        kafka-python raises for the record on every poll (a header name that is not UTF-8, which
        librdkafka and Go producers can write, a record that fails its checksum): left alone, it
        would stop the connector, and on every restart again, with every record behind it on its
        partition. The poll raises only once every record before it was returned, and each batch
        before was done or rewound, so the record sits at its partition's position
        (`find_unreadable`). Its bytes cannot be read, so the dead letter keeps where it is; the
        offset past it is committed only once the dead letter is written (retried while Kafka
        does not take it, as for any other record; a stop meanwhile leaves the record to come
        again).
        """
        try:
            found = await asyncio.to_thread(find_unreadable, self._bootstrap, consumer)
        except KafkaError as lookup:  # Kafka went away meanwhile: look again after a pause
            log.warning("%s: could not look for the unreadable record: %s", self.name, lookup)
            found = None
        if found is None:
            delay = self._backoff(1)
            log.warning(
                "%s: a record could not be read (%s) and none is found at a partition's "
                "position; polling again in %.1f s",
                self.name,
                error,
                delay,
            )
            await self._sleep(delay)
            return
        partition, offset = found
        origin, reason = unreadable_dead_letter(partition, offset, error)
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            origin.topic,
            origin.partition,
            offset,
            reason,
        )
        await self._dead_letter_origin(origin, reason, attempts=0)
        await asyncio.to_thread(consumer.seek, partition, offset + 1)
        past = {partition: OffsetAndMetadata(offset + 1, "", -1)}
        await asyncio.to_thread(self._commit, consumer, past)

    def _rewind(self, consumer: KafkaConsumer, left: Sequence[_Item]) -> None:
        """Poll `left` again: each partition goes back to its first event not done, and stays
        paused while that event is held for an API's Retry-After.

        The next commit then stops at that event in its partition, however many batches of the
        other partitions are committed meanwhile."""
        first: dict[TopicPartition, _Item] = {}
        for item in left:
            partition = _partition(item.record)
            if partition not in first or item.record.offset < first[partition].record.offset:
                first[partition] = item
        assigned = consumer.assignment()
        for partition, item in first.items():
            # A partition taken away meanwhile is redelivered from its committed offset anyway.
            if partition not in assigned:
                continue
            consumer.seek(partition, item.record.offset)
            held = self._held.get(item.event.id)
            if held is not None and held.not_before > time.monotonic():
                consumer.pause(partition)
                self._paused[partition] = held.not_before

    async def _process(self, records: Sequence[ConsumerRecord], deadline: float) -> list[_Item]:
        """Handle a batch; the events left for redelivery (stopped, or out of time).
        `_StopRequestedError` when a stop comes while Redis is out, before the batch's lookups
        are done, or while the dead letter of a record that is not a warmline event waits for
        Kafka."""
        items: list[_Item] = []
        for record in records:
            item = await self._decode(record)
            if item is not None:
                items.append(item)
        ids = [i.event.id for i in items]
        fresh = set(
            await self._until_stored(
                "the dedupe lookup", lambda: asyncio.to_thread(self._deduper.unseen, ids)
            )
        )
        candidates = [i for i in items if i.event.id in fresh]
        # Before a batch's repeats of an id are dropped: a record dead-lettered before and the
        # event sent again behind it, both redelivered, leave the event sent again to handle.
        at = [(i.event.id, _record_at(i.record)) for i in candidates]
        before = await self._until_stored(
            "the dead-letter lookup", lambda: asyncio.to_thread(self._deduper.dead_lettered, at)
        )
        kept: list[_Item] = []
        for item, dead_lettered in zip(candidates, before, strict=True):
            if dead_lettered:
                self._drop_dead_lettered(item)
            elif item.event.id in fresh:
                fresh.discard(item.event.id)
                kept.append(item)
        self.stats.duplicates += len(items) - len(kept) - sum(before)
        # Tries saved by this process or the one before it.
        kept_ids = [i.event.id for i in kept]
        saved = await self._until_stored(
            "the tries lookup", lambda: self._retry_state.load(kept_ids)
        )
        return await self._dispatch(kept, deadline, saved)

    def _drop_dead_lettered(self, item: _Item) -> None:
        """A redelivery of a record whose event was dead-lettered from it: not tried again."""
        self.stats.redelivered_dead_letters += 1
        record = item.record
        log.info(
            "%s: %s[%d]@%d (event %s) was dead-lettered before; its redelivery is dropped",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            item.event.id,
        )

    async def _decode(self, record: ConsumerRecord) -> _Item | None:
        headers = [(k, v) for k, v in (record.headers or [])]
        try:
            envelope = from_record(record.key, headers, record.value or b"")
            event = Event.of(envelope)
        except (EventDecodeError, EventDataError) as error:
            await self._dead_letter_unreadable(record, error.reason)
            return None
        if event.type not in self._table or not self._wanted(event.type):
            self.stats.skipped += 1
            return None
        return _Item(record, event)

    async def _dead_letter_unreadable(self, record: ConsumerRecord, reason: str) -> None:
        """Dead-letter a record that is not a warmline event, once.

        A partition rewound to an event held for a Retry-After (or not started in time) brings
        the records behind it again. The events among them are dropped by the dedupe, or by the
        record they were dead-lettered from; this record has no event id, so it is remembered by
        its coordinates alone (`Deduper.record_dead_lettered`), or it would go to the dead letter
        at every rewind.
        """
        at = _record_at(record)
        before = await self._until_stored(
            "the dead-letter lookup",
            lambda: asyncio.to_thread(self._deduper.record_dead_lettered, at),
        )
        if before:
            self.stats.redelivered_dead_letters += 1
            log.info(
                "%s: %s[%d]@%d was dead-lettered before (not a warmline event); its redelivery "
                "is dropped",
                self.name,
                record.topic,
                record.partition,
                record.offset,
            )
            return
        await self._dead_letter(record, reason, attempts=0)
        await self._until_stored(
            "remembering a dead letter",
            lambda: asyncio.to_thread(self._deduper.mark_record_dead_lettered, at),
        )

    def _wanted(self, event_type: EventType) -> bool:
        return any(fnmatch.fnmatchcase(event_type.value, p) for p in self.settings.events)

    # --- handling ----------------------------------------------------------------------------

    async def _dispatch(
        self, items: list[_Item], deadline: float, saved: dict[str, SavedTries]
    ) -> list[_Item]:
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
                    if not (
                        self._may_start(deadline)
                        and await self._deliver([item], batch=False, deadline=deadline, saved=saved)
                    ):
                        left.extend(group[index:])
                        return

        async def together(group: list[_Item]) -> None:
            if not (
                self._may_start(deadline)
                and await self._deliver(group, batch=True, deadline=deadline, saved=saved)
            ):
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

    async def _deliver(
        self, items: list[_Item], *, batch: bool, deadline: float, saved: dict[str, SavedTries]
    ) -> bool:
        """Handle `items` (or dead-letter them) and mark them done; False when they are left for
        redelivery: a stop made the handler give up while it waited to retry, they are held
        because the API's Retry-After ends past the batch's `deadline`, or their tries could
        not be saved. They go on from the tries saved before (`saved`), by this process or
        another."""
        method_name, _ = self._table[items[0].event.type]
        method = getattr(self.connector, method_name)
        argument: Any = [i.event for i in items] if batch else items[0].event
        tries = self._resume_tries(items, saved)
        try:
            while True:
                wait = tries.not_before - time.monotonic()
                if wait > 0:
                    if asyncio.get_running_loop().time() + wait > deadline:
                        self._hold(items, tries, method_name, wait)
                        return False
                    await self._sleep(wait)
                tries.attempts += 1
                try:
                    await _call(method, argument)
                    break
                except PermanentError:
                    raise
                except Exception as error:  # noqa: BLE001 - any other failure is retried
                    await self._before_retry(error, tries, method_name, items)
        except _StopRequestedError:
            log.info("%s: %s gave up its retry to stop", self.name, method_name)
            return False
        except _TriesNotSavedError as error:
            log.warning(
                "%s: %s left for redelivery: its tries were not saved (%s)",
                self.name,
                method_name,
                _describe(error.__cause__ or error),
            )
            for item in items:
                self._held[item.event.id] = tries
            return False
        except _RetryAfterTooLongError as error:
            return await self._give_up(items, f"{method_name}: {error}", tries.attempts)
        except Exception as error:  # noqa: BLE001 - any handler failure ends in the dead letter
            reason = f"{method_name} failed after {tries.attempts} attempt(s): {_describe(error)}"
            return await self._give_up(items, reason, tries.attempts)
        return await self._done(items, method_name, tries.attempts)

    async def _done(self, items: list[_Item], method_name: str, attempts: int) -> bool:
        """Once the handler returned: mark `items` done, then forget their tries; False when a
        stop came while Redis was out before they were marked (they are redelivered)."""
        try:
            await self._mark_done(items)
        except _StopRequestedError:
            log.warning(
                "%s: stopping before %s's %d event(s) were marked done (Redis is out); they are "
                "redelivered and handled again",
                self.name,
                method_name,
                len(items),
            )
            return False
        await self._forget_tries(items, attempts)
        self.stats.handled += len(items)
        self.stats.handled_ids.extend(i.event.id for i in items)
        del self.stats.handled_ids[:-HANDLED_IDS_KEPT]
        return True

    async def _before_retry(
        self, error: Exception, tries: _Tries, method_name: str, items: list[_Item]
    ) -> None:
        """Wait out a failure before the next attempt, or raise when none is to be made.

        Without a Retry-After: backoff, and the failure counts toward `max_attempts` (the last
        one is raised). With one: `tries.not_before` is set for `_deliver` to wait for, and
        the attempt is not counted; beyond `max_retry_after` it raises
        `_RetryAfterTooLongError`. Before any wait, the tries are saved for a process that
        gets the event after this one (`_TriesNotSavedError` when Redis fails)."""
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        if retry_after is None or retry_after <= 0:
            tries.failures += 1
            if tries.failures >= self.settings.max_attempts:
                raise error
            self.stats.retries += 1
            await self._save_tries(items, tries)
            await self._sleep(self._backoff(tries.failures))
            return
        ceiling = self.settings.max_retry_after.total_seconds()
        if retry_after > ceiling:
            raise _RetryAfterTooLongError(
                f"the API asked to retry after {retry_after:.0f} s, longer than "
                f"max_retry_after ({ceiling:.0f} s), after {tries.attempts} attempt(s): "
                f"{_describe(error)}"
            ) from error
        self.stats.retries += 1
        tries.not_before = time.monotonic() + retry_after
        await self._save_tries(items, tries)
        log.info(
            "%s: %s retries in %.1f s, as the API asked: %s",
            self.name,
            method_name,
            retry_after,
            _describe(error),
        )

    def _resume_tries(self, items: list[_Item], saved: dict[str, SavedTries]) -> _Tries:
        """Where the delivery of `items` got before they were left (in this process or, as
        `saved`, in any), or a fresh start."""
        held = [t for t in (self._held.pop(i.event.id, None) for i in items) if t is not None]
        held += [self._from_saved(saved[i.event.id]) for i in items if i.event.id in saved]
        if not held:
            return _Tries()
        return _Tries(
            attempts=max(t.attempts for t in held),
            failures=max(t.failures for t in held),
            not_before=max(t.not_before for t in held),
        )

    def _from_saved(self, saved: SavedTries) -> _Tries:
        """Saved tries on this process's clock; a wait longer than `max_retry_after` (clocks
        apart) is cut to it."""
        wait = min(saved.not_before - time.time(), self.settings.max_retry_after.total_seconds())
        return _Tries(
            attempts=saved.attempts,
            failures=saved.failures,
            not_before=time.monotonic() + wait if wait > 0 else 0.0,
        )

    async def _save_tries(self, items: list[_Item], tries: _Tries) -> None:
        """Save `tries` for whoever gets `items` next, for `max_retry_after` and `TRIES_MARGIN`
        after this failure; the Retry-After moment goes on the wall clock."""
        wait = tries.not_before - time.monotonic()
        saved = SavedTries(
            attempts=tries.attempts,
            failures=tries.failures,
            not_before=time.time() + wait if wait > 0 else 0.0,
        )
        ttl = self.settings.max_retry_after + TRIES_MARGIN
        try:
            await self._retry_state.save([i.event.id for i in items], saved, ttl=ttl)
        except RedisError as error:
            raise _TriesNotSavedError from error

    async def _forget_tries(self, items: list[_Item], attempts: int) -> None:
        """Once `items` are done (and marked so) or dead-lettered, after `attempts` calls. A
        first attempt has nothing saved to clear (tries are saved after a failure, and counted
        on when resumed). A Redis error is only logged: the saved tries expire, and the dedupe
        drops the events anyway (a dead-lettered one sent again before then resumes from
        them)."""
        if attempts <= 1:
            return
        try:
            await self._retry_state.clear([i.event.id for i in items])
        except RedisError as error:
            log.warning(
                "%s: tries of %d done event(s) not cleared; they expire (%s)",
                self.name,
                len(items),
                _describe(error),
            )

    def _hold(self, items: list[_Item], tries: _Tries, method_name: str, wait: float) -> None:
        """Leave `items` for redelivery once the API allows it (see `_rewind`)."""
        for item in items:
            self._held[item.event.id] = tries
        log.info(
            "%s: %s waits %.0f s for the API's Retry-After, past this batch; its partition is "
            "paused until then and the event redelivered",
            self.name,
            method_name,
            wait,
        )

    async def _give_up(self, items: list[_Item], reason: str, attempts: int) -> bool:
        """Dead-letter `items` and remember it; False when a stop came while Redis was out
        before it was remembered (the batch is left, and its redelivery dead-letters them
        again)."""
        log.warning("%s: %s", self.name, reason)
        for item in items:
            try:
                await self._dead_letter(item.record, reason, attempts=attempts)
            except _StopRequestedError:
                log.warning(
                    "%s: stopping before %d dead letter(s) were written (the dead-letter topic "
                    "is out); the batch is left uncommitted and its events redelivered",
                    self.name,
                    len(items),
                )
                return False
        try:
            await self._mark_dead_lettered(items)
        except _StopRequestedError:
            log.warning(
                "%s: stopping before %d dead letter(s) were remembered (Redis is out); their "
                "redelivery is dead-lettered again",
                self.name,
                len(items),
            )
            return False
        await self._forget_tries(items, attempts)
        return True

    async def _mark_done(self, items: list[_Item]) -> None:
        """Remember the events as done at once: a batch left unfinished is redelivered, and
        this is what keeps their effects from happening twice. Retried while Redis is out."""
        ids = [i.event.id for i in items]
        await self._until_stored(
            "marking done", lambda: asyncio.to_thread(self._deduper.mark_done, ids)
        )

    async def _mark_dead_lettered(self, items: list[_Item]) -> None:
        """Remember the records `items` were dead-lettered from, not their ids: a redelivery of
        one of those records is dropped, while the event sent again (a replay) is handled.
        Retried while Redis is out."""
        records = [(i.event.id, _record_at(i.record)) for i in items]
        await self._until_stored(
            "remembering a dead letter",
            lambda: asyncio.to_thread(self._deduper.mark_dead_lettered, records),
        )

    async def _until_stored(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s result, retried with backoff for as long as Redis is out;
        `_StopRequestedError` when a stop comes meanwhile.

        `call` runs the blocking Redis call in a thread: the event loop stays free for the
        signal handlers and the other handlers. A thread cannot be cancelled, so the call under
        way is awaited, bounded by the client's socket timeouts, and never retried beside
        itself."""
        attempt = 0
        while True:
            try:
                result = await call()
            except RedisError as error:
                if isinstance(error, ResponseError) and not isinstance(error, _REDIS_OUTAGES):
                    raise
                attempt += 1
                self.stats.redis_retries += 1
                delay = self._backoff(attempt)
                log.warning(
                    "%s: Redis is out for %s (%s); attempt %d, retrying in %.1f s (nothing is "
                    "committed meanwhile)",
                    self.name,
                    what,
                    _describe(error),
                    attempt,
                    delay,
                )
                await self._sleep(delay, waiting_for="Redis")
                continue
            if attempt:
                log.info("%s: Redis is back for %s after %d attempt(s)", self.name, what, attempt)
            return result

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2 ** (failures - 1),
        )
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    async def _sleep(self, seconds: float, *, waiting_for: str = "a retry") -> None:
        """Sleep between attempts, cut short by shutdown (`_StopRequestedError`, saying what was
        waited for)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            raise _StopRequestedError(waiting_for)

    async def _dead_letter(self, record: ConsumerRecord, reason: str, *, attempts: int) -> None:
        await self._dead_letter_origin(Origin.of(record), reason, attempts=attempts)

    async def _dead_letter_origin(self, origin: Origin, reason: str, *, attempts: int) -> None:
        """Write the dead letter, retried with backoff, logged, for as long as Kafka does not take
        it (`DeadLetterError`: the broker out, or the dead-letter topic refusing even a letter cut
        short, until its `max.message.bytes` is raised); `_StopRequestedError` when a stop comes
        meanwhile. Its record is not committed past before this returns: the batch waits, and a
        stop leaves it uncommitted, to be redelivered.

        The send runs in a thread, bounded by the producer's own timeouts, and is never retried
        beside itself."""
        where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self._dead_letters.send, origin, reason, attempts=attempts)
            except (DeadLetterError, KafkaError) as error:
                attempt += 1
                self.stats.dead_letter_retries += 1
                delay = self._backoff(attempt)
                log.warning(
                    "%s: the dead-letter topic did not take the dead letter of %s (%s); attempt "
                    "%d, retrying in %.1f s (nothing is committed past it meanwhile)",
                    self.name,
                    where,
                    _describe(error),
                    attempt,
                    delay,
                )
                await self._sleep(delay, waiting_for="the dead-letter topic")
                continue
            break
        if attempt:
            log.info(
                "%s: the dead letter of %s written after %d attempt(s)", self.name, where, attempt
            )
        self.stats.dead_lettered += 1


async def _call(method: Callable[[Any], Awaitable[None]], argument: Any) -> None:
    """`method(argument)`; a cancellation it raises without this task being cancelled is
    `HandlerCancelledError`, a failure like any other."""
    try:
        await method(argument)
    except asyncio.CancelledError as error:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise HandlerCancelledError(
            "the handler raised asyncio.CancelledError though the runner did not cancel it (a "
            "task it cancelled and then awaited, or a cancellation a library let out)"
        ) from error


def _partition(record: ConsumerRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def _record_at(record: ConsumerRecord) -> RecordAt:
    return RecordAt(record.topic, record.partition, record.offset)


def _describe(error: BaseException) -> str:
    """A connector's own errors speak for themselves; others get their type named."""
    if isinstance(error, ConnectorError):
        return str(error)
    return f"{type(error).__name__}: {error}"
