"""Routing never offers to someone who cannot take the conversation, whatever the strategy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmline.routing import (
    RoutingRequest,
    SpecialistState,
    UnknownStrategyError,
    candidates,
    eligible,
    register_strategy,
    strategy_named,
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
