"""A check-in missed at the end of one shift does not silence the next shift's check-ins.

The end-of-shift check-in is asked as the worker leaves, and is often left unanswered: the worker
is nudged, then the wellness leads are told. Before, it stayed open into the next shift, where
every check-in (cadence, after a crisis) folded into it: the worker was asked nothing and nobody
was nudged all day, until they happened to check in unasked.
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
    checkin_cadence=timedelta(hours=2),
    checkin_triggers=["after_crisis", "end_of_shift"],
    wellness_leads=["sup-lead"],
)
NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def day(number: int, *, hours: float = 8) -> Shift:
    start = NINE + timedelta(days=number - 1)
    return Shift(shift_id=f"day-{number}", starts_at=start, ends_at=start + hours * H)


def asked(wellness: Wellness) -> list[tuple[datetime, str, str]]:
    return [
        (o.at, str(o.data["reason"]), str(o.data["recipient"]))
        for o in wellness.outbox
        if o.type is EventType.WELLNESS_CHECKIN_REQUESTED
    ]


def test_the_next_days_check_ins_are_asked_after_a_missed_end_of_shift_one() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    for number in (1, 2):
        wellness.schedule(day(number), NINE - H)
    wellness.advance(NINE)
    wellness.submit_checkin(4, "", NINE + 2 * H + M)  # the day's cadence check-in, answered
    for moment in (NINE + 8 * H, NINE + 8 * H + 15 * M, NINE + 8 * H + 30 * M):
        wellness.advance(moment)  # end of shift, unanswered: the worker, then the lead, told
    wellness.outbox.clear()

    tomorrow = NINE + timedelta(days=1)
    wellness.advance(tomorrow)
    assert wellness.state.pending is None, "yesterday's missed check-in stays yesterday's"
    wellness.advance(tomorrow + 2 * H)
    wellness.advance(tomorrow + 2 * H + 15 * M)
    assert asked(wellness) == [
        (tomorrow + 2 * H, "cadence", "worker"),
        (tomorrow + 2 * H + 15 * M, "missed:cadence", "worker"),
    ]
    wellness.submit_checkin(3, "", tomorrow + 2 * H + 20 * M)
    wellness.record(ExposureRecord(record_id="c-1", minutes=20, crisis=True), tomorrow + 3 * H)
    assert asked(wellness)[-1] == (tomorrow + 3 * H, "after_crisis", "worker")
    state = wellness.state
    assert (state.checkins_requested, state.checkins_answered) == (2, 1)


def test_a_check_in_still_being_chased_carries_into_a_shift_that_starts_at_once() -> None:
    """Back-to-back shifts: the end-of-shift check-in asked as the first ends is the second's
    until its nudges are over, as any open check-in is."""
    wellness = Wellness(WellnessState(worker_id="sp-ida"), POLICY)
    first = day(1, hours=4)
    second = Shift(shift_id="day-1-late", starts_at=first.ends_at, ends_at=first.ends_at + 4 * H)
    for shift in (first, second):
        wellness.schedule(shift, NINE - H)
    wellness.advance(NINE)
    wellness.submit_checkin(4, "", NINE + 2 * H + M)
    wellness.advance(first.ends_at)
    assert wellness.state.shift == second
    assert wellness.state.pending is not None
    assert wellness.state.pending.reason == "end_of_shift"
    wellness.advance(first.ends_at + 30 * M)
    assert asked(wellness)[-2:] == [
        (first.ends_at + 15 * M, "missed:end_of_shift", "worker"),
        (first.ends_at + 30 * M, "missed:end_of_shift", "wellness_lead"),
    ]


async def test_the_workflow_asks_the_next_shift_s_cadence_check_in(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    worker = "sp-ida"
    start = (await workflow_env.get_current_time()).replace(microsecond=0) + M
    first = Shift(shift_id="s-1", starts_at=start, ends_at=start + H)
    second = Shift(shift_id="s-2", starts_at=start + 2 * H, ends_at=start + 5 * H)
    handle = await workflow_env.client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id=worker,
            policy=POLICY,
            shifts=[first, second],
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    # In steps: one long skip of the test server is fragile under load.
    while (left := start + 4 * H + M - await workflow_env.get_current_time()) > timedelta(0):
        await workflow_env.sleep(min(left, 10 * M))

    events = wellness.events.read(6)
    assert [(e.time - start, e.type, e.data.get("reason")) for e in events[:6]] == [
        (timedelta(0), EventType.WELLNESS_EXPOSURE_UPDATED, None),
        (H, EventType.WELLNESS_CHECKIN_REQUESTED, "end_of_shift"),
        (H + 15 * M, EventType.WELLNESS_CHECKIN_REQUESTED, "missed:end_of_shift"),
        (H + 30 * M, EventType.WELLNESS_CHECKIN_REQUESTED, "missed:end_of_shift"),
        (2 * H, EventType.WELLNESS_EXPOSURE_UPDATED, None),
        (4 * H, EventType.WELLNESS_CHECKIN_REQUESTED, "cadence"),
    ]
    view = wellness.store.read([worker])[worker]
    assert (view.checkin_pending, view.checkins_requested) == (True, 1)
    state = await handle.query(WellnessWorkflow.state)
    assert state.pending is not None
    assert state.pending.reason == "cadence"
