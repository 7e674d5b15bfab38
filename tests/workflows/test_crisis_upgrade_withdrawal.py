"""The offer a crisis upgrade calls off says why it was withdrawn: the conversation moved to the
crisis lane, not that it closed (it is still open, and in the crisis lane).

Runs on the escalation tests' time-skipping server and peer-support deployment (`Scene`).
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import CRISIS, GRIEF, Scene
from warmline.conversation import Status
from warmline.escalation import EscalationStatus
from warmline.events import EventType
from workflows.conversation import ConversationWorkflow


async def test_the_offer_a_crisis_upgrade_withdraws_says_it_moved_to_the_crisis_lane(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """The withdrawn offer's event said `conversation closed`, which was false: a specialist
    (or a dashboard) reading it took the customer for gone while they were in crisis."""
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF, "m1")
    [grief] = await scene.open_offers()
    await scene.say(CRISIS, "m2")
    assert (await scene.escalation(1).result()).status is EscalationStatus.CANCELLED
    assert (await scene.handle.query(ConversationWorkflow.view)).status == Status.ESCALATED

    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    [withdrawn] = [e for e in events if e.type == EventType.OFFER_WITHDRAWN]
    assert withdrawn.data["offer_id"] == grief.offer_id
    assert withdrawn.data["reason"] == "moved to the crisis lane"
