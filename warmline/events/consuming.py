"""Consuming warmline's topics: the consumer settings every reader shares, polling, and
`BatchConsumer`, the consume loop of the consumers that hand records to Temporal and Redis (the
inbound bridge, the annotation sampler).

Offsets are committed by hand after a batch is done (at least once). The consumer subscribes only
once its topics exist, so the group's first rebalance already has partitions (see
`warmline.events.admin` for why that matters), and oversized records are still fetched, so they
are dead-lettered rather than stuck on; a record the client cannot read at all is dead-lettered by
its coordinates (`find_unreadable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord, RecordTooLargeError
from kafka.errors import (
    CorruptRecordError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.structs import OffsetAndMetadata
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from warmline.events.deadletter import DeadLetterError, DeadLetters, Origin
from warmline.events.dedupe import Deduper
from warmline.reach import TEMPORAL_UNREACHABLE

log = logging.getLogger(__name__)


def open_consumer(
    bootstrap: str,
    topics: Sequence[str],
    *,
    group_id: str,
    batch_size: int,
    max_poll_interval: timedelta,
    stopping: Callable[[], bool],
) -> KafkaConsumer:
    """A consumer in `group_id`, subscribed to `topics` once they exist (or shutdown began)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        max_poll_interval_ms=int(max_poll_interval.total_seconds() * 1000),
        fetch_max_bytes=64 * 1_048_576,
        max_partition_fetch_bytes=16 * 1_048_576,
    )
    waited = 0.0
    while not stopping():
        missing = set(topics) - consumer.topics()
        if not missing:
            break
        if waited % 10 == 0:
            log.info("%s: waiting for topic(s) %s to exist", group_id, ", ".join(sorted(missing)))
        time.sleep(0.5)
        waited += 0.5
    consumer.subscribe(list(topics))
    return consumer


JOIN_TIMEOUT = timedelta(seconds=2)
"""How long a poll may wait while the consumer holds no partitions (joining its group). With
kafka-python 3.0 a group join that a short poll timeout cuts short can hang for minutes (measured:
9 joins in 10 hung at 5 ms, 1 in 10 at 50-100 ms, none at 1 s); a joining consumer has no records
to wait for anyway."""


def poll_records(
    consumer: KafkaConsumer, *, timeout: timedelta, batch_size: int
) -> list[ConsumerRecord]:
    """One poll's records, all partitions together."""
    if not consumer.assignment():
        timeout = max(timeout, JOIN_TIMEOUT)
    polled = consumer.poll(timeout_ms=int(timeout.total_seconds() * 1000), max_records=batch_size)
    return [record for batch in polled.values() for record in batch]


UNREADABLE_PROBE = timedelta(seconds=10)
"""How long `find_unreadable` reads one partition for its next record."""


def find_unreadable(
    bootstrap: str, consumer: KafkaConsumer, *, within: timedelta = UNREADABLE_PROBE
) -> tuple[TopicPartition, int] | None:
    """The partition of `consumer`'s assignment whose next record the client cannot read (the
    poll raised `CorruptRecordError`, which does not say where), and that record's offset.

    The poll raises only once it has returned every record before the unreadable one, so the
    record sits at its partition's position. Each partition's next record is read on a consumer of
    its own, outside the group: the one that raises again is the one. None if none does (the
    error passed).
    """
    positions = {tp: consumer.position(tp) for tp in sorted(consumer.assignment())}
    probe = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1_048_576,
        max_partition_fetch_bytes=16 * 1_048_576,
    )
    try:
        ends: dict[TopicPartition, int] = probe.end_offsets(list(positions))
        for tp, position in positions.items():
            if position is None or position >= ends.get(tp, 0):
                continue
            probe.assign([tp])
            probe.seek(tp, position)
            deadline = time.monotonic() + within.total_seconds()
            while time.monotonic() < deadline:
                try:
                    if probe.poll(timeout_ms=500, max_records=1):
                        break
                except CorruptRecordError:
                    return tp, position
    finally:
        probe.close()
    return None


def unreadable_dead_letter(
    partition: TopicPartition, offset: int, error: CorruptRecordError
) -> tuple[Origin, str]:
    """The dead letter of a record the Kafka client cannot read (`find_unreadable` found it): its
    coordinates alone, since its bytes cannot be read, and the reason."""
    origin = Origin(
        topic=partition.topic,
        partition=partition.partition,
        offset=offset,
        key=None,
        value=None,
        headers=[],
    )
    reason = (
        f"the record cannot be read: {error}; warmline's Kafka client refuses it (a header name "
        "that is not UTF-8, a checksum that fails): read it at these coordinates with another "
        "client, fix its producer and send it again"
    )
    return origin, reason


class StopRequestedError(Exception):
    """Shutdown began while a call waited to be retried: leave the batch uncommitted."""


@dataclass(frozen=True, kw_only=True)
class ConsumerTimings:
    """The timings of the consume loop, shared by the settings of every `BatchConsumer` (the
    bridge's, the annotation sampler's, the wellness tracker's); the defaults suit production."""

    poll_timeout: timedelta = timedelta(milliseconds=500)
    call_timeout: timedelta = timedelta(seconds=10)
    """How long one call to Temporal or Redis may take before it counts as failed and is retried."""
    initial_backoff: timedelta = timedelta(milliseconds=500)
    max_backoff: timedelta = timedelta(seconds=30)
    max_poll_interval: timedelta = timedelta(minutes=10)
    """After this long in one batch (a long outage) the group rebalances; the batch is then
    redelivered and its duplicates dropped."""


class ConsumerSettings(Protocol):
    """What `BatchConsumer` reads of a consumer's settings (e.g. `BridgeSettings`)."""

    @property
    def group_id(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def poll_timeout(self) -> timedelta: ...
    @property
    def call_timeout(self) -> timedelta: ...
    @property
    def initial_backoff(self) -> timedelta: ...
    @property
    def max_backoff(self) -> timedelta: ...
    @property
    def max_poll_interval(self) -> timedelta: ...


@dataclass
class ConsumerStats:
    """The counters every `BatchConsumer` keeps; a consumer's stats add its own (`BridgeStats`)."""

    duplicates: int = 0
    """Records whose event id was already handled."""
    dead_lettered: int = 0
    retries: int = 0
    """Calls retried because Temporal, Redis or Kafka did not answer."""
    batches: int = 0
    """Batches handled and committed."""


SettingsT = TypeVar("SettingsT", bound=ConsumerSettings)
StatsT = TypeVar("StatsT", bound=ConsumerStats)
T = TypeVar("T")

_TRANSIENT = (
    RPCError,
    RPCTimeoutOrCancelledError,
    TimeoutError,
    RedisError,
    KafkaError,
    DeadLetterError,
    OSError,
    RuntimeError,
)
"""What an outage of Temporal, Redis or Kafka raises (`_is_outage` narrows it)."""
_REDIS_OUTAGES = (ReadOnlyError, TryAgainError, ClusterDownError, OutOfMemoryError)
"""Errors Redis answers while it fails over, reshards or is out of memory: they pass. Any other
answer that is an error (`ResponseError`: a command this Redis lacks, a key of the wrong type)
refuses the request itself, and would refuse it again on every retry."""
_KAFKA_REFUSALS = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
"""Kafka refuses a record for its size: permanent for that record, retried for ever otherwise
(`DeadLetters.send` writes a dead letter the topic refuses shorter instead)."""


class BatchConsumer(ABC, Generic[SettingsT, StatsT]):
    """Consumes its topics until `stop()`, one poll a batch, committing each once it is handled.

    This is the part every warmline consumer that hands records to Temporal and Redis shares, so
    the guarantees are written once: a subclass says only how a batch is handled
    (`_handle_batch`), and uses `_until_done`, `_dead_letter`, `_unseen` and `_mark_done` there.

    - A record that cannot be processed is dead-lettered with the reason and the consumer moves on;
      so is one the Kafka client cannot read (by its coordinates: `_skip_unreadable`).
    - An outage is never the record's fault: a call to Temporal, Redis or Kafka that fails because
      the service is out is retried with exponential backoff and full jitter for as long as it
      takes, and nothing is committed meanwhile. A refusal (Temporal's `INVALID_ARGUMENT`, a Redis
      error reply, a record too large for Kafka) or a bug is raised, since no retry mends it: the
      subclass decides (the bridge dead-letters the record it came from).
    - Offsets are committed by hand once the whole batch is handled (at least once); a stop while a
      retry waits leaves the batch uncommitted, to be redelivered, and the dedupe by event id
      drops what was already done.

    Logs go to the subclass's module logger (`warmline.bridge.inbound`, ...), prefixed with
    `label`, so log settings made per consumer keep applying to its loop.
    """

    def __init__(
        self,
        *,
        label: str,
        bootstrap: str,
        topics: Sequence[str],
        settings: SettingsT,
        stats: StatsT,
        deduper: Deduper,
        dead_letters: DeadLetters,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self._label = label
        self._log = logging.getLogger(type(self).__module__)
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._deduper = deduper
        self._dead_letters = dead_letters
        self._stop = asyncio.Event()
        self.assigned = asyncio.Event()
        """Set once the consumer group gave this consumer its partitions."""

    def stop(self) -> None:
        """Finish the batch in hand (or leave it uncommitted if a retry is waiting), then stop."""
        self._stop.set()

    async def run(self) -> None:
        """Consume until `stop()`."""
        try:
            await self._start()
        except StopRequestedError:
            self._log.info("%s: stopped before consuming", self._label)
            return
        consumer = await asyncio.to_thread(self._connect)
        try:
            while not self._stop.is_set():
                try:
                    records = await asyncio.to_thread(self._poll, consumer)
                except CorruptRecordError as error:
                    try:
                        await self._skip_unreadable(consumer, error)
                    except StopRequestedError:
                        self._log.info("%s: stopping before an unreadable record", self._label)
                        break
                    continue
                if consumer.assignment():
                    self.assigned.set()
                if not records:
                    continue
                try:
                    await self._handle_batch(records)
                except StopRequestedError:
                    self._log.info(
                        "%s: stopping with a batch uncommitted; it is redelivered", self._label
                    )
                    break
                if await asyncio.to_thread(self._commit, consumer):
                    self.stats.batches += 1
        finally:
            await asyncio.to_thread(consumer.close, autocommit=False)

    async def _start(self) -> None:
        """What to do once before consuming (may use `_until_done`); nothing by default."""

    @abstractmethod
    async def _handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        """Hand on or dead-letter every record; return only when all are done (then it commits)."""

    def _connect(self) -> KafkaConsumer:
        s = self.settings
        return open_consumer(
            self._bootstrap,
            self._topics,
            group_id=s.group_id,
            batch_size=s.batch_size,
            max_poll_interval=s.max_poll_interval,
            stopping=self._stop.is_set,
        )

    def _poll(self, consumer: KafkaConsumer) -> list[ConsumerRecord]:
        s = self.settings
        return poll_records(consumer, timeout=s.poll_timeout, batch_size=s.batch_size)

    async def _skip_unreadable(self, consumer: KafkaConsumer, error: CorruptRecordError) -> None:
        """Dead-letter the record the client cannot read, by its coordinates, and move past it.

        kafka-python raises for the record on every poll (a header name that is not UTF-8, which
        librdkafka and Go producers can write, a record that fails its checksum): left alone, it
        would stop the consumer, and on every restart again, with every record behind it on its
        partition. Its bytes cannot be read, so the dead letter keeps where it is; the offset past
        it is committed only once the dead letter is written.
        """
        try:
            found = await asyncio.to_thread(find_unreadable, self._bootstrap, consumer)
        except KafkaError as lookup:  # Kafka went away meanwhile: look again after a pause
            self._log.warning(
                "%s: could not look for the unreadable record: %s", self._label, lookup
            )
            found = None
        if found is None:
            self.stats.retries += 1
            delay = self._backoff(1)
            self._log.warning(
                "%s: a record could not be read (%s) and none is found at a partition's position; "
                "retrying in %.1f s",
                self._label,
                error,
                delay,
            )
            await self._pause(delay)
            return
        tp, offset = found
        origin, reason = unreadable_dead_letter(tp, offset, error)
        await self._dead_letter_origin(origin, reason)
        await asyncio.to_thread(consumer.seek, tp, offset + 1)
        past = {tp: OffsetAndMetadata(offset + 1, "", -1)}
        await asyncio.to_thread(self._commit, consumer, past)

    def _commit(
        self,
        consumer: KafkaConsumer,
        offsets: dict[TopicPartition, OffsetAndMetadata] | None = None,
    ) -> bool:
        try:
            consumer.commit(offsets)
        except KafkaError as error:
            # The effects are done and their ids marked: a redelivery is dropped as duplicates.
            self._log.warning(
                "%s: offsets not committed (%s); the batch is redelivered", self._label, error
            )
            return False
        return True

    async def _unseen(self, ids: Sequence[str]) -> list[str]:
        """The ids not handled before, in order (retried while Redis is out)."""
        return await self._until_done(
            "dedupe", lambda: asyncio.to_thread(self._deduper.unseen, ids), in_thread=True
        )

    async def _mark_done(self, ids: Sequence[str]) -> None:
        """Remember the ids as handled, before the commit (retried while Redis is out)."""
        await self._until_done(
            "dedupe", lambda: asyncio.to_thread(self._deduper.mark_done, ids), in_thread=True
        )

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        await self._dead_letter_origin(Origin.of(record), reason)

    async def _dead_letter_origin(self, origin: Origin, reason: str) -> None:
        self._log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self._label,
            origin.topic,
            origin.partition,
            origin.offset,
            reason,
        )
        await self._until_done(
            "dead letter",
            lambda: asyncio.to_thread(self._dead_letters.send, origin, reason, attempts=1),
            in_thread=True,
        )
        self.stats.dead_lettered += 1

    async def _until_done(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        in_thread: bool = False,
    ) -> T:
        """`call()`'s result, retried with backoff for as long as the services are out.

        A call gets `call_timeout` (a hung call is retried like a refused connection); blocking
        calls `in_thread` rely on their clients' own timeouts, since a thread cannot be cancelled
        and a retry beside a still running call could do its work twice.
        """
        limit = None if in_thread else self.settings.call_timeout.total_seconds()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(limit):
                    return await call()
            except _TRANSIENT as error:
                if not _is_outage(error):
                    raise
                delay = self._backoff(attempt)
                self.stats.retries += 1
                self._log.warning(
                    "%s: %s not accepted (%s); attempt %d, retrying in %.1f s",
                    self._label,
                    what,
                    _describe(error),
                    attempt,
                    delay,
                )
                await self._pause(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2 ** (attempt - 1),
        )
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    async def _pause(self, seconds: float) -> None:
        """Sleep before a retry, cut short by shutdown."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            raise StopRequestedError


def _is_outage(error: BaseException) -> bool:
    """Whether `error` means a service is out (retry) rather than a refusal or a bug (raise)."""
    if isinstance(error, RPCError):
        return error.status is not RPCStatusCode.INVALID_ARGUMENT
    if isinstance(error, RuntimeError):
        return str(error).startswith(TEMPORAL_UNREACHABLE)
    if isinstance(error, ResponseError):
        return isinstance(error, _REDIS_OUTAGES)
    return not isinstance(error, _KAFKA_REFUSALS)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
