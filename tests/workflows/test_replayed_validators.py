"""An update's validator on a worker that replays the conversation (no cached run).

On a worker without the run in its cache (restarted, or the run evicted), the SDK replays the
history and hands the new update to the workflow in one activation with the last replayed
resolution, when the workflow task that took that resolution sent no command. Updates are applied
before the other jobs of an activation, so the validator reads the state from before it: the
handoff package that the `view` query already shows is still None to `acknowledge_risk` and
`specialist_reply`. Known defect, not fixed yet; the test passes once it is.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog
from tests.workflows.test_conversation import handoff_worker, say, start
from warmline.conversation import SpecialistAction
from warmline.escalation import Assignment
from workflows.conversation import ConversationWorkflow


@pytest.mark.xfail(
    strict=True,
    reason="a validator replayed with the render's result in its activation sees no package",
)
async def test_a_package_the_view_shows_is_ready_for_the_acknowledgement(
    workflow_env: WorkflowEnvironment, event_log: EventLog, task_queue: str
) -> None:
    async with handoff_worker(workflow_env, event_log, task_queue):
        handle, _ = await start(workflow_env, task_queue)
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
        async with asyncio.timeout(30):
            while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await handle.execute_update(
            ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id="vol-aoife")
        )
        assert (await handle.query(ConversationWorkflow.view)).risk_acknowledged
