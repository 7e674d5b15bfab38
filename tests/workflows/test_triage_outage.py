"""A triage provider or an event broker that keeps failing holds a message up; it never fails the
conversation. The provider stands in for an LLM endpoint (a third-party API); Kafka is the real
broker, behind a publisher that refuses its first publishes as during an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog
from tests.workflows.test_conversation import POLICY, start
from warmline.conversation import CloseRequest, CustomerMessage, MessageAccepted
from warmline.events import DomainEvent, EventPublisher, EventType, PublishError
from warmline.triage.errors import ProviderRejectedError, ProviderUnavailableError
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.types import TriageRequest, TriageResult
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.conversation import ConversationWorkflow

CRISIS = "I can't go on, I want to end it all tonight"


class FailingProvider:
    """An LLM provider whose endpoint fails every call the same way."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    @property
    def name(self) -> str:
        return "llm"

    @property
    def model_version(self) -> str:
        return "test-llm"

    def triage(self, request: TriageRequest) -> TriageResult:
        self.calls += 1
        raise self.error


class OutagePublisher(EventPublisher):
    """The real publisher, refusing its first `failures` publishes as it does while Kafka is
    down (`PublishError`)."""

    failures = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise PublishError("Kafka is unreachable (test outage)")
        super().publish(events)


async def answered_while_skipping(
    env: WorkflowEnvironment, call: asyncio.Task[MessageAccepted]
) -> MessageAccepted:
    """Skip time (the activity's retry backoff) until the update is answered."""
    for _ in range(60):
        if call.done():
            return call.result()
        await env.sleep(timedelta(seconds=15))
        await asyncio.sleep(0.05)
    raise AssertionError("the message was never answered")


async def run_one(
    env: WorkflowEnvironment,
    task_queue: str,
    event_log: EventLog,
    provider: FailingProvider | LexiconProvider,
    failures: int,
) -> tuple[list[DomainEvent], WorkflowExecutionStatus]:
    """One crisis message through a worker with `provider` and a publisher that refuses its
    first `failures` publishes; returns the conversation's events and its status."""
    publisher = OutagePublisher.connect(event_log.bootstrap, topic=event_log.topic)
    assert isinstance(publisher, OutagePublisher)
    publisher.failures = failures
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            env.client,
            provider=provider,
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
        ):
            handle, conversation = await start(env, task_queue, POLICY)
            call = asyncio.create_task(
                handle.execute_update(
                    ConversationWorkflow.add_message,
                    CustomerMessage(message_id="m0", text=CRISIS),
                )
            )
            await answered_while_skipping(env, call)
            await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
            await handle.result()
            status = (await handle.describe()).status
    publisher.close()
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)
    assert status is not None
    return events, status


@pytest.mark.parametrize(
    ("error", "tries"),
    [
        (ProviderUnavailableError("HTTP 503 from the LLM endpoint"), 3),
        (ProviderRejectedError("HTTP 401: invalid API key"), 1),
    ],
    ids=["unavailable", "rejected"],
)
async def test_a_provider_that_keeps_failing_hands_the_message_to_the_lexicon(
    workflow_env: WorkflowEnvironment, event_log: EventLog, error: Exception, tries: int
) -> None:
    provider = FailingProvider(error)
    task_queue = f"outage-{uuid.uuid4().hex[:8]}"

    events, status = await run_one(workflow_env, task_queue, event_log, provider, failures=0)

    assert status is WorkflowExecutionStatus.COMPLETED
    assert provider.calls == tries, "a refusal is not retried; an outage is tried three times"
    triaged = next(e for e in events if e.type == EventType.MESSAGE_TRIAGED)
    assert triaged.data["crisis"] is True
    # The event's rationale is built from the reading alone (no customer text): the lexicon's.
    assert triaged.data["rationale"].startswith("lexicon reads ")
    assert triaged.data["model_version"] == LexiconProvider().model_version
    types = [e.type for e in events]
    assert EventType.CRISIS_DETECTED in types
    assert EventType.CONVERSATION_ESCALATED in types


async def test_a_kafka_outage_longer_than_five_attempts_holds_the_message_and_loses_nothing(
    workflow_env: WorkflowEnvironment, event_log: EventLog
) -> None:
    task_queue = f"outage-{uuid.uuid4().hex[:8]}"

    events, status = await run_one(
        workflow_env, task_queue, event_log, LexiconProvider(), failures=7
    )

    assert status is WorkflowExecutionStatus.COMPLETED
    types = [e.type for e in events]
    assert types[:3] == [
        EventType.CONVERSATION_STARTED,
        EventType.MESSAGE_TRIAGED,
        EventType.CRISIS_DETECTED,
    ]
    assert types.count(EventType.MESSAGE_TRIAGED) == 1
    assert len({e.id for e in events}) == len(events)
