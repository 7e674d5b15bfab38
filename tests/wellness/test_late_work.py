"""Work begun in a shift and finished after it counts in that shift.

Exposure is recorded when the work ends, so the conversation a worker takes at 16:40 and finishes
at 17:10 reaches their wellness workflow after a shift that ended at 17:00. Before, work outside
any shift opened a stand-in shift of `shift_length` from that moment: the day got a second budget,
and the worker, gone home, was asked for cadence check-ins through the night, with the wellness
leads told when one went unanswered.
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
    budget_per_shift=timedelta(hours=4),
    shift_length=timedelta(hours=8),
    budget_pro_rata=True,
    checkin_cadence=timedelta(hours=2),
    checkin_triggers=["end_of_shift"],
)
NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
HALF_DAY = Shift(shift_id="half-day", starts_at=NINE, ends_at=NINE + 4 * H)
"""Four hours of an eight-hour policy: half the budget, 120 weighted minutes."""


def high(record_id: str, minutes: float) -> ExposureRecord:
    """High distress: weight 2."""
    return ExposureRecord(record_id=record_id, minutes=minutes, distress=0.8, queue="grief")


def after_the_shift() -> Wellness:
    """The half day worked and ended, its end-of-shift check-in answered."""
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.schedule(HALF_DAY, NINE - H)
    wellness.advance(NINE)
    wellness.record(high("c-1", 25), NINE + 2 * H)
    wellness.advance(HALF_DAY.ends_at)
    wellness.submit_checkin(4, "", HALF_DAY.ends_at + M)
    wellness.outbox.clear()
    return wellness


def test_a_conversation_finished_after_the_shift_counts_in_it() -> None:
    wellness = after_the_shift()
    wellness.record(high("c-2", 40), HALF_DAY.ends_at + 10 * M)  # taken at 12:30
    state = wellness.state
    assert state.shift is None, "no stand-in shift for it"
    assert state.shift_number == 1
    assert state.exposure_minutes == 130.0, "the day's one figure"
    assert state.over_budget, "over the half day's budget of 120"
    exposure = [o.data for o in wellness.outbox if o.type is EventType.WELLNESS_EXPOSURE_UPDATED]
    assert exposure == [{"exposure_minutes": 130.0, "budget_minutes": 120.0}]
    view = state.view(POLICY, HALF_DAY.ends_at + 10 * M)
    assert (view.in_shift, view.budget_minutes, view.over_budget) == (False, 120.0, True)
    wellness.advance(HALF_DAY.ends_at + 12 * H)
    asked = [o for o in wellness.outbox if o.type is EventType.WELLNESS_CHECKIN_REQUESTED]
    assert asked == [], "nothing asked of a worker who has gone home"


def test_a_conversation_held_when_the_worker_went_unavailable_counts_in_the_shift() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    wellness.availability(True, NINE)
    wellness.availability(False, NINE + 3 * H)  # no new offers; the conversation goes on
    wellness.record(high("c-1", 30), NINE + 3 * H + 20 * M)
    assert wellness.state.shift is None
    assert (wellness.state.shift_number, wellness.state.exposure_minutes) == (1, 60.0)


def test_work_begun_after_the_shift_still_opens_a_shift() -> None:
    wellness = after_the_shift()
    wellness.record(high("c-2", 20), HALF_DAY.ends_at + 30 * M)  # taken at 13:10
    state = wellness.state
    assert state.shift is not None
    assert state.shift.stand_in
    assert (state.shift_number, state.exposure_minutes) == (2, 40.0)


async def test_the_workflow_counts_late_work_in_the_shift_that_ended(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    worker = "sp-ida"
    start = (await workflow_env.get_current_time()).replace(microsecond=0) + M
    shift = Shift(shift_id="s-1", starts_at=start, ends_at=start + 4 * H)
    handle = await workflow_env.client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id=worker,
            # No cadence check-in within the shift: only its end asks one.
            policy=POLICY.model_copy(update={"checkin_cadence": 12 * H}),
            shifts=[shift],
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    # In steps: one long skip of the test server is fragile under load.
    while (left := shift.ends_at + 10 * M - await workflow_env.get_current_time()) > timedelta(0):
        await workflow_env.sleep(min(left, 30 * M))
    late = await handle.execute_update(WellnessWorkflow.record_work, high("c-1", 40))
    assert (late.in_shift, late.exposure_minutes, late.budget_minutes) == (False, 80.0, 120.0)
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=False))
    await workflow_env.sleep(3 * H)

    state = await handle.query(WellnessWorkflow.state)
    assert (state.shift, state.shift_number) == (None, 1)
    events = wellness.events.read(5)[:5]
    assert [(e.type, e.data.get("reason"), e.data.get("exposure_minutes")) for e in events] == [
        (EventType.WELLNESS_EXPOSURE_UPDATED, None, 0.0),
        (EventType.WELLNESS_CHECKIN_REQUESTED, "end_of_shift", None),
        (EventType.WELLNESS_EXPOSURE_UPDATED, None, 80.0),
        (EventType.WELLNESS_CHECKIN_REQUESTED, "missed:end_of_shift", None),
        (EventType.WELLNESS_CHECKIN_REQUESTED, "missed:end_of_shift", None),
    ]
