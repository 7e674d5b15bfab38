"""A break stops new offers under every routing strategy, not only `wellness_aware`: "I need a
break now" takes effect at once whatever the deployment ranks by (docs/wellness.md)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from tests.workflows.conftest import RoutedDeployment
from warmline.roster import ReserveRequest, RosterMember, RosterSettings, WellnessFlags
from workflows.roster import RosterWorkflow

TEAM = [RosterMember(id="sp-a", capacity=1), RosterMember(id="sp-b", capacity=1)]


async def reserved_for(
    env: WorkflowEnvironment, routed: RoutedDeployment, settings: RosterSettings
) -> str:
    """Whom a fresh roster offers a conversation while sp-a, its first choice, is on a break."""
    roster_id = f"roster/breaks-{uuid.uuid4().hex[:8]}"
    await ensure_roster(env.client, roster_id, settings, task_queue=routed.task_queue)
    routed.started.append(roster_id)
    handle = env.client.get_workflow_handle(roster_id)
    request = ReserveRequest(
        conversation_id="c-1",
        offer_ids=["o-1"],
        wellness={"sp-a": WellnessFlags(on_break=True)},
    )
    result = await handle.execute_update(RosterWorkflow.reserve, request)
    return result.reservations[0].specialist_id


@pytest.mark.parametrize("strategy", ["longest_idle", "least_busy", "round_robin"])
async def test_nobody_on_a_break_is_offered_work_under_a_classic_strategy(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, strategy: str
) -> None:
    settings = RosterSettings(members=TEAM, strategy=strategy)
    assert await reserved_for(workflow_env, routed, settings) == "sp-b"
    # The benchmark's TaskRouter-style baseline ignores wellness, breaks included: with the rule
    # off the ranking's first choice is the one on a break.
    ignoring = settings.model_copy(update={"breaks_stop_offers": False})
    assert await reserved_for(workflow_env, routed, ignoring) == "sp-a"
