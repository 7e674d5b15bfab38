"""A crisis written while an ordinary escalation still waits moves the conversation to the crisis
lane; one written once a specialist owns the conversation stays with them.

Runs on the escalation tests' time-skipping server and peer-support deployment (`Scene`).
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import (
    CRISIS,
    GRIEF,
    Scene,
    eventually,
    roster_view,
)
from warmline.conversation import Status, Turn
from warmline.escalation import EscalationStatus, OfferStatus
from warmline.events import EventType
from warmline.triage.types import Role
from workflows.conversation import ConversationWorkflow


async def test_a_crisis_while_waiting_in_an_ordinary_queue_moves_to_the_crisis_lane(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF, "m1")
    [grief] = await scene.open_offers()
    assert grief.queue == "listening"

    await scene.say(CRISIS, "m2")
    # The message is answered once its escalation is routed: the view already shows the lane.
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.ESCALATED
    assert view.escalation is not None
    assert (view.escalation.rule, view.escalation.queue, view.escalation.crisis) == (
        "crisis",
        "crisis",
        True,
    )
    assert view.escalation.message_id == "m2"
    assert view.escalations == 2

    ended = await scene.escalation(1).result()
    assert ended.status is EscalationStatus.CANCELLED
    assert ended.accepted_by is None
    old = await scene.escalation_view(1)
    assert [(o.offer_id, o.status) for o in old.offers] == [(grief.offer_id, OfferStatus.WITHDRAWN)]
    assert grief.offer_id not in [
        o.offer_id for o in routed.live_view.offers_for(grief.specialist_id)
    ]
    [crisis] = await scene.open_offers(sequence=2)
    assert crisis.queue == "crisis"
    assert crisis.crisis
    assert crisis.specialist_id in {"staff-ren", "staff-nia", "staff-luis"}
    if crisis.specialist_id != grief.specialist_id:
        # The withdrawn offer's reservation was released, not left to expire.
        member = next(
            m
            for m in (await roster_view(workflow_env, routed)).members
            if m.member.id == grief.specialist_id
        )
        assert member.reserved == 0

    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_CREATED, count=2)
    kinds = [e.type for e in events]
    escalated = [e for e in events if e.type == EventType.CONVERSATION_ESCALATED]
    assert [e.data["rule"] for e in escalated] == ["grief", "crisis"]
    assert escalated[1].data["queue"] == "crisis"
    withdrawn = kinds.index(EventType.OFFER_WITHDRAWN)
    assert events[withdrawn].data["offer_id"] == grief.offer_id
    assert withdrawn < events.index(escalated[1])
    assert kinds.index(EventType.CRISIS_DETECTED) < events.index(escalated[1])

    # Nobody answers within the lane's deadline: the customer gets the helplines.
    async def referrals() -> Turn | None:
        turns = (await scene.handle.query(ConversationWorkflow.view)).turns
        return next((t for t in turns if t.role is Role.SYSTEM), None)

    sent = await eventually(referrals, "the referrals", skipping=workflow_env)
    assert sent.message_id == "referrals-2"
    assert "Samaritans" in sent.text


async def test_a_crisis_once_a_specialist_owns_the_conversation_stays_with_them(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start()
    offer = await scene.handed_off(GRIEF, "m1")
    await scene.say(CRISIS, "m2")
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.HANDOFF
    assert view.owner == offer.specialist_id
    assert view.escalation is not None
    assert view.escalation.rule == "grief"
    assert view.escalations == 1
    assert view.trajectory[-1].crisis
