"""How a simulated person answers the check-ins their wellness workflow asks for."""

from __future__ import annotations

import random

from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from warmline.wellness.client import WellnessClient
from warmline.wellness.types import CheckInRequest
from workflows.wellness import WellnessWorkflow


async def answer_checkin(wellness: WellnessClient, worker_id: str, rng: random.Random) -> bool:
    """Answer a pending check-in with a mood in the top of the policy's scale, as the app would
    ask; whether there was one to answer."""
    handle = wellness.handle(worker_id)
    try:
        view = await handle.query(WellnessWorkflow.view)
        if not view.checkin_pending:
            return False
        policy = wellness.policy
        mood = rng.randint(max(policy.scale_min, policy.scale_max - 3), policy.scale_max)
        await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=mood))
    except (WorkflowUpdateFailedError, WorkflowQueryFailedError, RPCError):
        return False
    return True
