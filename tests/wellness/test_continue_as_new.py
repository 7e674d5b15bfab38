"""The wellness workflow continues as new without losing or repeating anything.

A run ends after `continue_as_new_after` changes; what it carries must keep every timer on time
(a break's end, a rotation's cooldown, a missed check-in's nudges) and every count (exposure, the
consecutive-crisis cap), and signals that arrive while a run hands over are counted once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import EventType
from warmline.wellness.policy import ExposureRecord, Shift, WellnessPolicy
from warmline.wellness.types import WellnessInput, wellness_workflow_id
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(
    budget_per_shift=timedelta(hours=2),
    break_after_crisis=timedelta(minutes=15),
    max_consecutive_crisis=2,
    checkin_cadence=timedelta(hours=12),
    checkin_triggers=["after_crisis"],
    rotate_at_budget=0.5,
    rotation_cooldown=timedelta(minutes=45),
    intense_queues=["crisis"],
)


async def test_timers_and_counts_carry_over_and_signals_during_the_hand_over_count_once(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    worker = "sp-can"
    start = await workflow_env.get_current_time()
    shift = Shift(shift_id="hr-1", starts_at=start, ends_at=start + timedelta(hours=8))
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id=worker,
            policy=POLICY,
            shifts=[shift],
            continue_as_new_after=2,
        ),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    # Two crises in a row (20 min each at weight 3: 120 weighted minutes, the whole budget).
    for n in range(2):
        await handle.execute_update(
            WellnessWorkflow.record_work,
            ExposureRecord(record_id=f"crisis-{n}", minutes=20, crisis=True, queue="crisis"),
        )
    before = await handle.query(WellnessWorkflow.state)
    assert before.crisis_blocked
    assert before.over_budget
    assert before.rotation_until is not None
    assert before.break_until is not None
    assert before.pending is not None
    assert before.pending.reason == "after_crisis"

    # A burst of signals, each a change, while runs keep handing over every two changes.
    await asyncio.gather(
        *(
            handle.signal(
                WellnessWorkflow.record_exposure,
                ExposureRecord(record_id=f"calm-{n}", minutes=2, queue="chat"),
            )
            for n in range(12)
        ),
        *(
            handle.signal(
                WellnessWorkflow.record_exposure,
                ExposureRecord(record_id=f"calm-{n}", minutes=2, queue="chat"),
            )
            for n in range(6)
        ),
    )
    view = await wellness.view_when(worker, lambda v: v.exposure_minutes >= 132.0)
    assert view.exposure_minutes == 132.0, "each of 12 calm records once (1 weighted minute)"
    assert (await handle.describe()).run_id != handle.first_execution_run_id

    await workflow_env.sleep(timedelta(hours=1))
    after = await handle.query(WellnessWorkflow.state)
    assert after.exposure_minutes == 132.0
    assert after.shift == shift
    assert after.break_until is None
    assert after.rotation_until is None
    assert after.crisis_blocked is False, "a non-crisis conversation lifted the cap"
    assert after.budget_breaches == 1
    assert after.breaks_taken == 1
    assert after.pending is not None
    assert after.pending.nudges == 2

    pending = before.pending
    mine = [e for e in wellness.events.read(14) if e.subject == worker]
    while not any(e.data.get("recipient") == "wellness_lead" for e in mine):
        mine = [
            e for e in wellness.events.read(len(wellness.events.events) + 1) if e.subject == worker
        ]
    nudges = [
        (e.time, e.data.get("recipient"))
        for e in mine
        if e.type is EventType.WELLNESS_CHECKIN_REQUESTED
        and e.data.get("reason", "").startswith("missed:")
    ]
    assert nudges == [
        (pending.requested_at + timedelta(minutes=15), "worker"),
        (pending.requested_at + timedelta(minutes=30), "wellness_lead"),
    ], "the nudges fall due when they would have in one run"
    ends = {
        e.type: e.time
        for e in mine
        if e.type in {EventType.WELLNESS_BREAK_ENDED, EventType.WELLNESS_ROTATION_ENDED}
    }
    assert ends == {
        EventType.WELLNESS_BREAK_ENDED: before.break_until,
        EventType.WELLNESS_ROTATION_ENDED: before.rotation_until,
    }
    ids = [e.id for e in mine]
    assert len(ids) == len(set(ids)), "no event id repeats across runs"
