"""An update's validator on a worker that replays the conversation (no cached run).

On a worker without the run in its cache (restarted, or the run evicted), the SDK replays the
history and hands the new update to the workflow in one activation with the last replayed
resolution, when the workflow task that took that resolution sent no command. Updates are applied
before the other jobs of an activation, so the validator reads the state from before it: the
handoff package that the `view` query already shows is still None to `acknowledge_risk` and
`specialist_reply`. Their validators let the package's owner through while it is being prepared;
the handler waits for the package and checks the action again (patch marker
`an-action-during-the-render-waits-for-the-package`). Each test's worker caches no run, and each
test queries the view after its update, which replays the history it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog
from tests.workflows.test_conversation import handoff_worker, say, start
from tests.workflows.test_replay import patch_markers
from warmline.conversation import ConversationOutcome, SpecialistAction, SpecialistReply
from warmline.escalation import Assignment
from warmline.triage.types import Role
from workflows.conversation import AN_ACTION_WAITS_FOR_THE_PACKAGE, ConversationWorkflow

Handle = WorkflowHandle[ConversationWorkflow, ConversationOutcome]
GRIEF = ("My father died and I am devastated", "bereavement")
CRISIS = ("nobody would miss me, I want to end it all", "crisis")


@asynccontextmanager
async def rendered_for_aoife(
    env: WorkflowEnvironment, event_log: EventLog, task_queue: str, case: tuple[str, str]
) -> AsyncIterator[Handle]:
    """A conversation whose message `case` escalates to its queue, assigned to vol-aoife on a
    worker that caches no run, once the `view` query shows her handoff package."""
    text, queue = case
    async with handoff_worker(env, event_log, task_queue):
        handle, _ = await start(env, task_queue)
        await say(handle, text)
        await handle.signal(
            ConversationWorkflow.assigned,
            Assignment(
                specialist_id="vol-aoife",
                queue=queue,
                offer_id="offer-1",
                sequence=1,
                accepted_at=await env.get_current_time(),
                waited=timedelta(0),
            ),
        )
        async with asyncio.timeout(30):
            while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        yield handle


async def test_a_package_the_view_shows_is_ready_for_the_acknowledgement(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    async with rendered_for_aoife(workflow_env, event_log, task_queue, GRIEF) as handle:
        await handle.execute_update(
            ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id="vol-aoife")
        )
        assert (await handle.query(ConversationWorkflow.view)).risk_acknowledged
        assert AN_ACTION_WAITS_FOR_THE_PACKAGE in patch_markers(await handle.fetch_history())


async def test_a_package_the_view_shows_is_ready_for_a_reply(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    """The grief's package asks for no acknowledgement: the reply goes through."""
    async with rendered_for_aoife(workflow_env, event_log, task_queue, GRIEF) as handle:
        package = (await handle.query(ConversationWorkflow.view)).handoff
        assert package is not None
        assert not package.requires_acknowledgement
        reply = SpecialistReply(specialist_id="vol-aoife", message_id="s0", text="I'm so sorry.")
        await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
        turns = (await handle.query(ConversationWorkflow.view)).turns
        assert [(t.role, t.message_id) for t in turns][-1] == (Role.SPECIALIST, "s0")


async def test_a_reply_let_through_while_the_package_was_prepared_is_checked_again(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    """The reply's validator could not tell that the crisis's package asks for the risk to be
    acknowledged first; once the package is there the handler refuses the reply as the validator
    would have, and it is not sent. Acknowledged, the same reply goes through."""
    async with rendered_for_aoife(workflow_env, event_log, task_queue, CRISIS) as handle:
        package = (await handle.query(ConversationWorkflow.view)).handoff
        assert package is not None
        assert package.requires_acknowledgement
        reply = SpecialistReply(specialist_id="vol-aoife", message_id="s0", text="I'm here.")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
        assert "before replying" in str(refused.value.cause)
        view = await handle.query(ConversationWorkflow.view)
        assert not any(turn.message_id == "s0" for turn in view.turns)
        await handle.execute_update(
            ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id="vol-aoife")
        )
        await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
        turns = (await handle.query(ConversationWorkflow.view)).turns
        assert [t.message_id for t in turns if t.role is Role.SPECIALIST] == ["s0"]
