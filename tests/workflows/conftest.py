"""A worker with the real activities (lexicon triage, Kafka publisher), time-skipping server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from tests.events.contract import in_catalog
from warmline.config.loader import load_config
from warmline.conversation import EscalationPolicy, workflow_id
from warmline.escalation import Escalation, EscalationInput, RoutingPolicy
from warmline.events import DomainEvent, EventPublisher, from_record
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.runtime import escalation_policy, roster_settings
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker


class EventLog:
    """Reads back what the workflows published to their Kafka topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._consumer: KafkaConsumer | None = None
        self.events: list[DomainEvent] = []

    def read(
        self, subject: str, *, until: str, timeout_s: float = 20.0, count: int = 1
    ) -> list[DomainEvent]:
        """Events about `subject`, read until `count` of type `until` have arrived."""
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                self.topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
            )
        polls = int(timeout_s * 2)
        for _ in range(polls):
            mine = [e for e in self.events if e.subject == subject]
            if sum(e.type == until for e in mine) >= count:
                return mine
            for records in self._consumer.poll(timeout_ms=500).values():
                for record in records:
                    event = from_record(record.key, list(record.headers), record.value)
                    in_catalog(event)
                    self.events.append(event)
        raise AssertionError(f"no {until} event for {subject} within {timeout_s}s")

    async def wait_for(
        self, subject: str, *, until: str, timeout_s: float = 20.0, count: int = 1
    ) -> list[DomainEvent]:
        """`read` in a thread, for tests whose worker runs on their own event loop: a blocking
        read there starves the worker that is about to publish the awaited event."""
        return await asyncio.to_thread(
            self.read, subject, until=until, timeout_s=timeout_s, count=count
        )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


@pytest.fixture
def event_log(kafka_bootstrap: str) -> Iterator[EventLog]:
    log = EventLog(kafka_bootstrap, f"events-{uuid.uuid4().hex[:8]}")
    yield log
    log.close()


@contextlib.asynccontextmanager
async def lexicon_worker(
    workflow_env: WorkflowEnvironment, publisher: EventPublisher, task_queue: str
) -> AsyncIterator[None]:
    """The warmline worker with the lexicon provider, publishing through `publisher`."""
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            workflow_env.client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
        ):
            yield


@pytest.fixture
async def worker(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> AsyncIterator[str]:
    """Runs the warmline worker on a fresh task queue; yields the task queue."""
    publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    async with lexicon_worker(workflow_env, publisher, task_queue):
        yield task_queue
    publisher.close()


PEER_SUPPORT = Path(__file__).resolve().parents[2] / "examples" / "peer-support" / "warmline.yaml"


@dataclass
class RoutedDeployment:
    """A worker with routing (roster, live view, handoff) for the peer-support example."""

    task_queue: str
    policy: EscalationPolicy
    live_view: LiveView
    wellness: WellnessStateStore
    """The workers' wellness view the roster reads (empty, so everyone is fresh, unless a test
    writes someone's state)."""
    started: list[str] = field(default_factory=list)
    """Workflow ids whose histories are checked after the test for a loop of 1 ms timers."""


@pytest.fixture
async def routed(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str, redis_url: str
) -> AsyncIterator[RoutedDeployment]:
    """The peer-support deployment on a fresh task queue, roster and live-view prefix."""
    config = load_config(PEER_SUPPORT, resolve_secrets=False)
    policy = escalation_policy(config)
    assert policy.routing is not None
    roster_id = f"roster/test-{uuid.uuid4().hex[:8]}"
    policy = policy.model_copy(
        update={"routing": policy.routing.model_copy(update={"roster_id": roster_id})}
    )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    live_view = LiveView.connect(redis_url, prefix=prefix)
    wellness = WellnessStateStore.connect(redis_url, deployment="test", prefix=f"{prefix}-wellness")
    publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    routing = Routing(
        roster=roster_settings(config),
        live_view=live_view,
        renderer=renderer_from_config(config),
        wellness=wellness,
    )
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            workflow_env.client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
            routing=routing,
        ):
            await ensure_roster(
                workflow_env.client, roster_id, routing.roster, task_queue=task_queue
            )
            deployment = RoutedDeployment(
                task_queue=task_queue, policy=policy, live_view=live_view, wellness=wellness
            )
            yield deployment
            polling: dict[str, int] = {}
            for workflow_id in [*deployment.started, roster_id]:
                handle = workflow_env.client.get_workflow_handle(workflow_id)
                with contextlib.suppress(RPCError):
                    if (count := instant_timers(await handle.fetch_history())) > INSTANT_TIMERS:
                        polling[workflow_id] = count
            assert not polling, f"a wake-up moment already past, timers of 1 ms: {polling}"
    publisher.close()
    live_view.close()
    wellness.close()


INSTANT_TIMERS = 2
"""How many 1 ms timers a workflow of a test may start. One is a wake-up moment that passed while
an activity ran (an offer's deadline); a run of them is a loop waking on a moment already past,
which asks the roster on every turn (as an escalation did while a supervisor's offer was open)."""


def instant_timers(history: WorkflowHistory) -> int:
    """The timers of `history` that were started to fire at once (1 ms or less)."""
    return sum(
        1
        for e in history.events
        if e.HasField("timer_started_event_attributes")
        and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        <= timedelta(milliseconds=1)
    )


def lone_grief_escalation(routing: RoutingPolicy, conversation: str) -> EscalationInput:
    """A `listening` escalation started on its own, for a conversation that does not exist: its
    accept finds the conversation gone, as when the customer leaves in that moment."""
    return EscalationInput(
        tenant_id="open-door",
        conversation_id=conversation,
        sequence=1,
        escalation=Escalation(
            queue="listening",
            reason="The person is talking about a loss.",
            priority=60,
            rule="grief",
            crisis=False,
            message_id="m1",
        ),
        routing=routing,
        country="GB",
        conversation_workflow_id=workflow_id("open-door", conversation),
    )
