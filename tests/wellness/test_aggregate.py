"""Team figures: per team and per queue, suppressed below the group size, never a person."""

from __future__ import annotations

from typing import Literal

from warmline.wellness.aggregate import OTHER_QUEUES, team_figures
from warmline.wellness.view import WorkerWellness


def worker(n: int, **fields: object) -> WorkerWellness:
    return WorkerWellness.model_validate({"worker_id": f"w-{n}", **fields})


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
    assert groups[("queue", OTHER_QUEUES)].suppressed
