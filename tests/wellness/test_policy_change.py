"""A changed `wellness:` section reaches the workflows already running: the `set_policy` signal,
what it does to a shift in progress, continue-as-new carrying it, and `warmline worker` handing
it over when it starts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from tests.worker_process import start_worker
from warmline.config.loader import load_config
from warmline.events import EventType
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.policy import (
    BreakReason,
    ExposureRecord,
    Shift,
    Wellness,
    WellnessPolicy,
    WellnessState,
)
from warmline.wellness.types import (
    BreakRequest,
    CheckInRequest,
    WellnessInput,
    wellness_workflow_id,
)
from workflows.wellness import VIEW_WRITES_ARE_VERSIONED, WellnessWorkflow

DAY = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
OLD = WellnessPolicy(
    budget_per_shift=4 * H,
    shift_length=8 * H,
    break_duration=10 * M,
    checkin_cadence=2 * H,
    max_consecutive_crisis=2,
)
CONFIG = Path(__file__).resolve().parents[2] / "examples" / "online-shop" / "warmline.yaml"


def on_shift(policy: WellnessPolicy = OLD) -> Wellness:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), policy)
    wellness.schedule(Shift(shift_id="s-1", starts_at=DAY, ends_at=DAY + 8 * H), DAY)
    return wellness


def calm(record_id: str, weighted: float) -> ExposureRecord:
    """Elevated distress (weight 1), not intense: `weighted` minutes of exposure, no break."""
    return ExposureRecord(record_id=record_id, minutes=weighted, distress=0.5)


# --- the rules: `Wellness.adopt` ------------------------------------------------------------


def test_a_running_break_keeps_its_end_and_the_next_one_takes_the_new_length() -> None:
    wellness = on_shift()
    wellness.break_now(None, DAY + H)
    assert wellness.state.break_until == DAY + H + 10 * M

    wellness.adopt(OLD.model_copy(update={"break_duration": 25 * M}), DAY + H + 5 * M)
    assert wellness.state.break_until == DAY + H + 10 * M
    assert wellness.state.break_reason == BreakReason.REQUESTED

    wellness.advance(DAY + 2 * H)
    wellness.break_now(None, DAY + 2 * H)
    assert wellness.state.break_until == DAY + 2 * H + 25 * M


def test_a_lowered_budget_applies_at_once_and_a_raised_one_undoes_nothing() -> None:
    wellness = on_shift()
    wellness.record(calm("r-1", 90), DAY + 2 * H)
    assert not wellness.state.over_budget
    wellness.outbox.clear()

    wellness.adopt(OLD.model_copy(update={"budget_per_shift": H}), DAY + 3 * H)
    assert wellness.state.over_budget
    assert wellness.state.budget_breaches == 1
    assert wellness.state.rotation_until == DAY + 3 * H + OLD.rotation_cooldown
    assert [(e.type, e.data.get("budget_minutes")) for e in wellness.outbox] == [
        (EventType.WELLNESS_EXPOSURE_UPDATED, 60.0),
        (EventType.WELLNESS_ROTATION_STARTED, None),
        (EventType.WELLNESS_BUDGET_EXCEEDED, 60.0),
    ]
    assert wellness.state.view(wellness.policy, DAY + 3 * H).budget_minutes == 60.0

    wellness.outbox.clear()
    wellness.adopt(OLD, DAY + 3 * H + M)
    assert wellness.state.over_budget, "reached under the rules of the time"
    assert wellness.state.budget_breaches == 1
    assert [e.type for e in wellness.outbox] == [EventType.WELLNESS_EXPOSURE_UPDATED]


def test_the_next_cadence_checkin_moves_to_one_new_cadence_after_the_last() -> None:
    wellness = on_shift()
    assert wellness.state.next_checkin_at == DAY + 2 * H
    wellness.adopt(OLD.model_copy(update={"checkin_cadence": H}), DAY + 30 * M)
    assert wellness.state.next_checkin_at == DAY + H
    # A cadence whose next check-in has passed asks now, not in the past.
    wellness.adopt(OLD.model_copy(update={"checkin_cadence": 20 * M}), DAY + 30 * M)
    assert wellness.state.next_checkin_at == DAY + 30 * M
    wellness.advance(DAY + 30 * M)
    assert wellness.state.pending is not None
    assert wellness.state.pending.requested_at == DAY + 30 * M
    assert wellness.state.next_checkin_at == DAY + 50 * M


def test_a_lowered_crisis_cap_blocks_crises_at_once() -> None:
    wellness = on_shift()
    crisis = ExposureRecord(record_id="c-1", minutes=10, crisis=True)
    wellness.record(crisis, DAY + H)
    assert not wellness.state.crisis_blocked
    wellness.adopt(OLD.model_copy(update={"max_consecutive_crisis": 1}), DAY + H + M)
    assert wellness.state.crisis_blocked


def test_between_shifts_only_the_policy_changes() -> None:
    wellness = Wellness(WellnessState(worker_id="sp-ida"), OLD)
    before = wellness.state
    new = OLD.model_copy(update={"budget_per_shift": H, "checkin_cadence": H})
    wellness.adopt(new, DAY)
    assert wellness.state == before
    assert wellness.outbox == []
    assert wellness.policy == new


# --- the workflow: the `set_policy` signal and continue-as-new ------------------------------


async def test_a_running_workflow_adopts_a_new_policy_and_keeps_it_after_continue_as_new(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    worker = "sp-ida"
    workflow_id = wellness_workflow_id(wellness.deployment, worker)
    start = await workflow_env.get_current_time()
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id=worker,
            policy=OLD,
            shifts=[Shift(shift_id="s-1", starts_at=start, ends_at=start + 8 * H)],
            continue_as_new_after=4,
        ),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=4))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=8))
    assert "between 1 and 5" in str(refused.value.cause)
    view = await handle.execute_update(WellnessWorkflow.record_work, calm("r-1", 90))
    assert (view.exposure_minutes, view.budget_minutes, view.over_budget) == (90, 240, False)

    # The configuration now has a 1-10 scale and a budget of one hour.
    new = OLD.model_copy(update={"scale_max": 10, "budget_per_shift": H})
    await handle.signal(WellnessWorkflow.set_policy, new)
    view = await wellness.view_when(worker, lambda v: v.budget_minutes == 60)
    assert view.over_budget
    assert view.rotated_off_intense
    exceeded = [e for e in wellness.events.read(6) if e.type == EventType.WELLNESS_BUDGET_EXCEEDED]
    assert [e.data["budget_minutes"] for e in exceeded] == [60.0]

    answered = await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=8))
    assert answered.checkins_submitted == 2
    # That was the fourth change: the next run carries the policy in force, not the first one.
    for _ in range(100):
        latest = await client.get_workflow_handle(workflow_id).describe()
        if latest.run_id != handle.first_execution_run_id:
            break
        await asyncio.sleep(0.05)
    assert latest.run_id != handle.first_execution_run_id, "continued as new"
    answered = await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=9))
    assert answered.budget_minutes == 60
    assert answered.over_budget
    # Check-ins given on the old scale are kept as they were given.
    history = await handle.query(WellnessWorkflow.checkins)
    assert [c.mood for c in history.checkins] == [4, 8, 9]


async def test_the_same_policy_again_changes_nothing(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    """Every worker start hands the policy over; an unchanged one must not add work or events."""
    client = workflow_env.client
    workflow_id = wellness_workflow_id(wellness.deployment, "sp-jo")
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(deployment=wellness.deployment, worker_id="sp-jo", policy=OLD),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    await wellness.view_when("sp-jo", lambda v: v.updated_at is not None)
    await handle.signal(WellnessWorkflow.set_policy, OLD.model_copy())
    # An update after the signal: once it answers, the signal has been handled.
    await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=5))
    history = await handle.fetch_history()
    syncs = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    markers = [
        str(e.marker_recorded_event_attributes)
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    # The only patch marker is the first view's version (every sync takes it), none of the
    # policy's: an unchanged policy takes no new path.
    assert len(syncs) == 2, "the first view and the break's"
    assert len(markers) == 1, markers
    assert VIEW_WRITES_ARE_VERSIONED in markers[0]
    assert (await handle.query(WellnessWorkflow.state)).steps == 1, "only the break started"


# --- `warmline worker` hands the configured policy to running workflows at start ------------


async def test_worker_start_hands_the_configured_policy_to_running_workflows(
    namespace_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
    task_queue: str,
) -> None:
    """The audit's case: the scale went from 1-3 to the configuration's 1-5 and the budget
    from 8 h to its 4 h; before, `SubmitCheckIn(mood=5)` was refused for good."""
    config = load_config(CONFIG, resolve_secrets=False)
    configured = wellness_policy(config)
    started_with = configured.model_copy(update={"scale_max": 3, "budget_per_shift": 8 * H})
    running = "sp-jonas"
    workflow_id = wellness_workflow_id(config.metadata.name, running)
    handle = await namespace_client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(deployment=config.metadata.name, worker_id=running, policy=started_with),
        id=workflow_id,
        task_queue=task_queue,
    )
    process, said = start_worker(
        [
            "--config",
            str(CONFIG),
            "--temporal",
            temporal_address,
            "--namespace",
            namespace_client.namespace,
            "--kafka",
            kafka_bootstrap,
            "--redis",
            redis_url,
            "--task-queue",
            task_queue,
        ],
        secrets_in=CONFIG,
        topic=f"events-{uuid.uuid4().hex[:8]}",
    )
    try:
        assert any("worker ready" in line for line in said), "".join(said)
        answered = await handle.execute_update(
            WellnessWorkflow.submit_checkin, CheckInRequest(mood=5)
        )
        assert answered.budget_minutes == configured.budget_minutes == 240
        others = len(worker_kinds(config)) - 1
        assert (
            f"wellness policy: handed to 1 running workflow(s), {others} not running, 0 failed"
            in "".join(said)
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        await handle.terminate()
