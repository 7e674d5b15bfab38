"""Team figures count only the shift people are on: a view keeps its last shift's figures after it
ends, and those must not stand in for people working now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warmline.wellness.aggregate import GroupFigures, team_figures
from warmline.wellness.view import WorkerWellness

WRITTEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ended(worker: str, minutes: float, **fields: object) -> WorkerWellness:
    """The view of a worker whose shift ended yesterday, as the workflow left it."""
    return WorkerWellness.model_validate(
        {
            "worker_id": worker,
            "updated_at": WRITTEN - timedelta(hours=15),
            "in_shift": False,
            "exposure_minutes": minutes,
            "exposure_by_queue": {"care": minutes} if minutes else {},
            **fields,
        }
    )


def working(worker: str, minutes: float, **fields: object) -> WorkerWellness:
    return WorkerWellness.model_validate(
        {
            "worker_id": worker,
            "updated_at": WRITTEN,
            "in_shift": True,
            "shift_ends_at": WRITTEN + timedelta(hours=7),
            "exposure_minutes": minutes,
            "exposure_by_queue": {"care": minutes} if minutes else {},
            **fields,
        }
    )


def groups_of(team: list[WorkerWellness], size: int = 3) -> dict[tuple[str, str], GroupFigures]:
    return {(g.kind, g.name): g for g in team_figures(team, queues=["care"], min_group_size=size)}


def test_yesterdays_exposure_does_not_make_up_the_group_behind_todays_mean() -> None:
    """Ana is the only one working today. Counted, Bob's and Cy's figures from yesterday would
    show the mean, and every change in it until they start again would be Ana's alone."""
    team = [
        working("ana", 30.0, checkins_requested=1, checkins_answered=0),
        ended("bob", 100.0, budget_breaches=1, checkins_requested=2, checkins_answered=2),
        ended("cy", 80.0, checkins_requested=2, checkins_answered=1),
    ]
    groups = groups_of(team)
    specialists = groups[("team", "specialists")]
    assert (specialists.suppressed, specialists.workers) == (False, 3)
    assert specialists.exposure_withheld
    assert (specialists.mean_exposure_minutes, specialists.budget_breaches) == (0.0, 0)
    assert specialists.checkins_withheld
    assert specialists.checkin_participation == 0.0
    # Nobody but Ana worked care today: it is not a group of three.
    assert groups[("queue", "care")].suppressed


def test_once_enough_are_on_shift_their_figures_are_shown_without_yesterdays() -> None:
    team = [working(name, 10.0 * n) for n, name in enumerate(("ana", "dee", "eli"), start=1)]
    team += [ended("bob", 100.0, breaks_taken=3, on_break=True)]
    specialists = groups_of(team)[("team", "specialists")]
    assert specialists.workers == 4
    assert not specialists.exposure_withheld
    assert specialists.mean_exposure_minutes == 15.0  # 60 minutes today over four people
    assert (specialists.breaks_taken, specialists.on_break_now) == (0, 0)


def test_someone_off_shift_is_no_cover_for_a_teammates_breaks() -> None:
    """Three worked care today, Dee is on shift and has done nothing but take a break, Bob is off
    shift (his last shift saw no conversation). The team's breaks less care's are Dee's: Bob
    could have taken none today."""
    team = [working(name, 10.0) for name in ("ana", "cy", "eli")]
    team += [working("dee", 0.0, breaks_taken=1, on_break=True), ended("bob", 0.0)]
    groups = groups_of(team, size=2)
    specialists, care = groups[("team", "specialists")], groups[("queue", "care")]
    assert (specialists.breaks_taken, specialists.on_break_now) == (1, 1)
    assert not care.suppressed
    assert care.breaks_withheld
    assert (care.breaks_taken, care.on_break_now) == (0, 0)
