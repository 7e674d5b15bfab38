"""HR's shifts against the stand-in shifts the wellness workflow starts itself.

A worker who becomes available, or whose work is recorded, with no shift known gets a stand-in
shift of `shift_length` (`available-<n>`). When HR's shift for the day falls due while it runs,
HR's shift takes its place at once: one budget for one day's work, not the stand-in's and then a
second one when HR's shift started hours late, at the stand-in's end.
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
from warmline.wellness.types import Availability, WellnessInput, wellness_workflow_id
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(
    budget_pro_rata=True, checkin_triggers=["end_of_shift"], checkin_cadence=timedelta(hours=12)
)
EIGHT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return EIGHT + timedelta(hours=hours)


def work(record_id: str, minutes: float) -> ExposureRecord:
    """High distress: weight 2."""
    return ExposureRecord(record_id=record_id, minutes=minutes, distress=0.8)


def test_an_hr_shift_known_in_advance_starts_on_time_over_an_early_stand_in() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    day = Shift(shift_id="hr-day", starts_at=at(1), ends_at=at(9))
    wellness.schedule(day, at(-12))
    wellness.availability(True, at(0))  # an hour early: a stand-in until HR's shift
    assert wellness.state.shift is not None
    assert wellness.state.shift.shift_id.startswith("available-")
    wellness.record(work("early", 20), at(0.5))
    assert wellness.next_wake() == at(1), "the stand-in wakes the workflow at HR's start"

    wellness.advance(at(1))
    assert wellness.state.shift == day
    assert wellness.state.exposure_minutes == 0.0, "HR's shift starts as any shift does"
    assert wellness.state.shift_number == 2
    wellness.record(work("c-1", 60), at(4))
    wellness.advance(at(8.5))  # the stand-in would have ended at 8 h
    assert wellness.state.shift == day
    assert wellness.state.exposure_minutes == 120.0, "no second start: the day's one budget"
    assert wellness.state.shift_number == 2
    wellness.advance(at(9))
    assert wellness.state.shift is None
    ends = [o for o in wellness.outbox if o.data.get("reason") == "end_of_shift"]
    assert [o.at for o in ends] == [at(9)], "the stand-in giving way is not the end of a shift"


def test_an_hr_shift_arriving_late_takes_over_the_stand_in_with_what_it_counted() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.record(work("c-1", 30), at(1.5))  # work with no shift known: a stand-in
    assert wellness.state.shift is not None
    assert wellness.state.shift.shift_id.startswith("available-")
    day = Shift(shift_id="hr-day", starts_at=at(1), ends_at=at(5))  # HR tells us at 2 h
    wellness.schedule(day, at(2))
    assert wellness.state.shift == day
    assert wellness.state.exposure_minutes == 60.0, "the work within HR's shift still counts"
    assert wellness.state.shift_number == 1
    view = wellness.state.view(POLICY, at(2))
    assert view.budget_minutes == 120.0, "HR's four hours get half the budget"
    assert view.shift_ends_at == at(5)
    budgets = [
        o.data["budget_minutes"]
        for o in wellness.outbox
        if o.type is EventType.WELLNESS_EXPOSURE_UPDATED
    ]
    assert budgets[-1] == 120.0, "those who follow the topic learn the new budget"


def test_the_same_hr_shift_twice_starts_it_once() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    day = Shift(shift_id="hr-day", starts_at=at(0), ends_at=at(8))
    wellness.schedule(day, at(-1))
    wellness.advance(at(0))
    wellness.record(work("c-1", 30), at(1))
    wellness.record(work("c-1", 30), at(1.1))  # the same conversation's exposure again
    wellness.schedule(day, at(2))  # the bridge's redelivery
    wellness.advance(at(2))
    assert wellness.state.exposure_minutes == 60.0
    assert wellness.state.shift_number == 1
    wellness.advance(at(9))
    wellness.schedule(day, at(9.5))  # yesterday's shift, late
    wellness.advance(at(10))
    assert wellness.state.shift is None
    assert wellness.state.upcoming == []


def test_a_shift_sent_again_after_the_worker_went_unavailable_carries_on() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    day = Shift(shift_id="hr-day", starts_at=at(0), ends_at=at(8))
    wellness.schedule(day, at(-1))
    wellness.advance(at(0))
    wellness.record(work("c-1", 60), at(2))
    wellness.availability(False, at(3))  # off sick for an hour
    assert wellness.state.shift is None
    wellness.schedule(day, at(4))  # HR sends the day's schedule again
    assert wellness.state.shift == day
    assert wellness.state.exposure_minutes == 120.0, "one shift, one budget"
    assert wellness.state.shift_number == 1
    assert wellness.state.next_checkin_at == at(16), "the cadence runs from the return"
    extended = day.model_copy(update={"ends_at": at(10)})
    wellness.advance(at(8))
    wellness.schedule(extended, at(8.5))  # HR extends the shift after it ended
    assert wellness.state.shift == extended
    assert wellness.state.exposure_minutes == 120.0
    assert wellness.state.shift_number == 1


async def test_the_workflow_starts_the_hr_shift_on_time_over_a_stand_in(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    worker = "sp-ida"
    now = await workflow_env.get_current_time()
    day = Shift(
        shift_id="hr-day", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=9)
    )
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment, worker_id=worker, policy=POLICY, shifts=[day]
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    early = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=True)
    )
    assert early.in_shift
    assert early.shift_ends_at is not None
    assert early.shift_ends_at - now < timedelta(hours=8, minutes=1), "a stand-in of 8 hours"
    await handle.execute_update(WellnessWorkflow.record_work, work("early", 20))

    await workflow_env.sleep(timedelta(hours=1, minutes=5))
    view = await wellness.view_when(worker, lambda v: v.shift_ends_at == day.ends_at)
    assert view.exposure_minutes == 0.0
    await handle.execute_update(WellnessWorkflow.record_work, work("c-1", 60))

    await workflow_env.sleep(timedelta(hours=7, minutes=10))  # past the stand-in's end
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift == day
    assert state.shift_number == 2
    assert state.exposure_minutes == 120.0, "HR's shift did not start a second time"


async def test_the_workflow_carries_on_a_shift_sent_again_after_it_ended(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    worker = "sp-ida"
    now = await workflow_env.get_current_time()
    day = Shift(shift_id="hr-day", starts_at=now, ends_at=now + timedelta(hours=8))
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment, worker_id=worker, policy=POLICY, shifts=[day]
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    await handle.execute_update(WellnessWorkflow.record_work, work("c-1", 60))
    gone = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=False)
    )
    assert not gone.in_shift
    await workflow_env.sleep(timedelta(hours=1))
    await handle.signal(WellnessWorkflow.shift_scheduled, day)  # HR's schedule sent again
    view = await wellness.view_when(worker, lambda v: v.in_shift)
    assert view.exposure_minutes == 120.0, "the shift carries on: no second budget"
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift_number == 1
