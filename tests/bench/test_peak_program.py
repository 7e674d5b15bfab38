"""The floor under the policy: each rule binds where every timing inside the acceptance windows
breaks it, and a late escalation is free of them all. Small days with hand-computed floors."""

from __future__ import annotations

import math

from bench.peak_program import Job, Limits, peak_bound
from bench.wellness_routing import Day, Member

LISTENING = frozenset({"listening"})
CRISIS = frozenset({"crisis"})
THREE_MINUTES = 0.05
TWENTY_SECONDS = 20 / 3600
TWENTY_MINUTES = 1 / 3


def _member(ident: str, *, capacity: int = 1, crisis: bool = False, starts: float = 0) -> Member:
    skills = ("listening", "crisis") if crisis else ("listening",)
    return Member(ident, crisis, capacity, starts, starts + 8, skills)


def _day(*team: Member) -> Day:
    return Day(seed=1, hours=10, team=team, contacts=())


def _limits(
    team: tuple[Member, ...],
    *,
    budget: float = 1000.0,
    rotate_at: float = 1.0,
    rotation_h: float = 0.0,
    in_a_row: int = 1,
) -> Limits:
    return Limits(
        budget={m.id: budget for m in team},
        rotate_at=rotate_at,
        rotation_h=rotation_h,
        max_consecutive_crisis=in_a_row,
    )


def _listening(
    name: str, at: float, exposure: float, hours: float, *, intense: bool = False
) -> Job:
    return Job(name, at, exposure, LISTENING, hours, THREE_MINUTES, intense=intense)


def _crisis(
    name: str, at: float, exposure: float, hours: float, rest: float = TWENTY_MINUTES
) -> Job:
    return Job(name, at, exposure, CRISIS, hours, TWENTY_SECONDS, True, True, rest)


def _floors(day: Day, jobs: list[Job], limits: Limits, misses: int = 0) -> tuple[float, float]:
    relaxed = peak_bound(day, jobs, time_limit=5)
    kept = peak_bound(day, jobs, time_limit=5, limits=limits, misses=misses)
    assert relaxed.optimal
    assert kept.optimal
    return relaxed.floor, kept.floor


def test_one_at_a_time_people_cannot_hold_overlapping_conversations() -> None:
    day = _day(_member("a"), _member("b"))
    jobs = [_listening(f"c{n}", 1.0 + n / 100, 100.0, 1.0) for n in range(3)]
    limits = _limits(day.team)
    assert _floors(day, jobs, limits) == (200.0, math.inf)
    # The third customer, accepted late, waits for whoever finishes first.
    assert _floors(day, jobs, limits, misses=1) == (200.0, 200.0)


def test_someone_who_holds_two_holds_no_third() -> None:
    day = _day(_member("a"), _member("v", capacity=2))
    three = [_listening(f"c{n}", 1.0 + n / 100, 100.0, 1.0) for n in range(3)]
    assert _floors(day, three, _limits(day.team)) == (200.0, 200.0)
    four = [*three, _listening("c3", 1.03, 100.0, 1.0)]
    assert _floors(day, four, _limits(day.team))[1] == math.inf
    assert _floors(day, four, _limits(day.team), misses=1)[1] == 200.0


def test_nobody_is_offered_work_during_the_break_after_a_crisis() -> None:
    day = _day(_member("a", crisis=True), _member("v"))
    jobs = [
        _crisis("c1", 1.0, 120.0, 0.5),
        _listening("g1", 1.6, 100.0, 0.2),
        _listening("g2", 1.62, 100.0, 0.2),
    ]
    limits = _limits(day.team)
    # One of the two overlapping listeners must go to a, still on the break that began by 1.51.
    assert _floors(day, jobs, limits) == (200.0, math.inf)
    no_break = [Job("c1", 1.0, 120.0, CRISIS, 0.5, TWENTY_SECONDS, True, True), *jobs[1:]]
    assert _floors(day, no_break, limits) == (200.0, 220.0)
    assert _floors(day, jobs, limits, misses=1) == (200.0, 200.0)


def test_the_break_binds_someone_who_holds_two_as_well() -> None:
    day = _day(_member("a", capacity=2, crisis=True), _member("v"))
    jobs = [
        _crisis("c1", 1.0, 120.0, 0.5),
        _listening("g1", 1.6, 100.0, 0.2),
        _listening("g2", 1.62, 100.0, 0.2),
    ]
    assert _floors(day, jobs, _limits(day.team))[1] == math.inf
    no_break = [Job("c1", 1.0, 120.0, CRISIS, 0.5, TWENTY_SECONDS, True, True), *jobs[1:]]
    assert _floors(day, no_break, _limits(day.team))[1] == 220.0


def _over_the_top() -> tuple[Day, list[Job]]:
    """a or b takes a long conversation worth 160; then two intense ones overlap at 2.0."""
    day = _day(_member("a"), _member("b"))
    return day, [
        _listening("long", 1.0, 160.0, 0.5),
        _listening("p1", 2.0, 50.0, 0.2, intense=True),
        _listening("p2", 2.02, 50.0, 0.2, intense=True),
    ]


def test_nobody_over_budget_takes_intense_work() -> None:
    day, jobs = _over_the_top()
    # Whoever took the long one is over a budget of 150 and may not take p1 or p2.
    assert _floors(day, jobs, _limits(day.team, budget=150.0)) == (160.0, math.inf)
    assert _floors(day, jobs, _limits(day.team, budget=200.0)) == (160.0, 210.0)


def test_nobody_rotated_off_takes_intense_work_until_the_cooldown_ends() -> None:
    day, jobs = _over_the_top()
    # The long conversation crosses the rotation share (150 of 1000) when it ends, by 1.55.
    hour = _limits(day.team, rotate_at=0.15, rotation_h=1.0)
    assert _floors(day, jobs, hour)[1] == math.inf
    quarter = _limits(day.team, rotate_at=0.15, rotation_h=0.25)
    assert _floors(day, jobs, quarter)[1] == 210.0


def test_a_second_crisis_needs_an_ordinary_conversation_in_between() -> None:
    day = _day(_member("a", crisis=True), _member("v"))
    crises = [_crisis("c1", 1.0, 100.0, 0.5), _crisis("c2", 3.0, 100.0, 0.5)]
    assert _floors(day, crises, _limits(day.team)) == (200.0, math.inf)
    between = [*crises, _listening("g1", 2.0, 10.0, 0.2)]
    assert _floors(day, between, _limits(day.team)) == (200.0, 210.0)
    assert _floors(day, crises, _limits(day.team, in_a_row=2)) == (200.0, 200.0)


def test_on_time_means_on_shift_within_the_window() -> None:
    day = _day(_member("a"), _member("late", starts=2.0))
    jobs = [_listening("c1", 1.9, 100.0, 1.0), _listening("c2", 1.91, 100.0, 1.0)]
    assert _floors(day, jobs, _limits(day.team)) == (100.0, math.inf)
    assert _floors(day, jobs, _limits(day.team), misses=1) == (100.0, 100.0)
