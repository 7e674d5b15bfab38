"""A specialist's `complete`, `hand_back` or `transfer` sent again after it went through (the
client's retry after a lost answer) gets the first answer and does nothing twice; another
specialist's, or the same specialist's other request, is still refused.

Runs on the escalation tests' time-skipping server and peer-support deployment (`Scene`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene, eventually, rejection
from warmline.conversation import (
    CompleteRequest,
    HandBackRequest,
    SatisfactionRating,
    Status,
    TransferRequest,
)
from warmline.events import EventType
from warmline.triage.types import Role
from workflows.conversation import ConversationWorkflow

TEAM = ("vol-aoife", "vol-marcus", "staff-ren", "staff-nia", "staff-luis")
Ending = CompleteRequest | HandBackRequest | TransferRequest
NOBODY_OWNS = ("FailedPrecondition", "no specialist owns this conversation now")


def someone_but(*specialists: str) -> str:
    return next(s for s in TEAM if s not in specialists)


async def refused(scene: Scene, request: Ending) -> tuple[str, str]:
    """The conversation's refusal of `request` (its type and message)."""
    call: Coroutine[Any, Any, None]
    if isinstance(request, CompleteRequest):
        call = scene.handle.execute_update(ConversationWorkflow.complete, request)
    elif isinstance(request, HandBackRequest):
        call = scene.handle.execute_update(ConversationWorkflow.hand_back, request)
    else:
        call = scene.handle.execute_update(ConversationWorkflow.transfer, request)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    return rejection(caught)


async def test_a_retried_transfer_and_hand_back_get_the_first_answer(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """Both retries were refused FAILED_PRECONDITION ("no specialist owns this conversation
    now") though the first call had gone through: the client could not tell a lost answer from
    a failure. The hand-back is retried after a continue-as-new, which carries the record."""
    deployment = dataclasses.replace(
        routed, policy=routed.policy.model_copy(update={"max_messages_before_continue_as_new": 3})
    )
    scene = await Scene(workflow_env, deployment).start()
    first = await scene.handed_off(GRIEF, "m1")
    transfer = TransferRequest(
        specialist_id=first.specialist_id, queue="crisis", note="mentions not eating"
    )
    for _ in range(2):
        await scene.handle.execute_update(ConversationWorkflow.transfer, transfer)
    assert (await scene.handle.query(ConversationWorkflow.view)).escalations == 2
    assert await refused(scene, transfer.model_copy(update={"queue": "listening-priority"})) == (
        "FailedPrecondition",
        "you already transferred this conversation to 'crisis'; it is no longer yours to act on",
    )
    stranger = someone_but(first.specialist_id)
    assert await refused(scene, transfer.model_copy(update={"specialist_id": stranger})) == (
        NOBODY_OWNS
    )

    second = (await scene.open_offers(sequence=2))[0]
    await scene.accept(second, sequence=2)
    await scene.owned_by(second.specialist_id)
    # The first specialist's retry once someone else holds the conversation: still the answer
    # their transfer had, and the new owner keeps it.
    await scene.handle.execute_update(ConversationWorkflow.transfer, transfer)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert (view.owner, view.escalations) == (second.specialist_id, 2)

    hand_back = HandBackRequest(specialist_id=second.specialist_id, note="She is calmer.")
    await scene.handle.execute_update(ConversationWorkflow.hand_back, hand_back)
    for text in ("Thanks, that helps", "Where is my parcel?"):
        await scene.say(text)

    async def continued() -> bool | None:
        run = (await scene.handle.describe()).run_id
        return True if run != scene.handle.first_execution_run_id else None

    await eventually(continued, "the continue-as-new")
    await scene.handle.execute_update(ConversationWorkflow.hand_back, hand_back)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.OPEN
    assert view.ended is not None
    assert (view.ended.how, view.ended.specialist_id) == ("handed back", second.specialist_id)
    notes = [t for t in view.turns if t.role is Role.SPECIALIST and "She is calmer" in t.text]
    assert len(notes) == 1
    assert await refused(scene, hand_back.model_copy(update={"note": "Be gentle."})) == (
        "FailedPrecondition",
        "you already handed this conversation back to the AI; it is no longer yours to act on",
    )
    assert await refused(
        scene, CompleteRequest(specialist_id=first.specialist_id, outcome="ok")
    ) == (NOBODY_OWNS)

    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_RETURNED)
    assert [e.data["reason"] for e in events if e.type == EventType.ESCALATION_REROUTED] == [
        "transfer"
    ]
    assert len([e for e in events if e.type == EventType.HANDOFF_RETURNED]) == 1


async def test_a_retried_completion_gets_the_first_answer(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """With the satisfaction survey open, a retried `complete` was refused FAILED_PRECONDITION;
    once the conversation has closed its view still says who completed it, and how, for the
    desk to answer a retry that can no longer reach the workflow."""
    scene = await Scene(workflow_env, routed).start(survey=True)
    offer = await scene.handed_off(GRIEF)
    complete = CompleteRequest(
        specialist_id=offer.specialist_id, outcome="resolved", summary="talked it through"
    )
    for _ in range(2):
        await scene.handle.execute_update(ConversationWorkflow.complete, complete)
    assert (await scene.handle.query(ConversationWorkflow.view)).status == Status.SURVEY
    assert await refused(scene, complete.model_copy(update={"outcome": "referred"})) == (
        "FailedPrecondition",
        "you already completed this conversation with outcome 'resolved'; it is no longer "
        "yours to act on",
    )
    assert (
        await refused(
            scene, complete.model_copy(update={"specialist_id": someone_but(offer.specialist_id)})
        )
        == NOBODY_OWNS
    )

    await scene.handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=4))
    outcome = await scene.handle.result()
    assert outcome.handoff_outcome == "resolved"
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.CLOSED
    assert view.ended is not None
    assert view.ended.repeated_by(complete)
    assert not view.ended.repeated_by(complete.model_copy(update={"summary": "other"}))

    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    assert len([e for e in events if e.type == EventType.HANDOFF_COMPLETED]) == 1
