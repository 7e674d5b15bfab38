"""The inbound bridge against the real dev server, Kafka and Redis, with a worker on a fresh queue.

Each test gets its own topics, consumer group, dedupe scope, shift prefix and task queue (so its
own roster), and the workflows it started are terminated afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from redis import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from connectors.sdk.testkit import DeadLetter, read_dead_letters
from warmline.bridge import BridgeSettings, InboundBridge, ShiftStore
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.conversation import ConversationView, workflow_id
from warmline.events import DomainEvent, EventPublisher, EventType, to_record
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.runtime import roster_settings, routing_policy
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.policy import WellnessState
from warmline.wellness.types import wellness_workflow_id
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.wellness import WellnessWorkflow

PEER_SUPPORT = Path(__file__).resolve().parents[2] / "examples" / "peer-support" / "warmline.yaml"
TENANT = "open-door"
FAST = BridgeSettings(
    poll_timeout=timedelta(milliseconds=100),
    initial_backoff=timedelta(milliseconds=50),
    max_backoff=timedelta(milliseconds=200),
    call_timeout=timedelta(seconds=5),
)
BIG = 10 * 1_048_576


@dataclass(frozen=True)
class Sent:
    """Where a produced record landed."""

    topic: str
    partition: int
    offset: int


@dataclass
class Running:
    bridge: InboundBridge
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.bridge.stop()
        await asyncio.wait_for(self.task, timeout=30)


@dataclass
class Inbound:
    """A deployment (worker on a fresh task queue) and the bridge's topics, group and stores."""

    client: Client
    config: WarmlineConfig
    kafka: str
    redis_url: str
    settings: BridgeSettings
    dead_letter_topic: str
    shifts: ShiftStore
    started: list[str] = field(default_factory=list)
    """Workflow ids to terminate after the test."""
    _closing: list[Deduper | DeadLetters] = field(default_factory=list)
    _producer: KafkaProducer | None = None

    @property
    def roster_id(self) -> str:
        return routing_policy(self.config, task_queue=self.settings.task_queue).roster_id

    def bridge(
        self,
        *,
        client: Client | None = None,
        group: str | None = None,
        scope: str | None = None,
        kind: type[InboundBridge] = InboundBridge,
    ) -> InboundBridge:
        settings = replace(self.settings, group_id=group or self.settings.group_id)
        deduper = Deduper.connect(self.redis_url, scope=scope or settings.group_id)
        dead_letters = DeadLetters.connect(
            self.kafka, consumer="bridge", topic=self.dead_letter_topic
        )
        self._closing += [deduper, dead_letters]
        return kind(
            client or self.client,
            self.config,
            bootstrap=self.kafka,
            deduper=deduper,
            dead_letters=dead_letters,
            shifts=self.shifts,
            settings=settings,
        )

    async def run(self, bridge: InboundBridge | None = None) -> Running:
        bridge = bridge or self.bridge()
        running = Running(bridge, asyncio.create_task(bridge.run()))
        # Usually a second or two; a fresh broker on a busy machine can take much longer to
        # coordinate a new group (NOT_COORDINATOR until its `__consumer_offsets` partition loads).
        await until(bridge.assigned.is_set, what="partitions assigned", within=60, task=running)
        return running

    # --- producing ----------------------------------------------------------------------------

    def event(
        self, event_type: EventType, data: dict[str, Any], *, subject: str, event_id: str = ""
    ) -> DomainEvent:
        return DomainEvent(
            id=event_id or str(uuid.uuid4()),
            type=event_type,
            source="/crm/test",
            subject=subject,
            time=datetime.now(UTC),
            data=data,
        )

    async def wellness_when(
        self, worker: str, predicate: Callable[[WellnessState], bool]
    ) -> WellnessState:
        """`worker`'s wellness state once it matches (30 s at most). Only a running workflow is
        asked: the run an earlier test terminated has no worker left to answer (a query would
        wait for one)."""
        handle = self.client.get_workflow_handle_for(
            WellnessWorkflow.run, wellness_workflow_id("peer-support", worker)
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(RPCError):
                if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                    state = await handle.query(WellnessWorkflow.state)
                    if predicate(state):
                        return state
            if time.monotonic() > deadline:
                raise AssertionError(f"the wellness workflow of {worker} never matched")
            await asyncio.sleep(0.1)

    def shift(
        self,
        worker: str,
        shift_id: str,
        starts: datetime,
        hours: float = 8,
        *,
        queues: list[str] | None = None,
        at: datetime | None = None,
    ) -> DomainEvent:
        """HR's `inbound.shift.scheduled`: `worker`'s shift of `hours` from `starts`, the event
        of time `at` (now by default)."""
        data: dict[str, Any] = {
            "worker_id": worker,
            "shift_id": shift_id,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=hours)).isoformat(),
        }
        if queues is not None:
            data["queues"] = queues
        event = self.event(EventType.INBOUND_SHIFT_SCHEDULED, data, subject=worker)
        return event if at is None else event.model_copy(update={"time": at})

    def message(
        self,
        conversation: str,
        message_id: str,
        text: str,
        *,
        tenant: str = TENANT,
        event_id: str = "",
    ) -> DomainEvent:
        self.started.append(workflow_id(tenant, conversation))
        data = {
            "tenant_id": tenant,
            "conversation_id": conversation,
            "message_id": message_id,
            "text": text,
        }
        return self.event(
            EventType.INBOUND_MESSAGE_RECEIVED, data, subject=conversation, event_id=event_id
        )

    async def send(self, *events: DomainEvent) -> list[Sent]:
        sent = []
        for event in events:
            record = to_record(event)
            hr = event.type.keyed_by_worker
            topic = self.settings.hr_topic if hr else self.settings.messages_topic
            sent.append(
                await self.send_raw(topic, record.value, headers=record.headers, key=record.key)
            )
        return sent

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        headers: list[tuple[str, bytes]],
        key: bytes | None = None,
    ) -> Sent:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.kafka, max_request_size=BIG)
        producer = self._producer
        metadata = await asyncio.to_thread(
            lambda: producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)
        )
        return Sent(metadata.topic, metadata.partition, metadata.offset)

    # --- reading back -------------------------------------------------------------------------

    async def view(self, conversation: str, *, messages: int) -> ConversationView:
        """The conversation's view once it has triaged `messages` messages."""
        handle = self.client.get_workflow_handle_for(
            ConversationWorkflow.run, workflow_id(TENANT, conversation)
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(RPCError):
                view = await handle.query(ConversationWorkflow.view)
                if len(view.trajectory) >= messages:
                    return view
            if time.monotonic() > deadline:
                raise AssertionError(f"{conversation} did not triage {messages} message(s)")
            await asyncio.sleep(0.1)

    def dead_letters(self, expect: int) -> list[DeadLetter]:
        return read_dead_letters(self.kafka, self.dead_letter_topic, expect=expect)

    def dead_lettered_as(self, where: dict[tuple[str, int, int], str]) -> list[DeadLetter]:
        """The dead letters, once each record of `where` (topic, partition, offset) is one of
        them, by the bridge, with its reason containing the one `where` gives; no other."""
        letters = self.dead_letters(expect=len(where))
        assert len(letters) == len(where)
        unseen = dict(where)
        for letter in letters:
            h = letter.headers
            coordinates = (h["dlq.topic"].decode(), int(h["dlq.partition"]), int(h["dlq.offset"]))
            assert coordinates in unseen, coordinates
            assert unseen.pop(coordinates) in letter.reason, (coordinates, letter.reason)
            assert h["dlq.consumer"] == b"bridge"
        assert unseen == {}
        return letters

    def committed(self, group: str | None = None) -> dict[tuple[str, int], int]:
        """The group's committed offsets on the inbound topics, by (topic, partition)."""
        admin = KafkaAdminClient(bootstrap_servers=self.kafka)
        try:
            wanted = group or self.settings.group_id
            offsets = admin.list_group_offsets(wanted).get(wanted, {})
        finally:
            admin.close()
        topics = {self.settings.messages_topic, self.settings.hr_topic}
        return {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if isinstance(tp, TopicPartition) and tp.topic in topics
        }

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
        for closing in self._closing:
            closing.close()


async def until(
    condition: Callable[[], bool],
    *,
    what: str,
    within: float = 30.0,
    task: Running | None = None,
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if task is not None and task.task.done():
            task.task.result()
            raise AssertionError(f"the bridge stopped before {what}")
        if time.monotonic() > deadline:
            stats = task.bridge.stats if task else ""
            raise AssertionError(f"not true after {within}s: {what} {stats}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def peer_support() -> WarmlineConfig:
    return load_config(PEER_SUPPORT, resolve_secrets=False)


@pytest.fixture
async def inbound(
    dev_client: Client,
    peer_support: WarmlineConfig,
    kafka_bootstrap: str,
    redis_url: str,
    task_queue: str,
) -> AsyncIterator[Inbound]:
    """warmline's worker on a fresh task queue of the dev server, and a bridge's surroundings."""
    suffix = uuid.uuid4().hex[:8]
    live_view = LiveView.connect(redis_url, prefix=f"test-{suffix}")
    publisher = EventPublisher.connect(
        kafka_bootstrap, topic=f"events-{suffix}", wellness_topic=f"wellness-{suffix}"
    )
    routing = Routing(
        roster=roster_settings(peer_support),
        live_view=live_view,
        renderer=renderer_from_config(peer_support),
        wellness=WellnessStateStore(
            Redis.from_url(redis_url), deployment="peer-support", prefix=f"tw-{suffix}"
        ),
    )
    shifts = ShiftStore(Redis.from_url(redis_url), deployment="peer-support", prefix=f"t-{suffix}")
    topics = [f"inbound-messages-{suffix}", f"inbound-hr-{suffix}", f"deadletters-{suffix}"]
    # Created up front as in production: the bridge subscribes only once its topics exist, and a
    # publish waiting on a topic's creation as the worker stops would hold the loop's close up.
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(t, num_partitions=3, replication_factor=1)
                for t in [*topics, f"events-{suffix}", f"wellness-{suffix}"]
            ]
        )
    finally:
        admin.close()
    inbound = Inbound(
        client=dev_client,
        config=peer_support,
        kafka=kafka_bootstrap,
        redis_url=redis_url,
        settings=replace(
            FAST,
            task_queue=task_queue,
            messages_topic=topics[0],
            hr_topic=topics[1],
            group_id=f"bridge-{suffix}",
        ),
        dead_letter_topic=topics[2],
        shifts=shifts,
    )
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(
                dev_client,
                provider=LexiconProvider(),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                routing=routing,
            ):
                yield inbound
                for workflow in {*inbound.started, inbound.roster_id}:
                    with contextlib.suppress(RPCError):
                        await dev_client.get_workflow_handle(workflow).terminate()
    finally:
        inbound.close()
        shifts.close()
        publisher.close()
        live_view.close()
        if routing.wellness is not None:
            routing.wellness.close()
