"""The exposure budget of a shift, and the outlook routing reads from it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from tests.wellness.conftest import WellnessDeployment
from warmline.events import EventType
from warmline.roster import ReserveRequest, RosterMember, RosterSettings, WellnessFlags
from warmline.wellness.policy import ExposureRecord, Shift, Wellness, WellnessPolicy, WellnessState
from workflows.roster import RosterWorkflow

DAY = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
EIGHT_HOURS = WellnessPolicy(budget_per_shift=timedelta(hours=4), shift_length=timedelta(hours=8))


def shift(hours: float) -> Shift:
    return Shift(shift_id=f"s-{hours}", starts_at=DAY, ends_at=DAY + timedelta(hours=hours))


def worked(policy: WellnessPolicy, hours: float, weighted_minutes: float) -> Wellness:
    """A worker on a shift of `hours` who handled one calm conversation worth that much."""
    wellness = Wellness(WellnessState(worker_id="w-1"), policy)
    wellness.schedule(shift(hours), DAY)
    minutes = weighted_minutes / policy.weight_calm
    record = ExposureRecord(record_id="r-1", minutes=minutes, distress=0.0)
    wellness.record(record, DAY + timedelta(minutes=minutes))
    return wellness


@pytest.mark.parametrize(
    ("hours", "pro_rata", "budget"),
    [(8, True, 240.0), (4, True, 120.0), (10, True, 300.0), (4, False, 240.0), (10, False, 240.0)],
)
def test_a_shift_gets_the_budget_pro_rata_to_its_length_when_configured(
    hours: float, pro_rata: bool, budget: float
) -> None:
    policy = EIGHT_HOURS.model_copy(update={"budget_pro_rata": pro_rata})
    assert policy.budget_for(shift(hours)) == budget
    assert policy.budget_for(None) == 240.0


def test_a_short_shift_goes_over_its_share_of_the_budget() -> None:
    prorated = worked(EIGHT_HOURS.model_copy(update={"budget_pro_rata": True}), 4, 130)
    whole = worked(EIGHT_HOURS, 4, 130)

    assert prorated.state.over_budget
    exceeded = [e for e in prorated.outbox if e.type == EventType.WELLNESS_BUDGET_EXCEEDED]
    assert [e.data["budget_minutes"] for e in exceeded] == [120.0]
    view = prorated.state.view(prorated.policy, DAY + timedelta(hours=1))
    assert view.budget_minutes == 120.0
    assert not view.may_take_intense
    # Without pro rata the 4-hour shift keeps the whole 8-hour budget.
    assert not whole.state.over_budget
    assert whole.state.view(whole.policy, DAY + timedelta(hours=1)).budget_minutes == 240.0


def test_the_view_carries_the_shift_end_and_the_budget_pace() -> None:
    wellness = worked(EIGHT_HOURS, 8, 30)
    view = wellness.state.view(wellness.policy, DAY + timedelta(hours=2))
    assert view.shift_ends_at == DAY + timedelta(hours=8)
    assert view.budget_pace == 0.5
    assert WellnessState(worker_id="w-2").view(EIGHT_HOURS, DAY).shift_ends_at is None


def test_the_outlook_adds_the_budget_pace_over_the_rest_of_the_shift() -> None:
    flags = WellnessFlags(
        exposure_minutes=30.0, budget_pace=0.5, shift_ends_at=DAY + timedelta(hours=2)
    )
    assert flags.projected_exposure(DAY) == 90.0
    assert flags.projected_exposure(DAY + timedelta(hours=1, minutes=30)) == 45.0
    # Past the shift's end, or with no shift known, the outlook is the exposure itself.
    assert flags.projected_exposure(DAY + timedelta(hours=3)) == 30.0
    assert WellnessFlags(exposure_minutes=30.0, budget_pace=0.5).projected_exposure(DAY) == 30.0


async def test_the_roster_counts_work_in_hand_and_holds_the_next_crisis_responder(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    """Outlooks (exposure plus the budget's pace to the shift's end): `early-a` 130, `early-b`
    140, `volunteer` 180, `late` 240. The next crisis would go to `early-a`, so ordinary work
    goes to everyone else first. Once `early-b` holds a conversation it counts 60 more (200)
    and the volunteer comes first; a crisis still goes to `early-a`, whose shift ends lowest."""
    now = await workflow_env.get_current_time()
    members = [
        RosterMember(id="early-a", skills=["listening"], capacity=2, crisis_trained=True),
        RosterMember(id="early-b", skills=["listening"], capacity=2, crisis_trained=True),
        RosterMember(id="late", skills=["listening"], capacity=2, crisis_trained=True),
        RosterMember(id="volunteer", skills=["listening"], capacity=2),
    ]
    roster_id = f"roster/test/{uuid.uuid4().hex[:8]}"
    handle = await ensure_roster(
        workflow_env.client,
        roster_id,
        RosterSettings(members=members, strategy="wellness_aware"),
        task_queue=wellness.task_queue,
    )

    def flags(exposure: float, hours: float) -> WellnessFlags:
        ends = now + timedelta(hours=hours)
        return WellnessFlags(exposure_minutes=exposure, budget_pace=0.5, shift_ends_at=ends)

    team = {
        "early-a": flags(100.0, 1),
        "early-b": flags(110.0, 1),
        "late": flags(0.0, 8),
        "volunteer": flags(0.0, 6),
    }

    async def ranked(conversation: str, *, crisis: bool, offers: int) -> list[str]:
        request = ReserveRequest(
            conversation_id=conversation,
            offer_ids=[f"{conversation}/{n}" for n in range(offers)],
            skills=["listening"],
            crisis=crisis,
            wellness=team,
        )
        result = await handle.execute_update(RosterWorkflow.reserve, request)
        return [r.specialist_id for r in result.reservations]

    assert await ranked("c-1", crisis=False, offers=1) == ["early-b"]
    assert await ranked("c-2", crisis=False, offers=4) == [
        "volunteer",
        "early-b",
        "late",
        "early-a",
    ]
    # `early-b` is full now; the others each hold one offer of c-2 (60 more apiece).
    assert await ranked("c-crisis", crisis=True, offers=3) == ["early-a", "late"]
