"""What a specialist does while the conversation is about to continue as new is not lost.

Once a run has handled `max_messages_before_continue_as_new` messages, the conversation waits for
its running update handlers and then continues as new. A specialist's `complete` (or `transfer`)
taken while the customer's last message of the run was triaged runs in that wait. The
peer-support deployment on the time-skipping server, with real Kafka and Redis; the message's
triage is held (the lexicon provider waits) so the specialist's request lands while it runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene
from tests.workflows.test_replay import patch_markers
from warmline.conversation import (
    CloseRequest,
    CompleteRequest,
    CustomerMessage,
    TransferRequest,
)
from warmline.events import EventType
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.types import TriageRequest, TriageResult
from workflows.conversation import ConversationWorkflow

LAST_OF_THE_RUN = CustomerMessage(message_id="m2", text="Thank you, that helps a little")
"""The run's second message: with `max_messages_before_continue_as_new` 2, its run's last."""
KEPT = "a-close-or-transfer-meanwhile-stops-the-continue-as-new"


@dataclass
class HeldTriage:
    """The lexicon provider, holding the triage of one message until it is released."""

    message_id: str
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.held.wait, 30), "the message was never triaged"


@pytest.fixture
def held_triage(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldTriage]:
    hold = HeldTriage(LAST_OF_THE_RUN.message_id)
    triage = LexiconProvider.triage

    def holding(provider: LexiconProvider, request: TriageRequest) -> TriageResult:
        if request.message_id == hold.message_id:
            hold.held.set()
            hold.released.wait(30)
        return triage(provider, request)

    monkeypatch.setattr(LexiconProvider, "triage", holding)
    yield hold
    hold.released.set()


async def handed_off_near_the_end_of_a_run(
    env: WorkflowEnvironment, routed: RoutedDeployment
) -> tuple[Scene, str]:
    """A grief handed off in a run of two messages (triaged by a regular activity, which the
    held provider can hold while updates arrive); returns the scene and the specialist."""
    routed.policy = routed.policy.model_copy(
        update={"max_messages_before_continue_as_new": 2, "triage_as_local_activity": False}
    )
    scene = await Scene(env, routed).start()
    offer = await scene.handed_off(GRIEF, message_id="m1")
    return scene, offer.specialist_id


async def test_a_completion_as_the_run_ends_closes_the_conversation(
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
    held_triage: HeldTriage,
) -> None:
    """The specialist completes while the customer's thanks is triaged. The conversation went on
    in a new run instead of closing: the carry has no close reason, so it stayed open a day,
    until the inactivity timeout closed it with reason `inactivity`."""
    scene, specialist = await handed_off_near_the_end_of_a_run(workflow_env, routed)
    thanks = await scene.handle.start_update(
        ConversationWorkflow.add_message,
        LAST_OF_THE_RUN,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await held_triage.reached()
    completion = await scene.handle.start_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=specialist, outcome="resolved"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    held_triage.released.set()
    await thanks.result()
    await completion.result()

    outcome = await scene.handle.result()
    assert outcome.closed_reason == "completed"
    assert outcome.handoff_outcome == "resolved"
    assert (await scene.handle.describe()).run_id == scene.handle.first_execution_run_id
    assert KEPT in patch_markers(await scene.handle.fetch_history())
    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    closed = [e for e in events if e.type == EventType.CONVERSATION_CLOSED]
    assert [e.data["reason"] for e in closed] == ["completed"]


async def test_a_transfer_as_the_run_ends_is_called_off_when_the_customer_leaves(
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
    held_triage: HeldTriage,
) -> None:
    """The specialist transfers while the customer's message is triaged, and the customer then
    leaves. The conversation had continued as new with the transfer's escalation running and no
    handle on it, so the close could not call it off: it went on offering a customer who had
    gone to the next queue's specialists."""
    scene, specialist = await handed_off_near_the_end_of_a_run(workflow_env, routed)
    message = await scene.handle.start_update(
        ConversationWorkflow.add_message,
        LAST_OF_THE_RUN,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await held_triage.reached()
    transfer = await scene.handle.start_update(
        ConversationWorkflow.transfer,
        TransferRequest(specialist_id=specialist, queue="listening-priority", note="needs time"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    held_triage.released.set()
    await message.result()
    await transfer.result()
    [offer] = await scene.open_offers(sequence=2)
    assert offer.queue == "listening-priority"

    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    outcome = await scene.handle.result()
    assert outcome.closed_reason == "customer_left"
    escalation = await scene.escalation(2).describe()
    assert escalation.status != WorkflowExecutionStatus.RUNNING, "still offering the customer"
    assert (await scene.handle.describe()).run_id == scene.handle.first_execution_run_id
    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    withdrawn = [e for e in events if e.type == EventType.OFFER_WITHDRAWN]
    assert [(e.data["offer_id"], e.data["reason"]) for e in withdrawn] == [
        (offer.offer_id, "conversation closed")
    ]
