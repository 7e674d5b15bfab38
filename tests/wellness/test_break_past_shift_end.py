"""A break after a crisis runs its course past the shift's end.

The shift's end is not the worker's availability: someone who stays on after it (the roster still
has them available) is offered work as soon as their view shows no break. Before, the shift's end
ended the break after a crisis ten minutes before the shift's end five minutes early, and routing
offered that worker new work at once; `EndBreak` refuses to cut that break short.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import EventType
from warmline.wellness.policy import (
    ExposureRecord,
    Shift,
    Wellness,
    WellnessPolicy,
    WellnessState,
)
from warmline.wellness.types import WellnessInput, wellness_workflow_id
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(
    break_after_crisis=timedelta(minutes=15),
    break_after_intense=timedelta(minutes=60),
    break_duration=timedelta(minutes=10),
    checkin_triggers=[],
)
NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
SHIFT = Shift(shift_id="day", starts_at=NINE, ends_at=NINE + 8 * H)
CRISIS = ExposureRecord(record_id="c-1", minutes=20, crisis=True, queue="crisis")


def breaks_ended(wellness: Wellness) -> list[tuple[datetime, str]]:
    return [
        (o.at, str(o.data["reason"]))
        for o in wellness.outbox
        if o.type is EventType.WELLNESS_BREAK_ENDED
    ]


def on_shift() -> Wellness:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.schedule(SHIFT, NINE - H)
    wellness.advance(NINE)
    return wellness


def test_the_break_after_a_crisis_keeps_its_end_past_the_shift_s_end() -> None:
    wellness = on_shift()
    wellness.record(CRISIS, SHIFT.ends_at - 10 * M)
    until = SHIFT.ends_at + 5 * M
    assert wellness.state.break_until == until
    wellness.advance(SHIFT.ends_at)
    assert wellness.state.shift is None
    assert wellness.state.break_until == until, "the shift's end does not cut the break short"
    view = wellness.state.view(POLICY, SHIFT.ends_at + M)
    assert (view.in_shift, view.on_break, view.may_take_any) == (False, True, False)
    assert wellness.next_wake() == until
    wellness.advance(until)
    assert wellness.state.break_until is None
    assert breaks_ended(wellness) == [(until, "after_crisis")]


def test_the_break_after_intense_work_keeps_its_end_too() -> None:
    wellness = on_shift()
    intense = ExposureRecord(record_id="c-1", minutes=30, distress=0.9, queue="grief")
    wellness.record(intense, SHIFT.ends_at - 5 * M)
    assert wellness.state.break_reason == "after_intense"
    wellness.advance(SHIFT.ends_at)
    assert wellness.state.break_until == SHIFT.ends_at + 5 * M


def test_a_break_the_worker_asked_for_still_ends_with_the_shift() -> None:
    wellness = on_shift()
    wellness.break_now(30, SHIFT.ends_at - 10 * M)
    wellness.advance(SHIFT.ends_at)
    assert wellness.state.break_until is None
    assert breaks_ended(wellness) == [(SHIFT.ends_at, "end_of_shift")]


async def test_the_workflow_keeps_the_view_on_a_break_past_the_shift_s_end(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    worker = "sp-ida"
    start = (await workflow_env.get_current_time()).replace(microsecond=0) + M
    shift = Shift(shift_id="s-1", starts_at=start, ends_at=start + H)
    handle = await workflow_env.client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment, worker_id=worker, policy=POLICY, shifts=[shift]
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    await workflow_env.sleep(50 * M + M)
    crisis = await handle.execute_update(WellnessWorkflow.record_work, CRISIS)
    assert crisis.break_until is not None
    assert crisis.break_until > shift.ends_at
    await workflow_env.sleep(shift.ends_at + M - await workflow_env.get_current_time())

    view = await wellness.view_when(worker, lambda v: not v.in_shift)
    assert view.on_break, "routing still sees the break after the shift's end"
    assert view.break_until == crisis.break_until
    await workflow_env.sleep(crisis.break_until + M - await workflow_env.get_current_time())
    assert not (await wellness.view_when(worker, lambda v: not v.on_break)).on_break
