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
