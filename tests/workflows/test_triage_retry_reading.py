"""A retried `triage_and_publish` publishes and returns the reading it published first.

Kafka writes the message's events and the acknowledgement is lost (`PublishError` after the
write), so the activity is retried; the provider (an LLM's stand-in) reads each call differently.
Consumers drop the retry's events as duplicates, so if the retry read the message again, the CRM
would keep one reading (here a crisis) and the workflow act on another. The time-skipping server,
the real triage activity and the real publisher on real Kafka.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog
from tests.workflows.test_conversation import POLICY, start
from tests.workflows.test_triage_outage import answered_while_skipping
from warmline.conversation import (
    CloseRequest,
    ConversationInput,
    CustomerMessage,
    MessageAccepted,
    workflow_id,
)
from warmline.events import DomainEvent, EventPublisher, EventType, PublishError
from warmline.triage.types import EmotionScore, RiskFlag, TriageRequest, TriageResult
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.conversation import ConversationWorkflow

MESSAGE = "Where is my parcel? It was due on Monday."
"""Nothing the crisis screen flags: whether it is a crisis is the provider's reading alone."""


class ChangingProvider:
    """An LLM provider that reads the same message differently on each call: the first call
    (of a provider built with `crisis_first`) reads a crisis, every other call a calm question."""

    def __init__(self, *, crisis_first: bool) -> None:
        self.crisis_first = crisis_first
        self.calls = 0

    @property
    def name(self) -> str:
        return "llm"

    @property
    def model_version(self) -> str:
        return "llm:changing"

    def triage(self, request: TriageRequest) -> TriageResult:
        self.calls += 1
        if self.crisis_first and self.calls == 1:
            return TriageResult(
                emotions=[EmotionScore(label="fear", score=0.9)],
                distress=0.95,
                risk_flags=[RiskFlag.SUICIDAL_IDEATION],
                crisis=True,
                confidence=0.7,
                rationale="Read as despair.",
                model_version=self.model_version,
                provider=self.name,
            )
        return TriageResult(
            emotions=[EmotionScore(label="curiosity", score=0.6)],
            distress=round(0.1 + 0.01 * self.calls, 2),
            confidence=0.8,
            rationale=f"A delivery question (reading {self.calls}).",
            model_version=self.model_version,
            provider=self.name,
        )


class LostAcknowledgementPublisher(EventPublisher):
    """The real publisher; its first publish writes the events to Kafka and then fails as when
    the broker's acknowledgement is lost. With `hold` set, that failure waits for `release`."""

    lost = 1
    hold = False
    written: threading.Event
    release: threading.Event

    def publish(self, events: Sequence[DomainEvent]) -> None:
        super().publish(events)
        if self.lost > 0:
            self.lost -= 1
            self.written.set()
            if self.hold:
                self.release.wait(timeout=60)
            raise PublishError("Kafka wrote the events; the acknowledgement was lost (test)")


def lost_acknowledgement_publisher(event_log: EventLog) -> LostAcknowledgementPublisher:
    publisher = LostAcknowledgementPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    assert isinstance(publisher, LostAcknowledgementPublisher)
    publisher.written = threading.Event()
    publisher.release = threading.Event()
    return publisher


def assert_published_as_answered(events: list[DomainEvent], answer: MessageAccepted) -> None:
    """The CRM's reading (the first `message.triaged`, as a consumer deduping by id keeps it) is
    the one the workflow acted on: the same distress, the same crisis, escalated for a crisis."""
    triaged = [e for e in events if e.type == EventType.MESSAGE_TRIAGED]
    assert len({e.id for e in triaged}) == 1
    kept = triaged[0].data
    assert (answer.distress, answer.crisis) == (kept["distress"], kept["crisis"])
    assert all(e.data == kept for e in triaged), "a retry re-sent the event with other data"
    types = [e.type for e in events]
    assert answer.crisis is (EventType.CRISIS_DETECTED in types)
    assert answer.escalated is (EventType.CONVERSATION_ESCALATED in types)


@pytest.mark.parametrize("triage_locally", [False, True], ids=["triage-activity", "local"])
async def test_a_retry_after_a_lost_acknowledgement_keeps_the_published_reading(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str, triage_locally: bool
) -> None:
    provider = ChangingProvider(crisis_first=True)
    publisher = lost_acknowledgement_publisher(event_log)
    policy = POLICY.model_copy(update={"triage_as_local_activity": triage_locally})
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            workflow_env.client,
            provider=provider,
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
        ):
            handle, conversation = await start(workflow_env, task_queue, policy)
            call = asyncio.create_task(
                handle.execute_update(
                    ConversationWorkflow.add_message,
                    CustomerMessage(message_id="m0", text=MESSAGE),
                )
            )
            answer = await answered_while_skipping(workflow_env, call)
            await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
            await handle.result()
    publisher.close()
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)

    assert publisher.lost == 0, "the first publish did fail after writing"
    assert_published_as_answered(events, answer)
    assert (answer.crisis, answer.escalated) == (True, True)
    assert provider.calls == 1, "the retry read the message again"


async def test_a_retry_on_another_worker_keeps_the_published_reading(
    dev_client: Client, event_log: EventLog, task_queue: str
) -> None:
    """The first worker stops after its publish was written and failed; the retry runs on a
    worker that never saw the message (another process, as after a deploy) and takes the reading
    from the first attempt's heartbeat details.

    The dev server: the time-skipping one never moves a workflow task off a stopped worker's
    sticky queue."""
    first_provider = ChangingProvider(crisis_first=True)
    second_provider = ChangingProvider(crisis_first=False)
    first_publisher = lost_acknowledgement_publisher(event_log)
    first_publisher.hold = True
    second_publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        first = build_worker(
            dev_client,
            provider=first_provider,
            publisher=first_publisher,
            task_queue=task_queue,
            executor=executor,
        )
        running = asyncio.create_task(first.run())
        handle = await dev_client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id="acme", conversation_id=conversation, policy=POLICY),
            id=workflow_id("acme", conversation),
            task_queue=task_queue,
        )
        call = asyncio.create_task(
            handle.execute_update(
                ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text=MESSAGE)
            )
        )
        assert await asyncio.to_thread(first_publisher.written.wait, 60)
        # The first worker stops polling before its attempt fails, so the retry cannot go to it.
        stopping = asyncio.create_task(first.shutdown())
        await asyncio.sleep(1.0)
        first_publisher.release.set()
        await stopping
        await running
        async with build_worker(
            dev_client,
            provider=second_provider,
            publisher=second_publisher,
            task_queue=task_queue,
            executor=executor,
        ):
            answer = await asyncio.wait_for(call, timeout=120)
            await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
            await handle.result()
    first_publisher.close()
    second_publisher.close()
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)

    assert_published_as_answered(events, answer)
    assert (answer.crisis, answer.escalated) == (True, True)
    assert first_provider.calls == 1
    assert second_provider.calls == 0, "the retry on the other worker read the message again"
