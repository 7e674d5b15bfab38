"""A worker with no wellness view yet is not on shift for the team's break figures.

The view of a worker the workflow has not written yet (nobody has worked, or a new member) is the
fresh default: nothing counted, not in a shift. Before, such a view counted as on shift, so a team
of three whose other two members had no view yet showed the one working person's breaks taken,
and whether she was on a break now.
"""

from __future__ import annotations

from tests.wellness.test_team_figures_off_shift import groups_of, working
from warmline.wellness.view import WorkerWellness


def test_members_without_a_view_do_not_cover_one_person_s_breaks() -> None:
    team = [working("ana", 30.0, breaks_taken=2, on_break=True)]
    team += [WorkerWellness(worker_id=name) for name in ("bob", "cy")]
    specialists = groups_of(team)[("team", "specialists")]
    assert (specialists.suppressed, specialists.workers) == (False, 3)
    assert (specialists.breaks_taken, specialists.on_break_now) == (0, 0)
    assert specialists.breaks_withheld


def test_members_on_shift_with_views_still_show_the_breaks() -> None:
    team = [working("ana", 30.0, breaks_taken=2, on_break=True)]
    team += [working(name, 0.0) for name in ("bob", "cy")]
    team += [WorkerWellness(worker_id="dee")]
    specialists = groups_of(team)[("team", "specialists")]
    assert (specialists.suppressed, specialists.workers) == (False, 4)
    assert not specialists.breaks_withheld
    assert (specialists.breaks_taken, specialists.on_break_now) == (2, 1)
