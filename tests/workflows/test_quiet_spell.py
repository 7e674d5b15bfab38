"""The inactivity timeout counts from the last message from anyone in the conversation.

The time-skipping server with the real triage activity and real Kafka, as `test_conversation`:
a specialist's reply, or the AI's, restarts the quiet spell, so the conversation does not close
before the customer could answer it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_conversation import POLICY, say, start
from tests.workflows.test_escalation import GRIEF, Scene
from tests.workflows.test_replay import patch_markers
from warmline.conversation import AIReply, SpecialistAction, SpecialistReply, Status
from workflows.conversation import ConversationWorkflow

QUIET_SPELL = POLICY.inactivity_timeout
INTO_THE_SPELL = timedelta(minutes=25)
"""When the reply is written: well into the quiet spell, 5 minutes before it would end."""
RESTARTS = "a-reply-restarts-the-quiet-spell"
"""The patch marker a reply that restarts the quiet spell leaves in the history."""


async def test_a_specialists_reply_restarts_the_quiet_spell(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    """A specialist replies 25 minutes into a 30-minute quiet spell: the conversation stays open
    for the customer's answer and closes for inactivity 30 minutes after the reply."""
    routed.policy = routed.policy.model_copy(update={"inactivity_timeout": QUIET_SPELL})
    scene = await Scene(workflow_env, routed).start()
    offer = await scene.handed_off(GRIEF)
    specialist = offer.specialist_id
    await scene.handle.execute_update(
        ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=specialist)
    )
    await workflow_env.sleep(INTO_THE_SPELL)
    await scene.handle.execute_update(
        ConversationWorkflow.specialist_reply,
        SpecialistReply(specialist_id=specialist, message_id="s0", text="I'm so sorry. I'm here."),
    )
    replied_at = await workflow_env.get_current_time()
    await workflow_env.sleep(QUIET_SPELL - INTO_THE_SPELL + timedelta(minutes=5))
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.HANDOFF, "closed before the customer could answer the reply"

    outcome = await scene.handle.result()
    assert outcome.closed_reason == "inactivity"
    history = await scene.handle.fetch_history()
    closed_at = history.events[-1].event_time.ToDatetime().replace(tzinfo=replied_at.tzinfo)
    assert closed_at >= replied_at + QUIET_SPELL
    assert RESTARTS in patch_markers(history)


async def test_the_ais_reply_restarts_the_quiet_spell(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """The AI answers 25 minutes into the quiet spell: the customer has the whole timeout to
    answer it, counted from the reply."""
    handle, _ = await start(workflow_env, worker)
    await say(handle, "Where is my parcel?")
    await workflow_env.sleep(INTO_THE_SPELL)
    await handle.execute_update(
        ConversationWorkflow.record_reply,
        AIReply(message_id="ai0", text="It left our depot this morning."),
    )
    replied_at = await workflow_env.get_current_time()
    await workflow_env.sleep(QUIET_SPELL - INTO_THE_SPELL + timedelta(minutes=5))
    view = await handle.query(ConversationWorkflow.view)
    assert view.status == Status.OPEN, "closed before the customer could answer the AI's reply"

    outcome = await handle.result()
    assert outcome.closed_reason == "inactivity"
    history = await handle.fetch_history()
    closed_at = history.events[-1].event_time.ToDatetime().replace(tzinfo=replied_at.tzinfo)
    assert closed_at >= replied_at + QUIET_SPELL
    assert RESTARTS in patch_markers(history)
