"""The inbound bridge: customer messages and HR records from Kafka into Temporal.

One poll is one batch. Each record is decoded (CloudEvents, binary mode), typed by the event catalog
and checked against the configuration. A record that cannot be processed — not a warmline event,
too large, a type that does not belong on its topic, invalid data, an empty or oversized message,
an unknown tenant or worker — is dead-lettered with the reason and its coordinates, and the
bridge moves on; so is a record that raises anything else while it is read or handed on (reason
`internal: <type>: <message>`), since one record must never stop its partition. The rest, less the
events already handled, are handed on, the records of one conversation (or worker) in order:

- a customer message signals-with-start its `ConversationWorkflow` (`receive_message`): the first
  message starts the conversation;
- a specialist's availability change updates the roster (`set_availability`, with an update id
  made from the event's source and id); an annotator's skips it (the roster holds specialists
  only);
- a shift is kept in Redis (`ShiftStore`, for reports) and signalled-with-start to the worker's
  `WellnessWorkflow`, as is every availability change, a specialist's or an annotator's.

Offsets are committed only once Temporal (and Redis) accepted every effect of the batch. While they
are unreachable the batch is retried with exponential backoff and full jitter, never dead-lettered
(an outage is not the record's fault); a stop meanwhile leaves it uncommitted, to be redelivered.
Delivery is at least once end to end; the effect is exactly once through the dedupe by event
source and id here (each record marked as soon as it is handed on) and by message id in the
conversation. For HR records the latest by time wins: one older than an event already applied
to the same availability or shift is not applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from kafka.consumer.fetcher import ConsumerRecord
from redis.exceptions import ResponseError
from temporalio.client import Client, WorkflowUpdateFailedError
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
from warmline.events.consuming import (
    BatchConsumer,
    ConsumerStats,
    ConsumerTimings,
    StopRequestedError,
)
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper, RecordAt
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
from warmline.wellness.policy import STAND_IN_PREFIX, Shift
from workflows.conversation import ConversationWorkflow
from workflows.roster import RosterWorkflow

log = logging.getLogger(__name__)

MAX_AHEAD = timedelta(hours=1)
"""How far ahead of the bridge's clock an HR event's `time` may be (clocks differ a little). HR
events are applied latest-time-wins, so one dated years ahead would hide every later change."""
MAX_SHIFT = timedelta(hours=24)
"""The longest shift the bridge takes: exposure budgets are per shift, so a year-long shift from a
slip in an HR export would lift every limit for a year."""
SHIFT_YEARS = range(2000, 2101)
"""The years a shift may start and end in. A placeholder date from an HR export (`9999-12-31`)
is a mistake, and date arithmetic on it (the retention, timers) would overflow."""
_UPDATE_ID_NAMESPACE = uuid.UUID("0b6f3f9e-5d7a-4c2e-8f1b-7a4d2c9e6b35")
"""Fixed: a redelivered availability record must get the same roster update id (`_update_id`)."""

DEDUPE_SCOPE = "bridge"
"""The bridge's ids in the Redis dedupe (`warmline:dedupe:bridge:<event source> <event id>`)."""
CONSUMER_NAME = "bridge"
"""How dead letters name the bridge (`dlq.consumer`)."""
MAX_RECORD_BYTES = 1_048_576
"""Larger records are dead-lettered unread: a message's text is at most `MAX_MESSAGE_CHARS`
characters, a small fraction of this even in JSON's escapes."""


@dataclass(frozen=True)
class BridgeSettings(ConsumerTimings):
    """Where the bridge reads and writes; the defaults suit a production deployment."""

    task_queue: str = DEFAULT_TASK_QUEUE
    """The workers' task queue: conversations start there, and the roster lives there."""
    messages_topic: str = INBOUND_MESSAGES_TOPIC
    hr_topic: str = INBOUND_HR_TOPIC
    group_id: str = "warmline-bridge"
    batch_size: int = 100
    concurrency: int = 16
    """Conversations (or workers) handed on at the same time; one's records always go in order."""


@dataclass
class BridgeStats(ConsumerStats):
    """Counters a test or a health check reads."""

    messages: int = 0
    """Customer messages Temporal accepted (signals-with-start)."""
    availability: int = 0
    shifts: int = 0
    superseded: int = 0
    """HR records not applied: a later event about the same availability or shift was."""
    redelivered_dead_letters: int = 0
    """Records dead-lettered before, redelivered in a batch left uncommitted: not again."""


class _UnprocessableError(Exception):
    """The record itself is wrong: it goes to the dead letter with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


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
    dedupe_key: str = ""
    """`_dedupe_key(event)`, set once the batch's duplicates are dropped."""
    latest_of: tuple[str, str] | None = None
    """For HR records, (worker id, what the record sets: `availability` or `shift <id>`): an
    event older than one already applied to the same is out of date (`_superseded`)."""


class InboundBridge(BatchConsumer[BridgeSettings, BridgeStats]):
    """Consumes the inbound topics until `stop()`; see the module docstring for the guarantees.

    `config` must be the workers' configuration: new conversations start with its escalation
    policy, and availability is checked against its specialists and annotators. The consume loop,
    the outage retries and the dead letters are `BatchConsumer`'s; this class checks records and
    hands them on.
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
        settings = settings or BridgeSettings()
        super().__init__(
            label="bridge",
            bootstrap=bootstrap,
            topics=[settings.messages_topic, settings.hr_topic],
            settings=settings,
            stats=BridgeStats(),
            deduper=deduper,
            dead_letters=dead_letters,
        )
        self._client = client
        self._shifts = shifts
        task_queue = self.settings.task_queue
        self._tenants: dict[str, Tenant] = {t.id: t for t in config.tenants}
        self._specialists = {s.id for s in config.routing.specialists}
        self._queues = sorted(q.name for q in config.routing.queues)
        self._annotators = {a.id for a in config.annotation.annotators}
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

    # --- a batch -----------------------------------------------------------------------------

    async def _handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        items: list[_Item] = []
        for record in records:
            try:
                items.append(self._read(record))
            except _UnprocessableError as error:
                await self._dead_letter(record, error.reason)
            except Exception as error:  # noqa: BLE001 - one record must not stop its partition
                await self._dead_letter(record, _internal(record, error))
        keys = [_dedupe_key(item.event) for item in items]
        fresh = set(await self._unseen(keys))
        kept: list[_Item] = []
        for item, key in zip(items, keys, strict=True):
            if key in fresh:
                fresh.discard(key)
                kept.append(replace(item, dedupe_key=key))
            else:
                log.info(
                    "%s: already handled (event %s from %s)",
                    item.what,
                    item.event.id,
                    item.event.source,
                )
        self.stats.duplicates += len(items) - len(kept)
        await self._dispatch(kept)

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """Dead-letter the record once: a batch left uncommitted (a stop or a crash while a later
        record waited out an outage) is redelivered, and its records dead-lettered the first time
        must not be again. They are remembered by their coordinates (a record that failed its
        checks may have no event id), in the dedupe's Redis for its TTL; a record sent again,
        fixed, has other coordinates and goes through."""
        at = RecordAt(record.topic, record.partition, record.offset)
        before = await self._until_done(
            "dedupe",
            lambda: asyncio.to_thread(self._deduper.record_dead_lettered, at),
            in_thread=True,
        )
        if before:
            log.info(
                "bridge: %s[%d]@%d was dead-lettered before; its redelivery is dropped",
                record.topic,
                record.partition,
                record.offset,
            )
            self.stats.redelivered_dead_letters += 1
            return
        await super()._dead_letter(record, reason)
        await self._until_done(
            "dedupe",
            lambda: asyncio.to_thread(self._deduper.mark_record_dead_lettered, at),
            in_thread=True,
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
            event = from_record(record.key, headers, record.value)
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
            item = self._message(record, event, data)
            _keyed_by_subject(record, data.conversation_id, "conversation id")
        elif isinstance(data, InboundAvailability):
            item = self._availability(record, event, data)
            _keyed_by_subject(record, data.specialist_id, "worker id")
        elif isinstance(data, InboundShift):
            item = self._shift(record, event, data)
            _keyed_by_subject(record, data.worker_id, "worker id")
        else:
            raise _UnprocessableError(f"{event.type.value} is not an inbound type")
        return item

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
        worker = data.specialist_id
        self._known_worker(worker)
        _same_subject(event, worker, "worker id")
        _not_ahead(event)
        return _Item(
            record,
            event,
            order_key=f"worker/{worker}",
            what=f"availability of {worker}",
            apply=lambda: self._set_availability(
                worker, available=data.available, update_id=_update_id(event)
            ),
            latest_of=(worker, "availability"),
        )

    def _shift(self, record: ConsumerRecord, event: DomainEvent, data: InboundShift) -> _Item:
        _require(worker_id=data.worker_id, shift_id=data.shift_id)
        if data.shift_id.startswith(STAND_IN_PREFIX):
            # The wellness workflow would take it for one it started itself (`Shift.stand_in`),
            # which gives way to the next HR shift.
            raise _UnprocessableError(
                f"shift id {data.shift_id!r} starts with {STAND_IN_PREFIX!r}, which warmline keeps "
                "for the shifts it starts itself when a worker becomes available with no shift "
                "known: give HR's shifts ids of their own"
            )
        self._known_worker(data.worker_id)
        _same_subject(event, data.worker_id, "worker id")
        _not_ahead(event)
        if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
            raise _UnprocessableError("starts_at and ends_at need a time zone (RFC 3339)")
        for name, when in (("starts_at", data.starts_at), ("ends_at", data.ends_at)):
            if when.year not in SHIFT_YEARS:
                raise _UnprocessableError(
                    f"shift {data.shift_id!r} {name} {when.isoformat()} is not a real shift's: "
                    f"the bridge takes years {SHIFT_YEARS[0]} to {SHIFT_YEARS[-1]}"
                )
        if data.ends_at <= data.starts_at:
            raise _UnprocessableError(
                f"shift {data.shift_id!r} ends ({data.ends_at.isoformat()}) before it starts "
                f"({data.starts_at.isoformat()})"
            )
        if data.ends_at - data.starts_at > MAX_SHIFT:
            hours = (data.ends_at - data.starts_at).total_seconds() / 3600
            raise _UnprocessableError(
                f"shift {data.shift_id!r} lasts {hours:,.0f} h; the longest the bridge takes is "
                f"{MAX_SHIFT.total_seconds() / 3600:.0f} h (the budget is per shift)"
            )
        unknown = [queue for queue in data.queues if queue not in self._queues]
        if unknown:
            raise _UnprocessableError(
                f"shift {data.shift_id!r} names queue(s) the configuration lacks: "
                f"{', '.join(unknown)}; known: {', '.join(self._queues)}"
            )
        return _Item(
            record,
            event,
            order_key=f"worker/{data.worker_id}",
            what=f"shift {data.shift_id} of {data.worker_id}",
            apply=lambda: self._keep_shift(data),
            latest_of=(data.worker_id, f"shift {data.shift_id}"),
        )

    def _known_worker(self, worker: str) -> None:
        """The wellness policy covers the configuration's specialists and annotators only. An HR
        feed also sends other people's records (another deployment's workers, staff warmline does
        not route to): each would start a wellness workflow that runs for good, budgeting a worker
        nobody routes to, and put their exposure on this deployment's wellness topic."""
        if worker not in self._specialists and worker not in self._annotators:
            raise _UnprocessableError(
                f"unknown worker {worker!r}: neither in the configuration's routing.specialists "
                "nor in its annotation.annotators"
            )

    # --- handing on --------------------------------------------------------------------------

    async def _dispatch(self, items: list[_Item]) -> None:
        """Deliver the items, one subject's in order, each marked handled once it is delivered.

        Marked one by one, not when the batch is done: a stop while a later record waits out an
        outage (or a crash) leaves the batch uncommitted, and its redelivery must not apply again
        what was applied. Most effects are idempotent, but a worker's availability is not as a
        sequence: off and on again a second time ends their shift and starts another, with the
        exposure counted so far wiped. A record dead-lettered on delivery stays unmarked: fixed
        and sent again with its id (as the dead letter's reason asks), it must not be dropped as a
        duplicate.
        """
        by_key: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            by_key[item.order_key].append(item)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def in_order(group: list[_Item]) -> None:
            async with limit:
                for item in group:
                    if await self._deliver(item):
                        await self._mark_done([item.dedupe_key])

        stopping = False
        try:
            async with asyncio.TaskGroup() as tasks:
                for group in by_key.values():
                    tasks.create_task(in_order(group))
        except* StopRequestedError:
            stopping = True
        if stopping:
            raise StopRequestedError

    async def _deliver(self, item: _Item) -> bool:
        """Hand the item on (or drop it as out of date); False when it went to the dead letter."""
        try:
            if await self._superseded(item):
                return True
            await self._until_done(item.what, item.apply)
            if item.latest_of is not None:
                worker, what = item.latest_of
                await self._until_done(
                    item.what,
                    lambda: asyncio.to_thread(
                        self._shifts.mark_applied, worker, what, item.event.time
                    ),
                    in_thread=True,
                )
        except _UnprocessableError as error:
            reason = error.reason
        except RPCError as error:
            # Only a refusal of the request itself gets here (`_is_outage`): e.g. an id too long.
            reason = f"Temporal refused {item.what}: {error.message}"
        except ResponseError as error:
            # Likewise an error reply from Redis (`_is_outage`), e.g. a key of the wrong type.
            reason = f"Redis refused {item.what}: {error}"
        except StopRequestedError:
            raise
        except Exception as error:  # noqa: BLE001 - one record must not stop its partition
            reason = _internal(item.record, error)
        else:
            return True
        await self._dead_letter(item.record, reason)
        return False

    async def _superseded(self, item: _Item) -> bool:
        """Whether a later HR event about the same availability or shift was applied already.

        The HR topic is in order per worker only as far as its producers keep it: two systems
        (HR and a workforce tool) each send as they go, a producer's retry can reorder its
        records, a record without a key lands on any partition, and a record replayed from the
        dead letter comes after everything since. Availability is a state and a shift's latest
        version replaces the earlier: applied late, an old event would undo a newer one (a worker
        back on shown off, a corrected shift restored to its error).
        """
        if item.latest_of is None:
            return False
        worker, what = item.latest_of
        later = await self._until_done(
            item.what,
            lambda: asyncio.to_thread(self._shifts.superseded_by, worker, what, item.event.time),
            in_thread=True,
        )
        if later is None:
            return False
        log.warning(
            "%s: not applied: event %s from %s is of %s, older than the %s one already applied",
            item.what,
            item.event.id,
            item.event.source,
            item.event.time.isoformat(),
            later.isoformat(),
        )
        self.stats.superseded += 1
        return True

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

    async def _set_availability(self, worker: str, *, available: bool, update_id: str) -> None:
        # Annotators are in no roster: their wellness workflow alone holds their availability, and
        # the annotation loop reads it from the wellness view before it hands out a task.
        if worker in self._specialists:
            await self._update_roster(
                AvailabilityRequest(specialist_id=worker, available=available), update_id=update_id
            )
        # The worker's wellness workflow follows availability too (a shift starts with it when
        # HR sent none); a repeat changes nothing, like the roster's.
        await self._wellness.availability(worker, available)
        self.stats.availability += 1

    async def _update_roster(self, request: AvailabilityRequest, *, update_id: str) -> None:
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


def _require(**fields: str) -> None:
    for name, value in fields.items():
        if not value.strip():
            raise _UnprocessableError(f"{name} is empty")


def _same_subject(event: DomainEvent, expected: str, what: str) -> None:
    """The subject orders the topic (it is the record key); it must be what the data names."""
    if event.subject and event.subject != expected:
        raise _UnprocessableError(f"subject {event.subject!r} is not the {what} {expected!r}")


def _keyed_by_subject(record: ConsumerRecord, subject: str, what: str) -> None:
    """The key partitions the topic: a record under another key than its subject (the id in its
    data, which `_same_subject` checked the subject against) lands on another partition than the
    rest of its conversation's or worker's and can overtake them or fall behind, and says the
    producer mixed two records up. A record without a key is taken, as Kafka's producers send
    one when they are given no key: it lands on any partition, which the bridge already allows
    for (HR events go by their `time`, see `_superseded`)."""
    if record.key is None:
        return
    # `from_record` has checked that the key is UTF-8.
    key = bytes(record.key).decode("utf-8")
    if key != subject:
        raise _UnprocessableError(
            f"the record key {key!r} is not the event's subject {subject!r} (the {what}): the "
            "topic is partitioned by key; key the record by its subject, or send it without a key"
        )


def _not_ahead(event: DomainEvent) -> None:
    """HR events are applied latest-time-wins: one dated far ahead would hide every later one."""
    ahead = event.time - datetime.now(UTC)
    if ahead > MAX_AHEAD:
        raise _UnprocessableError(
            f"the event's time {event.time.isoformat()} is {ahead.total_seconds() / 3600:,.1f} h "
            f"ahead of the bridge's clock; the latest HR event by time wins, so one from the "
            f"future would hide every change after it: the bridge takes them at most "
            f"{MAX_AHEAD.total_seconds() / 3600:.0f} h ahead (is the sender's clock right?)"
        )


def _update_id(event: DomainEvent) -> str:
    """The roster update's id: Temporal drops an update whose id it has seen, so this must be
    unique where the event is (its source and id together, as for the dedupe) and the same when
    the record is redelivered."""
    pair = json.dumps([event.source, event.id])
    return f"bridge/{uuid.uuid5(_UPDATE_ID_NAMESPACE, pair)}"


def _internal(record: ConsumerRecord, error: Exception) -> str:
    """The dead letter's reason for a record that raised what no check expected (a bug, or a
    case nobody thought of); the traceback goes to the log."""
    log.error(
        "bridge: %s[%d]@%d raised %s",
        record.topic,
        record.partition,
        record.offset,
        type(error).__name__,
        exc_info=error,
    )
    kind = type(error).__name__
    return f"internal: {kind}: {error}" if str(error) else f"internal: {kind}"


def _dedupe_key(event: DomainEvent) -> str:
    """What makes an inbound event unique: CloudEvents asks producers for a unique `source` and
    `id` together, so two systems may both send an id `42`."""
    return f"{event.source} {event.id}"
