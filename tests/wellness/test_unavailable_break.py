"""A break after a crisis runs its course, also when the worker goes unavailable during it.

Going unavailable ends the shift, and becoming available again starts one: before, the shift's
end took the mandatory break with it, so off and on again cut short a break `EndBreak` refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import EventType
from warmline.wellness.policy import (
    ExposureRecord,
    NotOnBreakError,
    Wellness,
    WellnessPolicy,
    WellnessState,
)
from warmline.wellness.types import (
    Availability,
    BreakRequest,
    EndBreakRequest,
    WellnessInput,
    wellness_workflow_id,
)
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(break_after_crisis=timedelta(minutes=15))
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CRISIS = ExposureRecord(record_id="c-1", minutes=20, crisis=True, queue="crisis")


def test_off_and_on_again_keeps_the_break_after_a_crisis() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.availability(True, NOON)
    wellness.record(CRISIS, NOON + timedelta(minutes=20))
    until = NOON + timedelta(minutes=35)
    assert wellness.state.break_until == until
    wellness.availability(False, NOON + timedelta(minutes=21))
    wellness.availability(True, NOON + timedelta(minutes=22))
    assert wellness.state.shift is not None
    assert wellness.state.break_until == until, "the break keeps its end"
    assert wellness.state.view(POLICY, NOON + timedelta(minutes=22)).on_break
    with pytest.raises(NotOnBreakError):
        wellness.end_break(NOON + timedelta(minutes=23))
    wellness.advance(until)
    assert wellness.state.break_until is None
    ended = [o for o in wellness.outbox if o.type is EventType.WELLNESS_BREAK_ENDED]
    assert [(o.at, o.data["reason"]) for o in ended] == [(until, "after_crisis")]


def test_the_worker_s_own_break_still_ends_with_the_shift() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.availability(True, NOON)
    wellness.break_now(30, NOON + timedelta(minutes=5))
    wellness.availability(False, NOON + timedelta(minutes=6))
    assert wellness.state.break_until is None


async def test_the_workflow_keeps_the_break_through_off_and_on_again(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    worker = "sp-ida"
    handle = await workflow_env.client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(deployment=wellness.deployment, worker_id=worker, policy=POLICY),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=True))
    crisis = await handle.execute_update(WellnessWorkflow.record_work, CRISIS)
    assert crisis.on_break
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=False))
    back = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=True)
    )
    assert back.in_shift
    assert back.on_break, "routing still sees the break"
    assert back.break_until == crisis.break_until
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    # "I need a break now" meanwhile lengthens it and cannot turn it into one the worker ends.
    await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=1))
    await workflow_env.sleep(timedelta(minutes=16))
    view = await wellness.view_when(worker, lambda v: not v.on_break)
    assert view.in_shift
