"""Team figures: per team and per queue, suppressed below the group size, never a person."""

from __future__ import annotations

from typing import Literal

from warmline.wellness.aggregate import team_figures
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
    general = groups[("queue", "general")]
    assert (general.suppressed, general.workers, general.mean_exposure_minutes) == (False, 3, 5.0)
