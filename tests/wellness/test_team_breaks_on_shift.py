"""A team's breaks need `min_group_size` people on shift behind them, not just in the head count.

Someone off shift counts in the team's size, but can add nothing to this shift's breaks. Before,
a team of four with one person working today showed her breaks taken and whether she was on a
break now, under a head count that made it look like a group.
"""

from __future__ import annotations

from tests.wellness.test_team_figures_off_shift import ended, groups_of, working


def test_one_person_on_shift_does_not_show_her_breaks_under_the_team_s_head_count() -> None:
    team = [working("ana", 30.0, breaks_taken=2, on_break=True)]
    team += [ended(name, 40.0, breaks_taken=3) for name in ("bob", "cy", "dee")]
    specialists = groups_of(team)[("team", "specialists")]
    assert (specialists.suppressed, specialists.workers) == (False, 4)
    assert specialists.breaks_withheld
    assert (specialists.breaks_taken, specialists.on_break_now) == (0, 0)


def test_two_on_shift_of_a_group_of_three_are_still_too_few() -> None:
    team = [working("ana", 30.0, breaks_taken=1, on_break=True), working("eli", 0.0)]
    team += [ended("bob", 40.0)]
    specialists = groups_of(team)[("team", "specialists")]
    assert specialists.breaks_withheld
    assert (specialists.breaks_taken, specialists.on_break_now) == (0, 0)


def test_enough_people_on_shift_show_the_breaks() -> None:
    team = [working("ana", 30.0, breaks_taken=1, on_break=True)]
    team += [working(name, 0.0) for name in ("eli", "fay")]
    team += [ended("bob", 40.0, breaks_taken=3)]
    specialists = groups_of(team)[("team", "specialists")]
    assert not specialists.breaks_withheld
    assert (specialists.breaks_taken, specialists.on_break_now) == (1, 1)
