"""Property: under the wellness-aware strategy no intense offer reaches someone on a break or over
budget, and nobody else eligible is ever left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wellness.strategies import DAY, Step, days, play
from warmline.roster import MemberState, RosterMember, RosterMemberView
from warmline.routing import (
    IN_PROGRESS_EXPOSURE,
    RoutingRequest,
    SpecialistState,
    admission_named,
    candidates,
    count_work_in_hand,
    eligible,
    hold_crisis_responder,
    strategy_named,
)
from warmline.wellness.policy import Shift

WORKERS = ["w-a", "w-b", "w-c", "w-d", "w-e"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(days, min_size=len(WORKERS), max_size=len(WORKERS)),
    st.integers(0, 720),
    st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.booleans()), min_size=5, max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_no_offer_from_an_intense_queue_reaches_anyone_on_break_or_over_budget(
    team_days: list[tuple[list[Shift], list[Step]]],
    minute: int,
    members: list[tuple[bool, int, bool]],
    intense: bool,
    crisis: bool,
) -> None:
    views = {
        worker: play(worker, schedule, stream, minute)
        for worker, (schedule, stream) in zip(WORKERS, team_days, strict=True)
    }
    states: list[SpecialistState] = []
    for worker, (available, active, trained) in zip(WORKERS, members, strict=True):
        member = RosterMember(id=worker, skills=["listening"], capacity=2, crisis_trained=trained)
        state = MemberState(id=worker, available=available, conversations=["c"] * active)
        view = RosterMemberView(member=member, state=state, reserved=0)
        # As the roster does: each shift's outlook with the work in hand, and the next crisis
        # responder held back from ordinary work.
        states.append(view.routing_state_with(views[worker], DAY + timedelta(minutes=minute)))
    strategy, admits = strategy_named("wellness_aware"), admission_named("wellness_aware")
    states = count_work_in_hand(states)
    if not crisis:
        states = hold_crisis_responder(states, strategy, admits)
    request = RoutingRequest(skills=frozenset({"listening"}), intense=intense, crisis=crisis)

    offered = candidates(request, states, strategy, admits)

    ids = {s.id for s in offered}
    for worker in ids:
        wellness = views[worker]
        assert wellness.may_take_any, f"{worker} is on a break: {wellness}"
        if intense or crisis:
            assert wellness.may_take_intense, f"{worker} is over budget or rotated off: {wellness}"
        if crisis:
            assert wellness.may_take_crisis, (
                f"{worker} reached the consecutive-crisis cap: {wellness}"
            )
    # Nobody eligible and admissible is left out, and the least exposed come first, by where
    # their shift is heading with the work in hand (the next crisis responder last for ordinary
    # work).
    admissible = {
        s.id
        for s in eligible(request, states)
        if views[s.id].may_take_any
        and (views[s.id].may_take_intense or not (intense or crisis))
        and (views[s.id].may_take_crisis or not crisis)
    }
    assert ids == admissible
    outlook = [(s.held_for_crisis, s.projected_exposure) for s in offered]
    assert all(o is not None for _, o in outlook)
    assert outlook == sorted(outlook)
    # At most one person is held, and only for ordinary work.
    assert sum(s.held_for_crisis for s in states) <= (0 if crisis else 1)
    for s in offered:
        wellness = views[s.id]
        assert s.projected_exposure is not None
        assert s.projected_exposure >= s.exposure_minutes
        if wellness.shift_ends_at is None:
            assert s.projected_exposure == s.exposure_minutes + IN_PROGRESS_EXPOSURE * s.active


def test_without_wellness_views_the_strategy_ranks_as_longest_idle() -> None:
    """Old histories and deployments with no views see the same order as before."""

    team = [
        SpecialistState(
            id="b", skills=frozenset(), capacity=2, idle_since=datetime(2026, 1, 2, tzinfo=UTC)
        ),
        SpecialistState(
            id="a", skills=frozenset(), capacity=2, idle_since=datetime(2026, 1, 1, tzinfo=UTC)
        ),
        SpecialistState(id="c", skills=frozenset(), capacity=2),
    ]
    request = RoutingRequest()
    classic = candidates(request, team, strategy_named("longest_idle"))
    aware = candidates(
        request, team, strategy_named("wellness_aware"), admission_named("wellness_aware")
    )
    assert [s.id for s in aware] == [s.id for s in classic] == ["c", "a", "b"]
