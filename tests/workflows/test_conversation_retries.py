"""A client's retries and malformed ids: a repeated customer message or AI reply is answered as the
first and counted once, across a continue-as-new too; a message id too long to keep is refused.

The time-skipping server with the real triage activity and real Kafka, as `test_conversation`.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, lexicon_worker
from tests.workflows.test_conversation import POLICY, start
from tests.workflows.test_triage_outage import OutagePublisher
from warmline.conversation import AIReply, CloseRequest, CustomerMessage, Status
from warmline.triage.types import Role
from workflows.conversation import TURNS_KEPT, ConversationWorkflow

CRISIS = "everyone would be better off without me"
ID_LIMIT = 200
"""`warmline.conversation.ID_LIMIT`, as docs/conversation.md gives it."""


async def test_a_retried_crisis_message_is_answered_with_its_crisis(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """A client whose call timed out sends the message again: the answer must still say crisis
    and escalated, or the desk lets the AI answer a person in crisis."""
    handle, _ = await start(workflow_env, worker)
    message = CustomerMessage(message_id="m0", text=CRISIS)
    # The retry may arrive while the first is being triaged, or after it was answered.
    answers = await asyncio.gather(
        handle.execute_update(ConversationWorkflow.add_message, message),
        handle.execute_update(ConversationWorkflow.add_message, message),
    )
    [first] = [a for a in answers if not a.duplicate]
    [during] = [a for a in answers if a.duplicate]
    after = await handle.execute_update(ConversationWorkflow.add_message, message)
    assert (first.crisis, first.escalated) == (True, True)
    for again in (during, after):
        assert (again.duplicate, again.crisis, again.escalated) == (True, True, True)
        assert again.distress == first.distress
    assert (await handle.query(ConversationWorkflow.view)).message_count == 1


async def test_a_message_id_taken_with_other_text_is_refused_not_dropped(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """A client that reuses an id (a counter restarted) would have its new message silently
    answered as a duplicate and lost."""
    handle, _ = await start(workflow_env, worker)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="hello")
    )
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            ConversationWorkflow.add_message,
            CustomerMessage(message_id="m0", text="my card was stolen"),
        )
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "AlreadyExists"
    assert "'m0' was already received with other text" in str(caught.value.cause)
    await handle.signal(
        ConversationWorkflow.receive_message,
        CustomerMessage(message_id="m0", text="my card was stolen"),
    )
    view = await handle.query(ConversationWorkflow.view)
    assert view.message_count == 1
    assert [r.message_id for r in view.refused] == ["m0"]


async def test_a_retry_while_the_conversation_closes_is_answered_not_refused(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    """A message accepted before the close whose answer the client missed: its retry while the
    conversation closes (here held by a short Kafka outage) is answered as a duplicate, not
    refused as if the message had been lost."""
    publisher = OutagePublisher.connect(event_log.bootstrap, topic=event_log.topic)
    assert isinstance(publisher, OutagePublisher)
    async with lexicon_worker(workflow_env, publisher, task_queue):
        handle, _ = await start(workflow_env, task_queue)
        message = CustomerMessage(message_id="m0", text="Where is my parcel?")
        first = await handle.execute_update(ConversationWorkflow.add_message, message)
        publisher.failures = 2  # the close's publish waits about 3 s
        await handle.signal(ConversationWorkflow.close, CloseRequest())
        again = await handle.execute_update(ConversationWorkflow.add_message, message)
        assert (again.duplicate, again.distress) == (True, first.distress)
        assert (await handle.result()).message_count == 1
    publisher.close()


async def test_a_retried_ai_reply_is_recorded_once(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="Where is it?")
    )
    reply = AIReply(message_id="ai0", text="It left our depot this morning.")
    await handle.execute_update(ConversationWorkflow.record_reply, reply)
    await handle.execute_update(ConversationWorkflow.record_reply, reply)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id="ai0", text="Other text")
        )
    assert "'ai0' was already recorded with other text" in str(caught.value.cause)
    view = await handle.query(ConversationWorkflow.view)
    assert [(t.role, t.message_id) for t in view.turns] == [(Role.CUSTOMER, "m0"), (Role.AI, "ai0")]


async def test_an_ai_reply_retried_once_the_conversation_escalated_gets_the_first_answer(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """The assistant's reply was recorded, its answer lost, and the customer's next message
    escalated the conversation before the retry: the retry was refused ("the AI no longer
    replies"), as if the reply had never been recorded. A new reply is refused."""
    handle, _ = await start(workflow_env, worker)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="Hello")
    )
    reply = AIReply(message_id="ai0", text="Hello! How can I help?")
    await handle.execute_update(ConversationWorkflow.record_reply, reply)
    answer = await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m1", text="My wife passed away last week"),
    )
    assert answer.escalated
    await handle.execute_update(ConversationWorkflow.record_reply, reply)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id="ai1", text="I'm sorry.")
        )
    assert "the AI no longer replies" in str(caught.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as other:
        await handle.execute_update(
            ConversationWorkflow.record_reply, reply.model_copy(update={"text": "Hi"})
        )
    assert "the AI no longer replies" in str(other.value.cause)
    view = await handle.query(ConversationWorkflow.view)
    assert [(t.role, t.message_id) for t in view.turns] == [
        (Role.CUSTOMER, "m0"),
        (Role.AI, "ai0"),
        (Role.CUSTOMER, "m1"),
    ]


async def test_a_message_id_too_long_to_keep_is_refused(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    handle, _ = await start(workflow_env, worker)
    long_id = "x" * 100_000
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            ConversationWorkflow.add_message, CustomerMessage(message_id=long_id, text="hello")
        )
    assert f"message_id has 100000 characters; the limit is {ID_LIMIT}" in str(caught.value.cause)
    await handle.signal(
        ConversationWorkflow.receive_message, CustomerMessage(message_id=long_id, text="hello")
    )
    with pytest.raises(WorkflowUpdateFailedError) as reply:
        await handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id=long_id, text="Hi!")
        )
    assert "the limit is" in str(reply.value.cause)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text="hello")
    )
    view = await handle.query(ConversationWorkflow.view)
    assert view.message_count == 1
    assert [(len(r.message_id), r.reason.split(";")[0]) for r in view.refused] == [
        (ID_LIMIT, "message_id has 100000 characters")
    ]


async def test_a_retry_of_a_message_older_than_the_kept_transcript_survives_continue_as_new(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """The dedupe outlives a continue-as-new even when AI replies pushed the message out of the
    transcript carried over: a redelivered old message is neither triaged nor counted again."""
    policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 2})
    handle, _ = await start(workflow_env, worker, policy)
    first = CustomerMessage(message_id="m0", text="Where is my parcel?")
    await handle.execute_update(ConversationWorkflow.add_message, first)
    await asyncio.gather(
        *(
            handle.execute_update(
                ConversationWorkflow.record_reply, AIReply(message_id=f"ai{n}", text="Still here.")
            )
            for n in range(TURNS_KEPT)
        )
    )
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text="Thanks")
    )
    latest = workflow_env.client.get_workflow_handle_for(ConversationWorkflow.run, handle.id)
    again = await latest.execute_update(ConversationWorkflow.add_message, first)
    assert again.duplicate
    view = await latest.query(ConversationWorkflow.view)
    assert view.status == Status.OPEN
    assert view.message_count == 2
    assert (await latest.describe()).run_id != handle.result_run_id
