"""The inbound bridge: customer messages and HR records from Kafka into Temporal.

One poll is one batch. Each record is decoded (CloudEvents, binary mode), typed by the event catalog
and checked against the configuration. A record that cannot be processed — not a warmline event,
too large, a type that does not belong on its topic, invalid data, an empty or oversized message,
an unknown tenant or specialist — is dead-lettered with the reason and its coordinates, and the
bridge moves on. The rest, less the event ids already handled, are handed on, the records of one
conversation (or worker) in order:

- a customer message signals-with-start its `ConversationWorkflow` (`receive_message`): the first
  message starts the conversation;
- an availability change updates the roster (`set_availability`, the event id as the update id);
- a shift is kept in Redis (`ShiftStore`, for reports) and signalled-with-start to the worker's
  `WellnessWorkflow`, as is every availability change.

Offsets are committed only once Temporal (and Redis) accepted every effect of the batch. While they
are unreachable the batch is retried with exponential backoff and full jitter, never dead-lettered
(an outage is not the record's fault); a stop meanwhile leaves it uncommitted, to be redelivered.
Delivery is at least once end to end; the effect is exactly once through the dedupe by event id
here and by message id in the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from redis.exceptions import RedisError
from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.routing import ensure_roster
from warmline.bridge.shifts import ShiftStore
from warmline.config.model import Tenant, WarmlineConfig
from warmline.conversation import (
    MAX_MESSAGE_CHARS,
    RECEIVE_MESSAGE_SIGNAL,
    ConversationInput,
    CustomerMessage,
    workflow_id,
)
from warmline.events.catalog import (
    EventDataError,
    InboundAvailability,
    InboundMessage,
    InboundShift,
    parse_data,
)
from warmline.events.consuming import open_consumer, poll_records
from warmline.events.deadletter import DeadLetterError, DeadLetters, Origin
from warmline.events.dedupe import Deduper
from warmline.events.envelope import DomainEvent, EventDecodeError, from_record
from warmline.events.types import INBOUND_HR_TOPIC, INBOUND_MESSAGES_TOPIC, EventType
from warmline.roster import AvailabilityRequest
from warmline.runtime import (
    DEFAULT_TASK_QUEUE,
    escalation_policy,
    roster_settings,
    routing_policy,
    wellness_policy,
    worker_kinds,
)
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import Shift
from workflows.conversation import ConversationWorkflow
from workflows.roster import RosterWorkflow

log = logging.getLogger(__name__)

T = TypeVar("T")

DEDUPE_SCOPE = "bridge"
"""The bridge's ids in the Redis dedupe (`warmline:dedupe:bridge:<event id>`)."""
CONSUMER_NAME = "bridge"
"""How dead letters name the bridge (`dlq.consumer`)."""
MAX_RECORD_BYTES = 1_048_576
"""Larger records are dead-lettered unread: a message's text is at most `MAX_MESSAGE_CHARS`
characters, a small fraction of this even in JSON's escapes."""
_TEMPORAL_UNREACHABLE = "Failed client connect"
"""How a lazily connecting Temporal client says the server is down: a `RuntimeError`, not an
`RPCError`, so it is recognised by its message."""
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
"""What an outage of Temporal, Redis or Kafka raises (`_is_outage` narrows `RuntimeError`)."""


@dataclass(frozen=True)
class BridgeSettings:
    """Where the bridge reads and writes; the defaults suit a production deployment."""

    task_queue: str = DEFAULT_TASK_QUEUE
    """The workers' task queue: conversations start there, and the roster lives there."""
    messages_topic: str = INBOUND_MESSAGES_TOPIC
    hr_topic: str = INBOUND_HR_TOPIC
    group_id: str = "warmline-bridge"
    batch_size: int = 100
    concurrency: int = 16
    """Conversations (or workers) handed on at the same time; one's records always go in order."""
    poll_timeout: timedelta = timedelta(milliseconds=500)
    call_timeout: timedelta = timedelta(seconds=10)
    """How long one Temporal call may take before it counts as failed and is retried."""
    initial_backoff: timedelta = timedelta(milliseconds=500)
    max_backoff: timedelta = timedelta(seconds=30)
    max_poll_interval: timedelta = timedelta(minutes=10)
    """After this long in one batch (a long outage) the group rebalances; the batch is then
    redelivered and its duplicates dropped."""


@dataclass
class BridgeStats:
    """Counters a test or a health check reads."""

    messages: int = 0
    """Customer messages Temporal accepted (signals-with-start)."""
    availability: int = 0
    shifts: int = 0
    duplicates: int = 0
    """Records whose event id was already handled."""
    dead_lettered: int = 0
    retries: int = 0
    """Calls retried because Temporal, Redis or Kafka did not answer."""
    batches: int = 0
    """Batches handled and committed."""


class _UnprocessableError(Exception):
    """The record itself is wrong: it goes to the dead letter with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _StopRequestedError(Exception):
    """Shutdown began while a call waited to be retried: leave the batch uncommitted."""


@dataclass(frozen=True)
class _Item:
    """A record that passed the checks, and what handing it on means."""

    record: ConsumerRecord
    event: DomainEvent
    order_key: str
    """Records with the same key are handed on in order (a conversation, a worker)."""
    what: str
    """For logs: `message m1 of conversation/acme/c1`."""
    apply: Callable[[], Awaitable[None]]


class InboundBridge:
    """Consumes the inbound topics until `stop()`; see the module docstring for the guarantees.

    `config` must be the workers' configuration: new conversations start with its escalation
    policy, and availability is checked against its specialists.
    """

    def __init__(
        self,
        client: Client,
        config: WarmlineConfig,
        *,
        bootstrap: str,
        deduper: Deduper,
        dead_letters: DeadLetters,
        shifts: ShiftStore,
        settings: BridgeSettings | None = None,
    ) -> None:
        self.settings = settings or BridgeSettings()
        self.stats = BridgeStats()
        self._client = client
        self._bootstrap = bootstrap
        self._deduper = deduper
        self._dead_letters = dead_letters
        self._shifts = shifts
        task_queue = self.settings.task_queue
        self._tenants: dict[str, Tenant] = {t.id: t for t in config.tenants}
        self._specialists = {s.id for s in config.routing.specialists}
        self._policy = escalation_policy(config, task_queue=task_queue)
        self._roster_id = routing_policy(config, task_queue=task_queue).roster_id
        self._roster = roster_settings(config)
        self._wellness = WellnessClient(
            client,
            deployment=config.metadata.name,
            policy=wellness_policy(config),
            task_queue=task_queue,
            kinds=worker_kinds(config),
            rpc_timeout=self.settings.call_timeout,
        )
        self._takes: dict[str, tuple[EventType, ...]] = {
            self.settings.messages_topic: (EventType.INBOUND_MESSAGE_RECEIVED,),
            self.settings.hr_topic: (
                EventType.INBOUND_AVAILABILITY_CHANGED,
                EventType.INBOUND_SHIFT_SCHEDULED,
            ),
        }
        self._stop = asyncio.Event()
        self.assigned = asyncio.Event()
        """Set once the consumer group gave this bridge its partitions."""

    def stop(self) -> None:
        """Finish the batch in hand (or leave it uncommitted if a retry is waiting), then stop."""
        self._stop.set()

    async def run(self) -> None:
        consumer = await asyncio.to_thread(self._connect)
        try:
            while not self._stop.is_set():
                records = await asyncio.to_thread(self._poll, consumer)
                if consumer.assignment():
                    self.assigned.set()
                if not records:
                    continue
                try:
                    await self._process(records)
                except _StopRequestedError:
                    log.info("bridge: stopping with a batch uncommitted; it is redelivered")
                    break
                if await asyncio.to_thread(self._commit, consumer):
                    self.stats.batches += 1
        finally:
            await asyncio.to_thread(consumer.close, autocommit=False)

    # --- consuming ---------------------------------------------------------------------------

    def _connect(self) -> KafkaConsumer:
        s = self.settings
        return open_consumer(
            self._bootstrap,
            [s.messages_topic, s.hr_topic],
            group_id=s.group_id,
            batch_size=s.batch_size,
            max_poll_interval=s.max_poll_interval,
            stopping=self._stop.is_set,
        )

    def _poll(self, consumer: KafkaConsumer) -> list[ConsumerRecord]:
        s = self.settings
        return poll_records(consumer, timeout=s.poll_timeout, batch_size=s.batch_size)

    def _commit(self, consumer: KafkaConsumer) -> bool:
        try:
            consumer.commit()
        except KafkaError as error:
            # The effects are done and their ids marked: a redelivery is dropped as duplicates.
            log.warning("bridge: offsets not committed (%s); the batch is redelivered", error)
            return False
        return True

    async def _process(self, records: Sequence[ConsumerRecord]) -> None:
        items: list[_Item] = []
        for record in records:
            try:
                items.append(self._read(record))
            except _UnprocessableError as error:
                await self._dead_letter(record, error.reason)
        ids = [item.event.id for item in items]
        unseen = await self._until_done(
            "dedupe", lambda: asyncio.to_thread(self._deduper.unseen, ids), in_thread=True
        )
        fresh = set(unseen)
        kept: list[_Item] = []
        for item in items:
            if item.event.id in fresh:
                fresh.discard(item.event.id)
                kept.append(item)
        self.stats.duplicates += len(items) - len(kept)
        await self._dispatch(kept)
        done = [item.event.id for item in kept]
        await self._until_done(
            "dedupe", lambda: asyncio.to_thread(self._deduper.mark_done, done), in_thread=True
        )

    # --- checking a record -------------------------------------------------------------------

    def _read(self, record: ConsumerRecord) -> _Item:
        """The record as an item to hand on, or `_UnprocessableError` saying what is wrong."""
        value: bytes = record.value or b""
        if len(value) > MAX_RECORD_BYTES:
            raise _UnprocessableError(
                f"the record is {len(value):,} bytes; the bridge takes at most "
                f"{MAX_RECORD_BYTES:,} (a message is at most {MAX_MESSAGE_CHARS:,} characters)"
            )
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        try:
            event = from_record(record.key, headers, value)
        except EventDecodeError as error:
            raise _UnprocessableError(error.reason) from None
        takes = self._takes.get(record.topic, ())
        if event.type not in takes:
            raise _UnprocessableError(
                f"{event.type.value} does not belong on {record.topic}, which takes "
                f"{', '.join(t.value for t in takes)}"
            )
        try:
            data = parse_data(event.type, event.data)
        except EventDataError as error:
            raise _UnprocessableError(error.reason) from None
        if isinstance(data, InboundMessage):
            return self._message(record, event, data)
        if isinstance(data, InboundAvailability):
            return self._availability(record, event, data)
        if isinstance(data, InboundShift):
            return self._shift(record, event, data)
        raise _UnprocessableError(f"{event.type.value} is not an inbound type")

    def _message(self, record: ConsumerRecord, event: DomainEvent, data: InboundMessage) -> _Item:
        tenant = self._tenants.get(data.tenant_id)
        if tenant is None:
            raise _UnprocessableError(
                f"unknown tenant {data.tenant_id!r}; this deployment serves "
                f"{', '.join(sorted(self._tenants))}"
            )
        _require(conversation_id=data.conversation_id, message_id=data.message_id)
        _same_subject(event, data.conversation_id, "conversation id")
        if not data.text.strip():
            raise _UnprocessableError("the message text is empty")
        if len(data.text) > MAX_MESSAGE_CHARS:
            raise _UnprocessableError(
                f"the message text has {len(data.text):,} characters; "
                f"the limit is {MAX_MESSAGE_CHARS:,}"
            )
        conversation = workflow_id(data.tenant_id, data.conversation_id)
        return _Item(
            record,
            event,
            order_key=conversation,
            what=f"message {data.message_id} of {conversation}",
            apply=lambda: self._signal_message(data, tenant, conversation),
        )

    def _availability(
        self, record: ConsumerRecord, event: DomainEvent, data: InboundAvailability
    ) -> _Item:
        if data.specialist_id not in self._specialists:
            raise _UnprocessableError(
                f"unknown specialist {data.specialist_id!r}: not in the configuration's "
                "routing.specialists"
            )
        _same_subject(event, data.specialist_id, "specialist id")
        request = AvailabilityRequest(specialist_id=data.specialist_id, available=data.available)
        return _Item(
            record,
            event,
            order_key=f"worker/{data.specialist_id}",
            what=f"availability of {data.specialist_id}",
            apply=lambda: self._set_availability(request, update_id=f"bridge/{event.id}"),
        )

    def _shift(self, record: ConsumerRecord, event: DomainEvent, data: InboundShift) -> _Item:
        _require(worker_id=data.worker_id, shift_id=data.shift_id)
        _same_subject(event, data.worker_id, "worker id")
        if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
            raise _UnprocessableError("starts_at and ends_at need a time zone (RFC 3339)")
        if data.ends_at <= data.starts_at:
            raise _UnprocessableError(
                f"shift {data.shift_id!r} ends ({data.ends_at.isoformat()}) before it starts "
                f"({data.starts_at.isoformat()})"
            )
        return _Item(
            record,
            event,
            order_key=f"worker/{data.worker_id}",
            what=f"shift {data.shift_id} of {data.worker_id}",
            apply=lambda: self._keep_shift(data),
        )

    # --- handing on --------------------------------------------------------------------------

    async def _dispatch(self, items: list[_Item]) -> None:
        by_key: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            by_key[item.order_key].append(item)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def in_order(group: list[_Item]) -> None:
            async with limit:
                for item in group:
                    await self._deliver(item)

        stopping = False
        try:
            async with asyncio.TaskGroup() as tasks:
                for group in by_key.values():
                    tasks.create_task(in_order(group))
        except* _StopRequestedError:
            stopping = True
        if stopping:
            raise _StopRequestedError

    async def _deliver(self, item: _Item) -> None:
        try:
            await self._until_done(item.what, item.apply)
        except _UnprocessableError as error:
            reason = error.reason
        except RPCError as error:
            # Only a refusal of the request itself gets here (`_is_outage`): e.g. an id too long.
            reason = f"Temporal refused {item.what}: {error.message}"
        else:
            return
        await self._dead_letter(item.record, reason)

    async def _signal_message(
        self, data: InboundMessage, tenant: Tenant, conversation: str
    ) -> None:
        await self._client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=data.tenant_id,
                conversation_id=data.conversation_id,
                channel=data.channel,
                country=data.country or tenant.country,
                locale=tenant.locale,
                policy=self._policy,
            ),
            id=conversation,
            task_queue=self.settings.task_queue,
            start_signal=RECEIVE_MESSAGE_SIGNAL,
            start_signal_args=[CustomerMessage(message_id=data.message_id, text=data.text)],
            rpc_timeout=self.settings.call_timeout,
        )
        self.stats.messages += 1

    async def _set_availability(self, request: AvailabilityRequest, *, update_id: str) -> None:
        handle = self._client.get_workflow_handle_for(RosterWorkflow.run, self._roster_id)
        timeout = self.settings.call_timeout
        try:
            try:
                await handle.execute_update(
                    RosterWorkflow.set_availability, request, id=update_id, rpc_timeout=timeout
                )
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                # HR may speak before the first worker started the roster: start it here.
                await ensure_roster(
                    self._client, self._roster_id, self._roster, task_queue=self.settings.task_queue
                )
                await handle.execute_update(
                    RosterWorkflow.set_availability, request, id=update_id, rpc_timeout=timeout
                )
        except WorkflowUpdateFailedError as error:
            reason = str(error.cause) if error.cause is not None else str(error)
            raise _UnprocessableError(f"the roster refused the change: {reason}") from None
        # The worker's wellness workflow follows availability too (a shift starts with it when
        # HR sent none); a repeat changes nothing, like the roster's.
        await self._wellness.availability(request.specialist_id, request.available)
        self.stats.availability += 1

    async def _keep_shift(self, shift: InboundShift) -> None:
        if not await asyncio.to_thread(self._shifts.record, shift):
            log.info("bridge: shift %s ended long ago; not kept", shift.shift_id)
            self.stats.shifts += 1
            return
        # The store stays for reports; the worker's wellness workflow gets the shift (a shift
        # sent again under its id replaces the earlier one there too).
        await self._wellness.shift(
            shift.worker_id,
            Shift(
                shift_id=shift.shift_id,
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                queues=shift.queues,
            ),
        )
        self.stats.shifts += 1

    # --- retrying and dead-lettering ---------------------------------------------------------

    async def _until_done(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        in_thread: bool = False,
    ) -> T:
        """`call()`'s result, retried with backoff for as long as the services are out.

        A Temporal call gets `call_timeout` (a hung call is retried like a refused connection);
        blocking calls `in_thread` rely on their clients' own timeouts, since a thread cannot be
        cancelled.
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
                log.warning(
                    "bridge: %s not accepted (%s); attempt %d, retrying in %.1f s",
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
            raise _StopRequestedError

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        log.warning(
            "bridge: dead-lettering %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        origin = Origin.of(record)
        await self._until_done(
            "dead letter",
            lambda: asyncio.to_thread(self._dead_letters.send, origin, reason, attempts=1),
            in_thread=True,
        )
        self.stats.dead_lettered += 1


def _require(**fields: str) -> None:
    for name, value in fields.items():
        if not value.strip():
            raise _UnprocessableError(f"{name} is empty")


def _same_subject(event: DomainEvent, expected: str, what: str) -> None:
    """The subject orders the topic (it is the record key); it must be what the data names."""
    if event.subject and event.subject != expected:
        raise _UnprocessableError(f"subject {event.subject!r} is not the {what} {expected!r}")


def _is_outage(error: BaseException) -> bool:
    """Whether `error` means a service is out (retry) rather than a refusal or a bug (raise)."""
    if isinstance(error, RPCError):
        return error.status is not RPCStatusCode.INVALID_ARGUMENT
    if isinstance(error, RuntimeError):
        return str(error).startswith(_TEMPORAL_UNREACHABLE)
    return True


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
