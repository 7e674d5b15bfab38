"""What follows a handoff: the satisfaction survey, later escalations and what they inherit.

The peer-support deployment on the time-skipping server, with real Kafka and Redis: a crisis
during the survey escalates again, an open survey survives a continue-as-new, every earlier
specialist's note reaches the next handoff, and a crisis keeps its helplines through a transfer.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_escalation import (
    CRISIS,
    GRIEF,
    Scene,
    eventually,
    rejection,
)
from warmline.conversation import (
    CompleteRequest,
    CustomerMessage,
    HandBackRequest,
    SatisfactionRating,
    SpecialistAction,
    Status,
    TransferRequest,
)
from warmline.handoff import HandoffRequest
from workflows.conversation import ConversationWorkflow


async def handed_off_and_completed(scene: Scene) -> str:
    """The customer grieves, a specialist accepts and completes; returns who it was."""
    offer = await scene.handed_off(GRIEF, message_id="m1")
    await scene.handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    return offer.specialist_id


async def continued_as_new(scene: Scene) -> None:
    """Wait until the conversation has continued as new."""

    async def probe() -> bool | None:
        description = await scene.handle.describe()
        return True if description.run_id != scene.handle.first_execution_run_id else None

    await eventually(probe, "a continue-as-new")


async def test_a_crisis_during_the_satisfaction_survey_escalates_again(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start(survey=True, widen_after=timedelta(0))
    await handed_off_and_completed(scene)
    thanks = await scene.handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m2", text="thank you")
    )
    assert not thanks.escalated
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.SURVEY
    assert view.escalation is not None
    assert view.escalation.rule == "grief"

    crisis = await scene.handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m3", text=CRISIS)
    )
    assert crisis.crisis
    assert crisis.escalated
    offers = await scene.open_offers(sequence=2)
    assert all(o.queue == "crisis" and o.crisis for o in offers)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.ESCALATED
    assert view.escalations == 2
    assert view.escalation is not None
    assert view.escalation.crisis
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=5))
    assert rejection(caught) == ("FailedPrecondition", "no satisfaction survey is open")


async def test_an_open_survey_outlives_a_continue_as_new(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    routed.policy = routed.policy.model_copy(update={"max_messages_before_continue_as_new": 2})
    scene = await Scene(workflow_env, routed).start(survey=True)
    specialist = await handed_off_and_completed(scene)
    await scene.say("thank you", message_id="m2")
    await continued_as_new(scene)
    latest = workflow_env.client.get_workflow_handle_for(ConversationWorkflow.run, scene.handle.id)
    view = await latest.query(ConversationWorkflow.view)
    assert view.status == Status.SURVEY
    assert view.escalation is not None
    assert view.escalation.rule == "grief"
    await latest.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=5))
    outcome = await latest.result()
    assert (outcome.handoff_outcome, outcome.satisfaction) == ("resolved", 5)
    assert outcome.closed_reason == "completed"
    assert outcome.handled_by == [specialist]
    assert outcome.escalation is not None
    assert outcome.escalation.rule == "grief"


async def rendered_requests(scene: Scene) -> list[HandoffRequest]:
    """What the conversation asked `render_handoff` for, read from its history."""
    history = await scene.handle.fetch_history()
    requests = []
    for event in history.events:
        if event.event_type != HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == "render_handoff":
            [request] = await pydantic_data_converter.decode(
                list(scheduled.input.payloads), [HandoffRequest]
            )
            requests.append(request)
    return requests


async def test_every_earlier_specialists_note_reaches_the_next_handoff(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    first = await scene.handed_off(GRIEF, message_id="m1")
    await scene.handle.execute_update(
        ConversationWorkflow.transfer,
        TransferRequest(specialist_id=first.specialist_id, queue="crisis", note="not eating"),
    )
    [second, *_] = await scene.open_offers(sequence=2)
    await scene.accept(second, sequence=2)
    await scene.owned_by(second.specialist_id)
    await scene.handle.execute_update(
        ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=second.specialist_id)
    )
    await scene.handle.execute_update(
        ConversationWorkflow.hand_back,
        HandBackRequest(specialist_id=second.specialist_id, note="calmer, be gentle"),
    )
    await scene.say(f"{GRIEF} again, it hurts so much", message_id="m2")
    [third] = await scene.open_offers(sequence=3)
    await scene.accept(third, sequence=3)
    await scene.owned_by(third.specialist_id)

    notes = {r.specialist_id: r.notes for r in await rendered_requests(scene)}
    transferred = f"{first.specialist_id} transferred from listening: not eating"
    handed_back = f"{second.specialist_id} handed back to the AI from crisis: calmer, be gentle"
    assert notes[second.specialist_id] == [transferred]
    assert notes[third.specialist_id] == [transferred, handed_back]


async def test_a_crisis_transferred_to_another_queue_keeps_its_helplines(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    [first, *_] = await scene.open_offers()
    await scene.accept(first)
    await scene.owned_by(first.specialist_id)
    before = (await scene.handle.query(ConversationWorkflow.view)).handoff
    assert before is not None
    assert before.referrals
    await scene.handle.execute_update(
        ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=first.specialist_id)
    )
    await scene.handle.execute_update(
        ConversationWorkflow.transfer,
        TransferRequest(specialist_id=first.specialist_id, queue="listening", note="stable now"),
    )
    [second, *_] = await scene.open_offers(sequence=2)
    assert second.queue == "listening"
    await scene.accept(second, sequence=2)
    await scene.owned_by(second.specialist_id)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.escalation is not None
    assert not view.escalation.crisis
    after = view.handoff
    assert after is not None
    assert after.requires_acknowledgement
    assert after.referrals == before.referrals
    assert "Helplines for" in after.rendered


async def test_a_hand_back_note_outlives_a_continue_as_new(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    routed.policy = routed.policy.model_copy(update={"max_messages_before_continue_as_new": 2})
    scene = await Scene(workflow_env, routed).start()
    first = await scene.handed_off(GRIEF, message_id="m1")
    await scene.handle.execute_update(
        ConversationWorkflow.hand_back,
        HandBackRequest(specialist_id=first.specialist_id, note="she has a sister nearby"),
    )
    await scene.say("thank you", message_id="m2")
    await continued_as_new(scene)
    await scene.say(f"{GRIEF} and it is getting worse", message_id="m3")
    [second] = await scene.open_offers(sequence=2)
    await scene.accept(second, sequence=2)
    await scene.owned_by(second.specialist_id)
    [request] = await rendered_requests(scene)
    assert request.notes == [
        f"{first.specialist_id} handed back to the AI from listening: she has a sister nearby"
    ]
