"""An 8-hour shift with crises on the time-skipping server: exact breaks, check-ins, rotation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.events import DomainEvent
from warmline.wellness.policy import ExposureRecord, Shift, WellnessPolicy, WorkerKind
from warmline.wellness.types import (
    BreakRequest,
    CheckInRequest,
    EndBreakRequest,
    WellnessInput,
    wellness_workflow_id,
)
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(
    budget_per_shift=timedelta(hours=4),
    shift_length=timedelta(hours=8),
    break_after_crisis=timedelta(minutes=15),
    break_after_intense=timedelta(minutes=90),
    break_duration=timedelta(minutes=10),
    max_consecutive_crisis=2,
    checkin_cadence=timedelta(hours=2),
    checkin_triggers=["after_crisis", "budget_80", "after_hostile", "end_of_shift"],
    rotate_at_budget=0.8,
    rotation_cooldown=timedelta(minutes=45),
    intense_queues=["crisis", "grief"],
    wellness_leads=["sup-lead"],
)
H = timedelta(hours=1)
M = timedelta(minutes=1)
STEP = timedelta(minutes=10)
# A signal or update lands within this of its planned moment (the server's clock also runs).
SLACK = timedelta(seconds=2)


class Shift8h:
    def __init__(self, env: WorkflowEnvironment, start: datetime) -> None:
        self.env = env
        self.start = start

    async def at(self, offset: timedelta) -> None:
        # In steps: one long skip of the test server is fragile under load.
        while (left := self.start + offset - await self.env.get_current_time()) > timedelta(0):
            await self.env.sleep(min(left, STEP))


def conversation(record_id: str, minutes: float, **kwargs: object) -> ExposureRecord:
    return ExposureRecord.model_validate({"record_id": record_id, "minutes": minutes, **kwargs})


def summary(event: DomainEvent) -> tuple[str, str]:
    data = event.data
    keys = [k for k in ("reason", "exposure_minutes", "off_queues") if k in data]
    detail = str(data[keys[0]]) if keys else ""
    if data.get("recipient") == "wellness_lead":
        detail = f"{detail} -> lead"
    short = event.type.value.removeprefix("io.warmline.wellness.").removesuffix(".v1")
    return short, str(detail)


async def test_an_eight_hour_shift_with_crises(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    t0 = await workflow_env.get_current_time()
    start = t0.replace(microsecond=0) + M
    shift = Shift(shift_id="s-1", starts_at=start, ends_at=start + 8 * H)
    workflow_id = wellness_workflow_id(wellness.deployment, "sp-ana")
    handle: WorkflowHandle[WellnessWorkflow, None] = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id="sp-ana",
            kind=WorkerKind.SPECIALIST,
            policy=POLICY,
            shifts=[shift],
        ),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    day = Shift8h(workflow_env, start)

    async def checkin(mood: int, *, break_now: bool = False) -> None:
        await handle.execute_update(
            WellnessWorkflow.submit_checkin,
            CheckInRequest(mood=mood, note="private words", break_now=break_now),
        )

    await day.at(30 * M)
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-1", 30, distress=0.5, queue="general")
    )
    await day.at(H)
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-2", 20, crisis=True, queue="crisis")
    )
    await day.at(H + 20 * M)
    await checkin(3)
    await day.at(2 * H + 10 * M)
    await checkin(4)
    await day.at(2 * H + 40 * M)
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-3", 20, crisis=True, queue="crisis")
    )
    blocked = await wellness.view_when("sp-ana", lambda v: v.exposure_minutes == 150)
    assert blocked.crisis_blocked
    assert blocked.on_break
    assert not blocked.may_take_any
    await day.at(2 * H + 45 * M)
    await checkin(2)
    await day.at(3 * H + 10 * M)
    await handle.signal(
        WellnessWorkflow.record_exposure,
        conversation("c-4", 15, distress=0.8, hostile=True, queue="grief"),
    )
    # The same record again (a redelivery) counts once.
    await handle.signal(
        WellnessWorkflow.record_exposure,
        conversation("c-4", 15, distress=0.8, hostile=True, queue="grief"),
    )
    await day.at(3 * H + 20 * M)
    await checkin(3)
    rotated = await wellness.view_when("sp-ana", lambda v: v.checkins_submitted == 4)
    assert rotated.rotated_off_intense
    assert not rotated.crisis_blocked
    assert not rotated.may_take_intense
    assert rotated.may_take_any
    await day.at(4 * H + M)
    await checkin(2, break_now=True)
    # "I need a break now" holds in Redis as soon as the update returns.
    assert wellness.store.read(["sp-ana"])["sp-ana"].on_break
    await day.at(5 * H)
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-5", 60, distress=0.8, queue="grief")
    )
    await day.at(6 * H + 45 * M)
    over = wellness.store.read(["sp-ana"])["sp-ana"]
    assert over.over_budget
    assert not over.rotated_off_intense
    assert not over.may_take_intense
    assert over.may_take_any
    assert over.exposure_minutes == 315
    await checkin(3)
    await day.at(8 * H + 5 * M)

    events = wellness.events.read(33)
    assert [summary(e) for e in events] == [
        ("exposure.updated", "0.0"),
        ("exposure.updated", "30.0"),
        ("exposure.updated", "90.0"),
        ("break.started", "after_crisis"),
        ("checkin.requested", "after_crisis"),
        ("break.ended", "after_crisis"),
        ("checkin.requested", "missed:after_crisis"),
        ("checkin.submitted", ""),
        ("checkin.requested", "cadence"),
        ("checkin.submitted", ""),
        ("exposure.updated", "150.0"),
        ("break.started", "after_crisis"),
        ("checkin.requested", "after_crisis"),
        ("checkin.submitted", ""),
        ("break.ended", "after_crisis"),
        ("exposure.updated", "195.0"),
        ("checkin.requested", "after_hostile"),
        ("rotation.started", "['crisis', 'grief']"),
        ("checkin.submitted", ""),
        ("rotation.ended", ""),
        ("checkin.requested", "cadence"),
        ("checkin.submitted", ""),
        ("break.started", "requested"),
        ("break.ended", "requested"),
        ("exposure.updated", "315.0"),
        ("break.started", "after_intense"),
        ("budget.exceeded", "315.0"),
        ("break.ended", "after_intense"),
        ("checkin.requested", "cadence"),
        ("checkin.requested", "missed:cadence"),
        ("checkin.requested", "missed:cadence -> lead"),
        ("checkin.submitted", ""),
        ("checkin.requested", "end_of_shift"),
    ]
    assert all(e.subject == "sp-ana" for e in events)
    assert len({e.id for e in events}) == len(events)
    # No note and no mood ever leaves warmline.
    assert all("note" not in e.data and "mood" not in e.data for e in events)

    when = [e.time - start for e in events]
    # Timers fire exactly: the shift's start and end, the cadence, breaks' and rotation's ends,
    # nudges 15 and 30 minutes after an unanswered check-in.
    assert when[0] == timedelta(0)
    assert when[8] == 2 * H
    assert when[20] == 4 * H
    assert when[28] == 6 * H
    assert when[29] == 6 * H + 15 * M
    assert when[30] == 6 * H + 30 * M
    assert events[30].data["wellness_leads"] == ["sup-lead"]
    assert when[32] == 8 * H
    for started, ended, length in [(3, 5, 15 * M), (11, 14, 15 * M), (22, 23, 10 * M)]:
        until = datetime.fromisoformat(events[started].data["until"])
        assert until - events[started].time == length
        assert events[ended].time == until
    assert when[25] - when[24] == timedelta(0)
    assert when[27] - when[25] == 10 * M
    rotation_until = datetime.fromisoformat(events[17].data["until"])
    assert rotation_until - events[17].time == 45 * M
    assert events[19].time == rotation_until
    assert when[6] - when[4] == 15 * M
    # What the signals and updates caused happened when they were sent.
    planned = {1: 30 * M, 2: H, 7: H + 20 * M, 10: 2 * H + 40 * M, 15: 3 * H + 10 * M}
    planned |= {21: 4 * H + M, 24: 5 * H, 31: 6 * H + 45 * M}
    for index, offset in planned.items():
        assert abs(when[index] - offset) < SLACK, (index, when[index])

    state = await handle.query(WellnessWorkflow.state)
    assert state.shift is None
    assert state.breaks_taken == 4
    assert state.budget_breaches == 1
    assert state.checkins_requested == 7
    assert state.checkins_submitted == 6
    history = await handle.query(WellnessWorkflow.checkins)
    assert [c.mood for c in history.checkins] == [3, 4, 2, 3, 2, 3]


async def test_a_break_the_worker_asked_for_can_end_early_but_not_a_mandatory_one(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    workflow_id = wellness_workflow_id(wellness.deployment, "sp-ben")
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(deployment=wellness.deployment, worker_id="sp-ben", policy=POLICY),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    on_break = await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=20))
    assert on_break.on_break
    assert wellness.store.read(["sp-ben"])["sp-ben"].on_break
    back = await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    assert not back.on_break
    assert not wellness.store.read(["sp-ben"])["sp-ben"].on_break
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-9", 10, crisis=True, queue="crisis")
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    assert "cannot be cut short" in str(refused.value.cause)
    # Asking for a longer break lengthens the mandatory one; it does not make it one to end.
    longer = await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=60))
    assert longer.on_break
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    assert "cannot be cut short" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=9))
    assert "between 1 and 5" in str(refused.value.cause)


async def test_the_workflow_continues_as_new_and_keeps_its_state(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    workflow_id = wellness_workflow_id(wellness.deployment, "sp-cai")
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id="sp-cai",
            policy=POLICY,
            continue_as_new_after=3,
        ),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    for n in range(6):
        view = await handle.execute_update(
            WellnessWorkflow.record_work, conversation(f"c-{n}", 10, distress=0.5, queue="general")
        )
        assert view.exposure_minutes == 10 * (n + 1)
    # The same record once more, in a later run, still counts once.
    again = await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-0", 10, distress=0.5, queue="general")
    )
    assert again.exposure_minutes == 60
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.run_id != handle.first_execution_run_id
