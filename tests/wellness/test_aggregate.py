"""Team figures: per team and per queue, suppressed below the group size, never a person."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from warmline.api.v1 import wellness_pb2 as pb
from warmline.config.model import Wellness
from warmline.wellness.aggregate import OTHER_QUEUES, GroupFigures, team_figures
from warmline.wellness.view import WorkerWellness

WRITTEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def worker(n: int, **fields: object) -> WorkerWellness:
    """The view of a worker on shift, as the workflow wrote it (a worker with no view yet is not
    on shift)."""
    return WorkerWellness.model_validate(
        {"worker_id": f"w-{n}", "updated_at": WRITTEN, "in_shift": True, **fields}
    )


def test_groups_below_the_size_are_suppressed_and_the_rest_add_up() -> None:
    team = [
        worker(
            n,
            exposure_minutes=10.0 * n,
            exposure_by_queue={"grief": 10.0 * n} if n < 3 else {"general": 5.0},
            breaks_taken=1,
            budget_breaches=int(n == 4),
            checkins_requested=2,
            checkins_submitted=1 if n % 2 else 2,
            on_break=n == 1,
        )
        for n in range(1, 6)
    ] + [worker(9, kind="annotator", exposure_minutes=99.0)]
    groups = {
        (g.kind, g.name): g
        for g in team_figures(team, queues=["grief", "general", "crisis"], min_group_size=3)
    }
    specialists = groups[("team", "specialists")]
    assert not specialists.suppressed
    assert specialists.workers == 5
    assert specialists.mean_exposure_minutes == 30.0
    assert (specialists.breaks_taken, specialists.budget_breaches) == (5, 1)
    assert (specialists.checkins_requested, specialists.checkins_submitted) == (10, 7)
    assert specialists.checkin_participation == 0.7
    assert specialists.on_break_now == 1
    # One annotator, two people on grief, nobody on crisis: suppressed, with no figures at all.
    small: list[tuple[Literal["team", "queue"], str]] = [
        ("team", "annotators"),
        ("queue", "grief"),
        ("queue", "crisis"),
    ]
    for name in small:
        assert groups[name].suppressed
        assert groups[name].workers == 0
        assert groups[name].mean_exposure_minutes == 0.0
    # General has three people, but the team less general would be two (w-1, w-2): it goes into
    # the pool with the small queues, which all five worked.
    assert groups[("queue", "general")].suppressed
    pool = groups[("queue", OTHER_QUEUES)]
    assert (pool.suppressed, pool.workers, pool.mean_exposure_minutes) == (False, 5, 9.0)


def test_a_one_person_queue_cannot_be_read_off_the_team_less_the_other_queues() -> None:
    """The audit's case: five specialists in `listening`, one of them also in
    `listening-priority`. Team minus listening was that one person's priority exposure."""
    team = [
        worker(
            n,
            exposure_minutes=10.0 + (30.0 if n == 1 else 0.0),
            exposure_by_queue={
                "listening": 10.0,
                **({"listening-priority": 30.0} if n == 1 else {}),
            },
        )
        for n in range(1, 6)
    ]
    figures = team_figures(team, queues=["listening", "listening-priority"], min_group_size=5)
    groups = {(g.kind, g.name): g for g in figures}
    shown = {name for (kind, name), g in groups.items() if kind == "queue" and not g.suppressed}
    assert shown == {OTHER_QUEUES}, "listening alone would give the priority queue away"
    specialists, pool = groups[("team", "specialists")], groups[("queue", OTHER_QUEUES)]
    total = specialists.workers * specialists.mean_exposure_minutes
    assert total == pool.workers * pool.mean_exposure_minutes, "nothing is left to subtract"


def test_exposure_in_a_queue_removed_during_the_shift_is_pooled_not_left_out() -> None:
    """Five listeners; one also worked `outreach` before it was removed from the configuration.
    Left out of every queue, the team's exposure less `listening`'s was that one person's."""
    team = [
        worker(
            n,
            exposure_minutes=10.0 + (30.0 if n == 1 else 0.0),
            exposure_by_queue={"listening": 10.0, **({"outreach": 30.0} if n == 1 else {})},
        )
        for n in range(1, 6)
    ]
    figures = team_figures(team, queues=["listening"], min_group_size=5)
    groups = {(g.kind, g.name): g for g in figures}
    assert ("queue", "outreach") not in groups, "a queue no longer configured is never named"
    shown = {name for (kind, name), g in groups.items() if kind == "queue" and not g.suppressed}
    assert shown == {OTHER_QUEUES}, "listening alone would give the outreach worker away"
    specialists, pool = groups[("team", "specialists")], groups[("queue", OTHER_QUEUES)]
    total = specialists.workers * specialists.mean_exposure_minutes
    assert total == pool.workers * pool.mean_exposure_minutes == 80.0


def test_shown_queues_leave_no_small_remainder() -> None:
    """Every queue shown has no fewer than the group size outside it in the team, or nobody."""
    team = [
        worker(n, exposure_minutes=5.0, exposure_by_queue={"a": 5.0} if n <= 6 else {"b": 5.0})
        for n in range(1, 13)
    ]
    groups = team_figures(team, queues=["a", "b"], min_group_size=5)
    shown = {g.name: g.workers for g in groups if g.kind == "queue" and not g.suppressed}
    assert shown == {"a": 6, "b": 6}
    assert all(12 - workers >= 5 for workers in shown.values())


def test_a_team_where_one_person_has_worked_withholds_that_persons_figures() -> None:
    """Five on the team, one has worked so far: the mean times five would be her exposure, and
    the team's one budget breach and rotation would be hers."""
    team = [worker(1, exposure_minutes=240.0, budget_breaches=1, rotated_off_intense=True)]
    team += [worker(n, checkins_requested=1, checkins_answered=1) for n in range(2, 6)]
    specialists = team_figures(team, queues=[], min_group_size=3)[0]
    assert (specialists.suppressed, specialists.workers) == (False, 5)
    assert specialists.exposure_withheld
    assert (specialists.mean_exposure_minutes, specialists.budget_breaches) == (0.0, 0)
    assert specialists.rotated_off_now == 0
    assert not specialists.checkins_withheld
    assert specialists.checkin_participation == 1.0
    # Once three people have exposure, the mean is theirs and the idle two's together.
    team[1:3] = [worker(n, exposure_minutes=30.0) for n in (2, 3)]
    specialists = team_figures(team, queues=[], min_group_size=3)[0]
    assert not specialists.exposure_withheld
    assert (specialists.mean_exposure_minutes, specialists.budget_breaches) == (60.0, 1)


def test_participation_counts_answers_and_needs_enough_people_asked() -> None:
    # w-1 missed both check-ins asked of her and sent three of her own: they make up for nothing.
    team = [worker(1, checkins_requested=2, checkins_submitted=3, checkins_answered=0)]
    team += [
        worker(n, checkins_requested=2, checkins_submitted=2, checkins_answered=2) for n in (2, 3)
    ]
    specialists = team_figures(team, queues=[], min_group_size=3)[0]
    assert not specialists.checkins_withheld
    assert (specialists.checkins_requested, specialists.checkins_answered) == (6, 4)
    assert specialists.checkins_submitted == 7
    assert specialists.checkin_participation == round(4 / 6, 3)
    # Only one of them asked: that one person's participation is withheld.
    team = [worker(1, checkins_requested=2, checkins_submitted=0)]
    team += [worker(n, checkins_submitted=1) for n in (2, 3)]
    specialists = team_figures(team, queues=[], min_group_size=3)[0]
    assert specialists.checkins_withheld
    assert (specialists.checkins_requested, specialists.checkins_submitted) == (0, 0)
    assert specialists.checkin_participation == 0.0


def test_idle_teammates_do_not_count_as_cover_for_a_queue() -> None:
    """Three worked `listening`, one worked a queue no longer configured, two did nothing. The
    team's total less `listening`'s would be the fourth person's exposure."""
    team = [
        worker(n, exposure_minutes=10.0, exposure_by_queue={"listening": 10.0}) for n in (1, 2, 3)
    ]
    team += [worker(4, exposure_minutes=25.0, exposure_by_queue={"retired": 25.0})]
    team += [worker(n) for n in (5, 6)]
    groups = {
        (g.kind, g.name): g for g in team_figures(team, queues=["listening"], min_group_size=3)
    }
    specialists = groups[("team", "specialists")]
    assert (specialists.exposure_withheld, specialists.workers) == (False, 6)
    assert groups[("queue", "listening")].suppressed
    # The retired queue is pooled with `listening`: the four who worked, all the team's exposure.
    pool = groups[("queue", OTHER_QUEUES)]
    assert (pool.suppressed, pool.workers) == (False, 4)
    assert pool.mean_exposure_minutes == 13.8  # 55 weighted minutes over four


def test_an_idle_teammates_breaks_cannot_be_read_off_the_team_less_a_queue() -> None:
    """Six specialists, five worked `care` (all the team's exposure), the sixth has done nothing
    yet but take a break and send a check-in. The team's breaks, breaks now and check-ins sent
    less care's were hers."""
    team = [
        worker(
            n,
            exposure_minutes=10.0,
            exposure_by_queue={"care": 10.0},
            breaks_taken=int(n == 1),
            checkins_submitted=1,
        )
        for n in range(1, 6)
    ]
    team += [worker(6, breaks_taken=1, on_break=True, checkins_submitted=1)]
    groups = {(g.kind, g.name): g for g in team_figures(team, queues=["care"], min_group_size=5)}
    specialists, care = groups[("team", "specialists")], groups[("queue", "care")]
    assert (specialists.breaks_taken, specialists.on_break_now) == (2, 1)
    # Her exposure is none, so care's exposure is the team's, and may be shown.
    assert (care.suppressed, care.exposure_withheld, care.mean_exposure_minutes) == (
        False,
        False,
        10.0,
    )
    assert (care.breaks_taken, care.on_break_now) == (0, 0), "the team's less care's were hers"
    assert care.breaks_withheld
    assert care.checkins_submitted == 0


def test_one_persons_check_ins_cannot_be_read_off_the_team_less_a_queue() -> None:
    """Ten specialists, five in `care` (each asked once and answered), five in `general` of whom
    one was asked twice after a crisis and answered neither. Six asked: the team shows its
    participation, care (five asked) its own; the team's less care's were that one person's."""
    team = [
        worker(
            n,
            exposure_minutes=10.0,
            exposure_by_queue={"care": 10.0},
            checkins_requested=1,
            checkins_submitted=1,
            checkins_answered=1,
        )
        for n in range(1, 6)
    ]
    team += [
        worker(
            n,
            exposure_minutes=10.0,
            exposure_by_queue={"general": 10.0},
            checkins_requested=2 if n == 6 else 0,
            checkins_answered=0,
        )
        for n in range(6, 11)
    ]
    figures = team_figures(team, queues=["care", "general"], min_group_size=5)
    groups = {(g.kind, g.name): g for g in figures}
    specialists = groups[("team", "specialists")]
    assert not specialists.checkins_withheld
    assert (specialists.checkins_requested, specialists.checkins_answered) == (7, 5)
    for queue in ("care", "general"):
        shown = groups[("queue", queue)]
        assert not shown.suppressed
        assert shown.checkins_withheld, f"the team's check-ins less {queue}'s are one person's"
        assert (shown.checkins_requested, shown.checkins_answered) == (0, 0)


def test_a_queue_inside_another_cannot_give_away_the_one_person_between_them() -> None:
    """Eleven specialists: six worked `listening`, five of them also `listening-priority`, five
    others `general`. Each queue has five outside it, but listening's breaches, rotations and
    breaks less priority's were the sixth listener's."""
    team = [
        worker(
            n,
            exposure_minutes=20.0,
            exposure_by_queue={"listening": 10.0, "listening-priority": 10.0},
        )
        for n in range(1, 6)
    ]
    team += [
        worker(
            6,
            exposure_minutes=300.0,
            exposure_by_queue={"listening": 300.0},
            budget_breaches=1,
            rotated_off_intense=True,
            breaks_taken=2,
            on_break=True,
        )
    ]
    team += [
        worker(n, exposure_minutes=10.0, exposure_by_queue={"general": 10.0}) for n in range(7, 12)
    ]
    queues = ["listening", "listening-priority", "general"]
    groups = {(g.kind, g.name): g for g in team_figures(team, queues=queues, min_group_size=5)}
    listening, priority = groups[("queue", "listening")], groups[("queue", "listening-priority")]
    for field in ("budget_breaches", "rotated_off_now", "breaks_taken", "on_break_now"):
        difference = getattr(listening, field) - getattr(priority, field)
        assert difference == 0, f"listening's {field} less priority's is the sixth listener's"
    assert (listening.exposure_withheld, listening.breaks_withheld) == (True, True)
    assert (priority.exposure_withheld, priority.breaks_withheld) == (True, True)
    # The team shows them: over eleven people.
    specialists = groups[("team", "specialists")]
    assert (specialists.budget_breaches, specialists.breaks_taken) == (1, 2)


PER_PERSON: dict[str, tuple[str, Callable[[WorkerWellness], bool]]] = {
    "breaks_taken": ("breaks_withheld", lambda v: True),
    "on_break_now": ("breaks_withheld", lambda v: True),
    "budget_breaches": ("exposure_withheld", lambda v: v.exposure_minutes > 0),
    "rotated_off_now": ("exposure_withheld", lambda v: v.exposure_minutes > 0),
    "checkins_requested": ("checkins_withheld", lambda v: v.checkins_requested > 0),
    "checkins_answered": ("checkins_withheld", lambda v: v.checkins_requested > 0),
    "checkins_submitted": ("checkins_withheld", lambda v: True),
}
"""Figures that add up each member's whole-shift figure: the flag withholding them, and who can
add to them."""


@st.composite
def teams(draw: st.DrawFn) -> list[WorkerWellness]:
    people = []
    for n in range(draw(st.integers(3, 10))):
        by_queue = {
            q: 10.0 for q in ("a", "b", "c") if draw(st.integers(0, 2)) == 0 or (q == "a" and n < 4)
        }
        requested = draw(st.integers(0, 2))
        people.append(
            worker(
                n,
                exposure_minutes=sum(by_queue.values()),
                exposure_by_queue=by_queue,
                breaks_taken=draw(st.integers(0, 2)),
                on_break=draw(st.booleans()),
                budget_breaches=int(bool(by_queue) and draw(st.booleans())),
                checkins_requested=requested,
                checkins_answered=draw(st.integers(0, requested)),
                checkins_submitted=draw(st.integers(0, 2)),
            )
        )
    return people


@settings(max_examples=150, deadline=None)
@given(teams())
def test_no_sum_or_difference_of_shown_figures_is_a_few_peoples(team: list[WorkerWellness]) -> None:
    """Add and subtract the shown groups' figures every way (team, queues, pool): whenever the
    result is the plain sum over some people, at least the group size of them can add to it."""
    size = 3
    figures = team_figures(team, queues=["a", "b", "c"], min_group_size=size)
    queues = {g.name: g for g in figures if g.kind == "queue"}
    members = {q: {v.worker_id for v in team if v.exposure_by_queue.get(q, 0) > 0} for q in "abc"}
    pooled = set().union(*(members[q] for q in "abc" if queues[q].suppressed))
    shown: list[tuple[GroupFigures, set[str]]] = [
        (figures[0], {v.worker_id for v in team}),
        *((queues[q], members[q]) for q in "abc" if not queues[q].suppressed),
    ]
    pool = queues.get(OTHER_QUEUES)
    if pool is not None and not pool.suppressed:
        shown.append((pool, pooled))
    by_id = {v.worker_id: v for v in team}
    for field, (flag, adds_to) in PER_PERSON.items():
        visible = [ids for g, ids in shown if not getattr(g, flag, False)]
        for signs in itertools.product((-1, 0, 1), repeat=len(visible)):
            weight = {
                w: sum(sign * (w in ids) for sign, ids in zip(signs, visible, strict=True))
                for w in by_id
            }
            nonzero = {w: k for w, k in weight.items() if k}
            if len(set(nonzero.values())) != 1:
                continue
            adding = sum(adds_to(by_id[w]) for w in nonzero)
            assert not 0 < adding < size, (
                f"{field}: {signs} over {visible} is the sum of {sorted(nonzero)}"
            )


def test_the_group_size_is_bounded_so_team_figures_can_be_answered() -> None:
    """A group size past 2^31 was accepted, and every `GetTeamWellness` then failed INTERNAL
    (the figures do not fit the reply's int32)."""
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        Wellness(min_group_size=3_000_000_000)
    largest = Wellness(min_group_size=1000).min_group_size
    assert pb.TeamWellness(min_group_size=largest).min_group_size == largest
