"""ConversationWorkflow on the time-skipping server with the real triage and real Kafka events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events import EventActivities
from activities.handoff import HandoffActivities
from activities.triage import TriageActivities
from tests.workflows.conftest import PEER_SUPPORT, EventLog
from warmline.config.loader import load_config
from warmline.conversation import (
    MAX_MESSAGE_CHARS,
    RECEIVE_MESSAGE_SIGNAL,
    AIReply,
    CloseRequest,
    CompleteRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    EscalationPolicy,
    RuleSpec,
    SatisfactionRating,
    Status,
    workflow_id,
)
from warmline.escalation import Assignment
from warmline.events import EventPublisher, EventType
from warmline.handoff import HandoffRenderer, RequestProfileSource, renderer_from_config
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.types import RiskFlag, Role
from workflows.conversation import ConversationWorkflow

POLICY = EscalationPolicy(
    rules=[
        RuleSpec(
            name="sustained-distress",
            when="distress >= 0.6 for 2 messages",
            queue="care",
            priority=80,
            reason="Distress stayed high for two messages.",
        ),
        RuleSpec(
            name="bereavement",
            when='emotion("grief") > 0.5',
            queue="bereavement",
            priority=70,
            reason="The customer mentions a bereavement.",
        ),
    ],
    crisis_queue="crisis",
    inactivity_timeout=timedelta(minutes=30),
)
TRANSCRIPT_BUDGET = 300_000
"""The workflow's budget for the transcript it keeps and carries (`TRANSCRIPT_CHARS_KEPT`)."""


async def start(
    env: WorkflowEnvironment, task_queue: str, policy: EscalationPolicy = POLICY
) -> tuple[WorkflowHandle[ConversationWorkflow, ConversationOutcome], str]:
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id="acme", conversation_id=conversation, policy=policy),
        id=workflow_id("acme", conversation),
        task_queue=task_queue,
    )
    return handle, conversation


async def say(
    handle: WorkflowHandle[ConversationWorkflow, ConversationOutcome], *texts: str
) -> None:
    for n, text in enumerate(texts):
        await handle.execute_update(
            ConversationWorkflow.add_message, CustomerMessage(message_id=f"m{n}", text=text)
        )


@pytest.mark.parametrize("triage_locally", [False, True], ids=["triage-activity", "local"])
async def test_routine_conversation_is_triaged_and_closes_without_escalation(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog, triage_locally: bool
) -> None:
    policy = POLICY.model_copy(update={"triage_as_local_activity": triage_locally})
    handle, conversation = await start(workflow_env, worker, policy)
    await say(handle, "Hi, where is my parcel?", "Thanks, that is helpful")
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
    outcome = await handle.result()

    history = await handle.fetch_history()
    scheduled = [
        e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    ]
    local_runs = [
        e
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # The close's publish always runs locally; the two triages do as well when the policy asks.
    assert len(scheduled) == (0 if triage_locally else 2)
    assert len(local_runs) == (3 if triage_locally else 1)

    assert outcome.message_count == 2
    assert outcome.escalation is None
    assert outcome.closed_reason == "resolved"
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)
    assert [e.type for e in events] == [
        EventType.CONVERSATION_STARTED,
        EventType.MESSAGE_TRIAGED,
        EventType.MESSAGE_TRIAGED,
        EventType.CONVERSATION_CLOSED,
    ]
    assert events[1].data["message_id"] == "m0"
    assert events[2].data["emotions"][0]["label"] == "gratitude"
    assert len({e.id for e in events}) == 4


async def test_a_conversation_started_again_after_it_closed_sends_new_event_ids(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog
) -> None:
    """A customer who writes again after their conversation closed starts it again under the same
    workflow id; connectors drop an event id they have seen, so no id may repeat."""
    first, conversation = await start(workflow_env, worker)
    await say(first, "Hi, where is my parcel?")
    await first.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
    await first.result()
    again = await workflow_env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id="acme", conversation_id=conversation, policy=POLICY),
        id=workflow_id("acme", conversation),
        task_queue=worker,
    )
    await say(again, "Hi, where is my parcel?")
    await again.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
    await again.result()

    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED, count=2)
    assert [e.type for e in events].count(EventType.CONVERSATION_STARTED) == 2
    assert len({e.id for e in events}) == len(events) == 6


async def test_grief_escalates_by_rule_with_the_trajectory_kept(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog
) -> None:
    handle, conversation = await start(workflow_env, worker)
    await say(handle, "I need to close an account", "My husband passed away on Sunday")
    view = await handle.query(ConversationWorkflow.view)
    assert view.status == Status.ESCALATED
    assert view.escalation is not None
    assert view.escalation.rule == "bereavement"
    assert view.escalation.queue == "bereavement"
    assert [p.message_id for p in view.trajectory] == ["m0", "m1"]
    assert view.trajectory[1].distress > view.trajectory[0].distress

    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_ESCALATED)
    escalated = next(e for e in events if e.type == EventType.CONVERSATION_ESCALATED)
    assert escalated.data["queue"] == "bereavement"
    assert escalated.data["priority"] == 70
    assert escalated.data["reason"] == "The customer mentions a bereavement."


async def test_sustained_distress_needs_two_messages(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    await say(handle, "I am so scared and panicking, my card was stolen")
    assert (await handle.query(ConversationWorkflow.view)).escalation is None
    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m1", text="I'm terrified, they are emptying my account"),
    )
    escalation = (await handle.query(ConversationWorkflow.view)).escalation
    assert escalation is not None
    assert escalation.rule == "sustained-distress"


async def test_crisis_jumps_to_the_crisis_lane(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog
) -> None:
    handle, conversation = await start(workflow_env, worker)
    await say(handle, "everyone would be better off without me")
    escalation = (await handle.query(ConversationWorkflow.view)).escalation
    assert escalation is not None
    assert escalation.crisis
    assert escalation.queue == "crisis"
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_ESCALATED)
    crisis = next(e for e in events if e.type == EventType.CRISIS_DETECTED)
    assert crisis.data["risk_flags"] == ["suicidal_ideation"]


async def test_only_the_configured_crisis_flags_send_a_conversation_to_the_crisis_lane(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog
) -> None:
    """`triage.crisis.flags` without `abuse`: the flag is still raised and shown, and the
    conversation is not sent to the crisis lane for it; with every flag (the default) it is."""
    threat = "My husband is going to kill me when he sees the bill"
    narrow = POLICY.model_copy(update={"crisis_flags": [RiskFlag.SUICIDAL_IDEATION]})
    handle, conversation = await start(workflow_env, worker, narrow)
    await say(handle, threat)
    assert (await handle.query(ConversationWorkflow.view)).escalation is None
    events = await event_log.wait_for(conversation, until=EventType.MESSAGE_TRIAGED)
    triaged = next(e for e in events if e.type == EventType.MESSAGE_TRIAGED)
    assert (triaged.data["risk_flags"], triaged.data["crisis"]) == (["abuse"], False)
    assert EventType.CRISIS_DETECTED not in {e.type for e in events}

    handle, _ = await start(workflow_env, worker)
    await say(handle, threat)
    escalation = (await handle.query(ConversationWorkflow.view)).escalation
    assert escalation is not None
    assert (escalation.crisis, escalation.queue) == (True, "crisis")


async def test_inactivity_closes_the_conversation(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    await say(handle, "hello?")
    before = await workflow_env.get_current_time()
    outcome = await handle.result()
    assert outcome.closed_reason == "inactivity"
    assert await workflow_env.get_current_time() - before >= timedelta(minutes=30)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "message is empty"),
        ("   \n\t ", "message is empty"),
        ("x" * (MAX_MESSAGE_CHARS + 1), f"the limit is {MAX_MESSAGE_CHARS}"),
        ("x" * 1_048_576, "characters; the limit is"),
    ],
)
async def test_bad_messages_are_refused_and_the_conversation_goes_on(
    workflow_env: WorkflowEnvironment, worker: str, text: str, error: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            ConversationWorkflow.add_message, CustomerMessage(message_id="bad", text=text)
        )
    assert error in str(caught.value.cause)
    await say(handle, "sorry, my order is late")
    view = await handle.query(ConversationWorkflow.view)
    assert view.message_count == 1
    assert view.status == Status.OPEN


async def test_a_repeated_message_id_is_not_triaged_twice(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    first = await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="hello")
    )
    again = await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="hello")
    )
    assert not first.duplicate
    assert again.duplicate
    assert (await handle.query(ConversationWorkflow.view)).message_count == 1


async def test_signal_with_start_creates_the_conversation_and_triages_a_message_once(
    workflow_env: WorkflowEnvironment, worker: str, event_log: EventLog
) -> None:
    """What the inbound bridge does: signal-with-start, and at least once (so maybe twice)."""
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    first = CustomerMessage(message_id="m0", text="Where is my parcel?")

    async def deliver(message: CustomerMessage) -> WorkflowHandle[Any, Any]:
        return await workflow_env.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id="acme", conversation_id=conversation, policy=POLICY),
            id=workflow_id("acme", conversation),
            task_queue=worker,
            start_signal=RECEIVE_MESSAGE_SIGNAL,
            start_signal_args=[message],
        )

    started = await deliver(first)
    again = await deliver(first)
    assert again.result_run_id == started.result_run_id, "the second delivery started a new run"
    handle = workflow_env.client.get_workflow_handle_for(
        ConversationWorkflow.run, workflow_id("acme", conversation)
    )
    # m1 is sent once m0 is triaged: an update that reaches a workflow still in its first task
    # may be handled before the signals that started it.
    await event_log.wait_for(conversation, until=EventType.MESSAGE_TRIAGED)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text="Thanks!")
    )
    view = await handle.query(ConversationWorkflow.view)
    assert [p.message_id for p in view.trajectory] == ["m0", "m1"]
    await handle.signal(ConversationWorkflow.close, CloseRequest())
    assert (await handle.result()).message_count == 2
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)
    triaged = [e.data["message_id"] for e in events if e.type == EventType.MESSAGE_TRIAGED]
    assert triaged == ["m0", "m1"]
    assert [e.type for e in events].count(EventType.CONVERSATION_STARTED) == 1


async def test_a_signalled_message_that_an_update_would_refuse_is_dropped_and_shown(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    for message_id, text in [("empty", "  "), ("long", "x" * (MAX_MESSAGE_CHARS + 1))]:
        await handle.signal(
            ConversationWorkflow.receive_message, CustomerMessage(message_id=message_id, text=text)
        )
        await handle.signal(
            ConversationWorkflow.receive_message, CustomerMessage(message_id=message_id, text=text)
        )
    await say(handle, "sorry, my order is late")
    view = await handle.query(ConversationWorkflow.view)
    assert view.message_count == 1
    assert [(r.message_id, r.reason.split(";")[0]) for r in view.refused] == [
        ("empty", "message is empty"),
        ("long", f"message has {MAX_MESSAGE_CHARS + 1} characters"),
    ]


async def test_long_conversations_continue_as_new_and_keep_their_state(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 3})
    handle, _ = await start(workflow_env, worker, policy)
    await say(handle, "one", "two", "three", "four", "My father died and I am devastated")
    await handle.signal(ConversationWorkflow.close, CloseRequest())
    outcome = await handle.result()
    assert outcome.message_count == 5
    assert outcome.escalation is not None
    assert outcome.escalation.message_id == "m4"
    latest = await workflow_env.client.get_workflow_handle(handle.id).describe()
    assert handle.result_run_id is not None
    assert latest.run_id != handle.result_run_id, "the conversation did not continue as new"


async def test_a_long_wordy_conversation_carries_its_newest_turns_within_the_budget(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """Turns of up to `MAX_MESSAGE_CHARS` each would carry megabytes into the next run, over
    Temporal's payload limit: the carry keeps the newest turns that fit the character budget."""
    policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 2})
    handle, _ = await start(workflow_env, worker, policy)
    await say(handle, "Where is my parcel?")
    replies = TRANSCRIPT_BUDGET // MAX_MESSAGE_CHARS + 5
    for n in range(replies):
        await handle.execute_update(
            ConversationWorkflow.record_reply,
            AIReply(message_id=f"ai{n}", text=f"{n} " + "x" * (MAX_MESSAGE_CHARS - 10)),
        )
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text="thanks")
    )
    # The first run's last event is its continue-as-new, with the carry as the next run's input.
    first = workflow_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    for _ in range(100):
        last = (await first.fetch_history()).events[-1]
        if last.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break
        await asyncio.sleep(0.05)
    continued = last.workflow_execution_continued_as_new_event_attributes
    [carried] = await pydantic_data_converter.decode(
        list(continued.input.payloads), [ConversationInput]
    )
    assert carried.carry is not None
    turns = carried.carry.turns
    assert sum(len(t.text) for t in turns) <= TRANSCRIPT_BUDGET
    assert [t.message_id for t in turns[-2:]] == [f"ai{replies - 1}", "m1"]
    assert len(turns) == TRANSCRIPT_BUDGET // MAX_MESSAGE_CHARS + 1
    assert carried.carry.seen is not None
    assert {"m0", "m1"} <= set(carried.carry.seen)
    latest = workflow_env.client.get_workflow_handle_for(ConversationWorkflow.run, handle.id)
    await latest.signal(ConversationWorkflow.close, CloseRequest())
    assert (await latest.result()).message_count == 2


async def test_ai_replies_are_recorded_until_a_person_owns_the_conversation(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    await say(handle, "Where is my parcel?")
    await handle.execute_update(
        ConversationWorkflow.record_reply,
        AIReply(message_id="ai0", text="It left our depot this morning.", model="assistant-v2"),
    )
    with pytest.raises(WorkflowUpdateFailedError) as empty:
        await handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id="ai1", text="  ")
        )
    assert "reply is empty" in str(empty.value.cause)

    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m1", text="Sorry, my dad passed away and it was his gift"),
    )
    view = await handle.query(ConversationWorkflow.view)
    assert [(t.role, t.message_id) for t in view.turns] == [
        (Role.CUSTOMER, "m0"),
        (Role.AI, "ai0"),
        (Role.CUSTOMER, "m1"),
    ]
    assert view.status == Status.ESCALATED
    with pytest.raises(WorkflowUpdateFailedError) as owned:
        await handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id="ai2", text="I'm sorry to hear")
        )
    assert "a person owns it and the AI no longer replies" in str(owned.value.cause)


@asynccontextmanager
async def handoff_worker(
    env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> AsyncIterator[None]:
    """A conversation worker that renders handoffs, without routing: a test assigns the
    specialist itself. It caches no workflow, so another can take over once it stops."""
    publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    renderer = renderer_from_config(load_config(PEER_SUPPORT, resolve_secrets=False))
    async with uncached_handoff_worker(env.client, publisher, renderer, task_queue):
        yield
    publisher.close()


@asynccontextmanager
async def uncached_handoff_worker(
    client: Client, publisher: EventPublisher, renderer: HandoffRenderer, task_queue: str
) -> AsyncIterator[None]:
    """Conversation workflows with triage, publishing and the handoff's render, on a worker that
    caches no run: every task replays the history first."""
    triage = TriageActivities(LexiconProvider(), publisher)
    handoff = HandoffActivities(renderer, RequestProfileSource())
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[ConversationWorkflow],
            activities=[
                triage.triage_message,
                triage.triage_and_publish,
                EventActivities(publisher).publish_events,
                handoff.render_handoff,
            ],
            activity_executor=executor,
            max_cached_workflows=0,
        ):
            yield


async def test_a_rating_that_arrives_with_the_close_is_refused_and_not_recorded(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    """The customer rates just as the conversation closes (both reach the workflow in one task,
    the close first): the rating is refused, and nothing is recorded after `conversation.closed`,
    whose satisfaction is None."""
    policy = POLICY.model_copy(update={"satisfaction_survey": True})
    async with handoff_worker(workflow_env, event_log, task_queue):
        handle, conversation = await start(workflow_env, task_queue, policy)
        await say(handle, "My father died and I am devastated")
        await handle.signal(
            ConversationWorkflow.assigned,
            Assignment(
                specialist_id="vol-aoife",
                queue="bereavement",
                offer_id="offer-1",
                sequence=1,
                accepted_at=await workflow_env.get_current_time(),
                waited=timedelta(0),
            ),
        )
        for _ in range(100):
            if (await handle.query(ConversationWorkflow.view)).handoff is not None:
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            ConversationWorkflow.complete,
            CompleteRequest(specialist_id="vol-aoife", outcome="resolved"),
        )
        assert (await handle.query(ConversationWorkflow.view)).status == Status.SURVEY
    # No worker: the close and the rating wait in the server for the next one.
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
    rating = asyncio.create_task(
        handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=5))
    )
    await asyncio.sleep(0.5)
    async with handoff_worker(workflow_env, event_log, task_queue):
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await rating
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message) == (
            "FailedPrecondition",
            "the survey is over: the conversation has ended (resolved)",
        )
        outcome = await handle.result()
    assert (outcome.closed_reason, outcome.satisfaction) == ("resolved", None)
    events = await event_log.wait_for(conversation, until=EventType.CONVERSATION_CLOSED)
    types = [e.type for e in events]
    assert EventType.SATISFACTION_RECORDED not in types
    assert types[-1] == EventType.CONVERSATION_CLOSED
    assert events[-1].data["satisfaction"] is None
