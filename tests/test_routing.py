"""Routing never offers to someone who cannot take the conversation, whatever the strategy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmline.routing import (
    CRISIS_COVER_RESERVE,
    IN_PROGRESS_EXPOSURE,
    RoutingRequest,
    SpecialistState,
    UnknownStrategyError,
    admission_named,
    candidates,
    count_work_in_hand,
    eligible,
    hold_crisis_responder,
    register_strategy,
    reserve_crisis_cover,
    strategy_named,
    wellness_aware,
)

SKILLS = ["billing", "bereavement", "crisis", "de", "orders"]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STRATEGIES = ["longest_idle", "least_busy", "round_robin"]

specialist_states = st.builds(
    lambda n, skills, capacity, active, available, crisis, idle, offers: SpecialistState(
        id=f"s{n}",
        skills=frozenset(skills),
        capacity=capacity,
        active=min(active, capacity + 1),
        available=available,
        crisis_trained=crisis,
        idle_since=None if idle is None else NOW - timedelta(minutes=idle),
        offers_received=offers,
    ),
    st.integers(0, 10_000),
    st.sets(st.sampled_from(SKILLS), max_size=4),
    st.integers(1, 4),
    st.integers(0, 5),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(0, 600),
    st.integers(0, 20),
)
teams = st.lists(specialist_states, max_size=12, unique_by=lambda s: s.id)
requests = st.builds(
    RoutingRequest,
    skills=st.frozensets(st.sampled_from(SKILLS), max_size=2),
    crisis=st.booleans(),
    exclude=st.frozensets(st.sampled_from([f"s{n}" for n in range(20)]), max_size=5),
)


@given(team=teams, request=requests, name=st.sampled_from(STRATEGIES))
def test_only_and_all_eligible_specialists_are_offered(
    team: list[SpecialistState], request: RoutingRequest, name: str
) -> None:
    offered = candidates(request, team, strategy_named(name))
    assert sorted(s.id for s in offered) == sorted(s.id for s in eligible(request, team))
    for s in offered:
        assert s.available
        assert s.active < s.capacity
        assert request.skills <= s.skills
        assert s.id not in request.exclude
        assert s.crisis_trained or not request.crisis


def person(name: str, **fields: object) -> SpecialistState:
    return SpecialistState.model_validate(
        {"id": name, "skills": {"orders"}, "capacity": 2, **fields}
    )


def test_longest_idle_prefers_the_never_busy_then_the_longest_waiting() -> None:
    team = [
        person("recent", idle_since=NOW - timedelta(minutes=1)),
        person("fresh"),
        person("waiting", idle_since=NOW - timedelta(minutes=30)),
    ]
    ranked = strategy_named("longest_idle")(team)
    assert [s.id for s in ranked] == ["fresh", "waiting", "recent"]


def test_least_busy_prefers_free_capacity() -> None:
    team = [person("busy", active=1), person("free", active=0, idle_since=NOW)]
    assert [s.id for s in strategy_named("least_busy")(team)] == ["free", "busy"]


def test_crisis_goes_only_to_crisis_trained() -> None:
    team = [person("a"), person("b", crisis_trained=True)]
    offered = candidates(RoutingRequest(crisis=True), team, strategy_named("round_robin"))
    assert [s.id for s in offered] == ["b"]


def test_strategies_are_pluggable_and_unknown_names_are_clear() -> None:
    register_strategy("alphabetical-desc", lambda c: sorted(c, key=lambda s: s.id, reverse=True))
    assert [s.id for s in strategy_named("alphabetical-desc")([person("a"), person("b")])] == [
        "b",
        "a",
    ]
    with pytest.raises(UnknownStrategyError, match="unknown routing strategy 'fastest'"):
        strategy_named("fastest")


def on_shift(
    name: str, *, trained: bool, hours: float | None, outlook: float | None = 100.0
) -> SpecialistState:
    return SpecialistState(
        id=name,
        skills=frozenset(),
        capacity=1,
        crisis_trained=trained,
        exposure_minutes=50.0,
        projected_exposure=outlook,
        shift_ends_at=None if hours is None else NOW + timedelta(hours=hours),
    )


def test_the_evening_crisis_cover_is_reserved_and_nobody_else() -> None:
    """Two crisis-trained people work until the day's end: they are the evening cover. Whoever
    leaves while three or more are still on, the untrained, and anyone whose shift or outlook is
    unknown keep their outlook."""
    team = [
        on_shift("early", trained=True, hours=1),
        on_shift("mid", trained=True, hours=4),
        on_shift("late-a", trained=True, hours=8),
        on_shift("late-b", trained=True, hours=8, outlook=20.0),
        on_shift("volunteer", trained=False, hours=8),
        on_shift("unknown-shift", trained=True, hours=None),
        on_shift("no-outlook", trained=True, hours=1, outlook=None),
    ]
    outlook = {s.id: s.projected_exposure for s in reserve_crisis_cover(team)}
    assert outlook == {
        "early": 100.0,
        "mid": 100.0,  # mid, late-a and late-b are still on when mid leaves
        "late-a": 100.0 + CRISIS_COVER_RESERVE,
        "late-b": 20.0 + CRISIS_COVER_RESERVE,
        "volunteer": 100.0,
        "unknown-shift": 100.0,
        "no-outlook": None,
    }


def test_with_thin_cover_all_day_every_crisis_trained_person_is_reserved() -> None:
    team = [
        on_shift("a", trained=True, hours=2),
        on_shift("b", trained=True, hours=8),
        on_shift("c", trained=False, hours=8),
    ]
    reserved = reserve_crisis_cover(team)
    assert [s.projected_exposure for s in reserved] == [
        100.0 + CRISIS_COVER_RESERVE,
        100.0 + CRISIS_COVER_RESERVE,
        100.0,
    ]
    assert [s.exposure_minutes for s in reserved] == [50.0, 50.0, 50.0]


def test_work_in_hand_counts_on_the_outlook_until_it_ends() -> None:
    team = [
        on_shift("idle", trained=False, hours=4),
        on_shift("busy", trained=False, hours=4).model_copy(update={"capacity": 2, "active": 1}),
        on_shift("no-outlook", trained=False, hours=4, outlook=None).model_copy(
            update={"capacity": 3, "active": 2}
        ),
    ]
    counted = count_work_in_hand(team)
    assert [s.projected_exposure for s in counted] == [
        100.0,
        100.0 + IN_PROGRESS_EXPOSURE,
        50.0 + 2 * IN_PROGRESS_EXPOSURE,  # without an outlook, the exposure now
    ]
    # The idle volunteer now comes before the one already in a conversation.
    assert [s.id for s in wellness_aware(counted[:2])] == ["idle", "busy"]
    assert [s.id for s in wellness_aware(team[:2])] == ["busy", "idle"]


def test_the_next_crisis_responder_is_held_back_from_ordinary_work() -> None:
    """The crisis would go to `fresh` (lowest outlook among the crisis-trained who may take one):
    ordinary work goes to everyone else first, and to `fresh` only when nobody else can."""
    strategy, admits = strategy_named("wellness_aware"), admission_named("wellness_aware")
    team = [
        on_shift("fresh", trained=True, hours=4, outlook=60.0),
        on_shift("blocked", trained=True, hours=4, outlook=10.0).model_copy(
            update={"crisis_blocked": True}
        ),
        on_shift("trained", trained=True, hours=4, outlook=90.0),
        on_shift("volunteer", trained=False, hours=4, outlook=30.0),
    ]
    held = hold_crisis_responder(team, strategy, admits)
    assert [s.id for s in held if s.held_for_crisis] == ["fresh"]
    ordinary = RoutingRequest()
    ranked = [s.id for s in candidates(ordinary, held, strategy, admits)]
    assert ranked == ["blocked", "volunteer", "trained", "fresh"]
    # The one held is the one a crisis would reach (the roster holds nobody for a crisis).
    crisis = RoutingRequest(crisis=True, intense=True)
    assert [s.id for s in candidates(crisis, team, strategy, admits)] == ["fresh", "trained"]
    # Alone, the held person still gets the offer; with no responder nobody is held.
    assert [s.id for s in candidates(ordinary, held[:1], strategy, admits)] == ["fresh"]
    untrained = [s for s in team if not s.crisis_trained]
    assert not any(s.held_for_crisis for s in hold_crisis_responder(untrained, strategy, admits))


def test_classic_strategies_ignore_the_hold() -> None:
    team = [
        on_shift("a", trained=True, hours=4).model_copy(update={"held_for_crisis": True}),
        on_shift("b", trained=False, hours=4),
    ]
    assert [s.id for s in strategy_named("longest_idle")(team)] == ["a", "b"]
