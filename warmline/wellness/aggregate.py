"""Team-level wellness figures for supervisors and HR: per team and per queue, never a person.

A group with fewer people than `wellness.min_group_size` is suppressed (its figures are not
computed at all), so nobody's exposure or check-ins can be read off a small group. Within a group
shown, each figure also needs that many people behind it: a team of five where one person has
worked so far would otherwise show that person's exposure divided by five, one person asked
for check-ins would show that person's participation, and one person on shift her breaks.

Figures are also kept from adding up to a few people's across groups: a queue's figures less the
team's (or another queue's) must not be an idle teammate's breaks or the one person in a queue but
not in a smaller queue inside it (see `_withhold_small_differences`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from warmline.wellness.view import WorkerWellness


class GroupFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["team", "queue"]
    name: str
    """`specialists` or `annotators` for a team, the queue's name for a queue."""
    suppressed: bool
    workers: int = 0
    """0 when suppressed: even the head count of a small group is withheld."""
    exposure_withheld: bool = False
    """Fewer than `min_group_size` of the group have exposure this shift (or, for a queue, its
    budget breaches and rotations with the team's and the other queues' would give fewer people's):
    the exposure mean, budget breaches and rotations are withheld (0)."""
    mean_exposure_minutes: float = 0.0
    breaks_withheld: bool = False
    """Fewer than `min_group_size` of the group are on shift (or, for a queue, its breaks taken
    and on a break now with the team's and the other queues' would give fewer people's): they
    are withheld (0)."""
    breaks_taken: int = 0
    budget_breaches: int = 0
    checkins_withheld: bool = False
    """Fewer than `min_group_size` of the group were asked for a check-in (or, for a queue, its
    check-in figures with the team's and the other queues' would give fewer people's): the
    check-in figures are withheld (0)."""
    checkins_requested: int = 0
    checkins_submitted: int = 0
    """Every check-in sent, asked for or not."""
    checkins_answered: int = 0
    """Check-ins sent while one was asked for."""
    checkin_participation: float = 0.0
    """`checkins_answered / checkins_requested`: a check-in nobody asked for cannot make up for
    one somebody missed."""
    on_break_now: int = 0
    rotated_off_now: int = 0


_OFF_SHIFT: dict[str, object] = {
    "exposure_minutes": 0.0,
    "exposure_by_queue": {},
    "breaks_taken": 0,
    "budget_breaches": 0,
    "checkins_requested": 0,
    "checkins_submitted": 0,
    "checkins_answered": 0,
    "on_break": False,
    "rotated_off_intense": False,
}
"""What a worker off shift adds to the figures: nothing but their place in the team."""


def _this_shift(worker: WorkerWellness) -> WorkerWellness:
    """The worker's figures of the shift they are on; none when they are on none.

    A view keeps the figures of the worker's last shift until their next one starts. Counted,
    they would make a team where one person is working today show her exposure, breaks and
    check-ins beside constants a supervisor read before her shift began: every change between two
    readings would be hers. A view nobody has written yet (`updated_at` unset) holds no figures
    and is off shift too.
    """
    if _on_shift(worker):
        return worker
    return worker.model_copy(update=_OFF_SHIFT)


def _on_shift(worker: WorkerWellness) -> bool:
    """Whether the worker can add to this shift's figures: on a shift. A worker with no view yet
    is not: counted, two teammates nobody has written a view for would make one person's breaks
    look like a group's."""
    return worker.in_shift


def _answered(worker: WorkerWellness) -> int:
    if worker.checkins_answered is not None:
        return worker.checkins_answered
    # A view written before answers were counted apart: at most one answer per request.
    return min(worker.checkins_submitted, worker.checkins_requested)


def _figures(
    kind: Literal["team", "queue"],
    name: str,
    members: list[WorkerWellness],
    exposure: list[float],
    min_group_size: int,
) -> GroupFigures:
    if len(members) < min_group_size:
        return GroupFigures(kind=kind, name=name, suppressed=True)
    figures = GroupFigures(kind=kind, name=name, suppressed=False, workers=len(members))
    changes: dict[str, object] = {}
    # Only those on shift can add to the breaks: in a team of four with one person working
    # today, the figures would be hers, whatever the head count (a queue's members all are).
    if sum(map(_on_shift, members)) >= min_group_size:
        changes.update(
            breaks_taken=sum(m.breaks_taken for m in members),
            on_break_now=sum(m.on_break for m in members),
        )
    else:
        changes.update(breaks_withheld=True)
    if sum(minutes > 0 for minutes in exposure) >= min_group_size:
        changes.update(
            mean_exposure_minutes=round(sum(exposure) / len(exposure), 1),
            budget_breaches=sum(m.budget_breaches for m in members),
            rotated_off_now=sum(m.rotated_off_intense for m in members),
        )
    else:
        changes.update(exposure_withheld=True)
    asked = [m for m in members if m.checkins_requested > 0]
    if len(asked) >= min_group_size:
        requested = sum(m.checkins_requested for m in asked)
        answered = sum(min(_answered(m), m.checkins_requested) for m in asked)
        changes.update(
            checkins_requested=requested,
            checkins_submitted=sum(m.checkins_submitted for m in members),
            checkins_answered=answered,
            checkin_participation=round(answered / requested, 3),
        )
    else:
        changes.update(checkins_withheld=True)
    return figures.model_copy(update=changes)


OTHER_QUEUES = "other queues"
"""The pooled group of the queues too small to show on their own."""


def team_figures(
    views: Iterable[WorkerWellness], *, queues: Iterable[str], min_group_size: int
) -> list[GroupFigures]:
    """Figures of the current shift per team (specialists, annotators) and per queue (the people
    who worked it this shift, with the exposure they took there). A worker off shift counts in
    their team's head count only (see `_this_shift`).

    A queue is shown on its own only if it has `min_group_size` people and the rest of the team
    with exposure is either nobody or `min_group_size` people too: else the team's figures less
    the queue's would be a few people's. The queues not shown are pooled as `other queues`, which
    grows by the smallest shown queues until it is as large: else the team's exposure less the
    shown queues' would be the exposure of the one person who worked a small queue.

    Exposure taken in a queue that is not in `queues` (removed from the configuration during the
    shift) goes to the pool too, never on its own: left out, the team's figures would not add up
    to the queues', and the difference could be the one person's who worked it.
    """
    everyone = [_this_shift(v) for v in views]
    groups = []
    for team in ("specialist", "annotator"):
        members = [v for v in everyone if v.kind == team]
        exposure = [v.exposure_minutes for v in members]
        groups.append(_figures("team", f"{team}s", members, exposure, min_group_size))
    # Only those with exposure add to the team's figure; the others cannot hide anyone's in it.
    working = sum(v.kind == "specialist" and v.exposure_minutes > 0 for v in everyone)
    configured = list(queues)
    removed = sorted(
        {q for v in everyone if v.kind == "specialist" for q in v.exposure_by_queue}
        - set(configured)
    )
    workers = {
        queue: [
            v
            for v in everyone
            if v.kind == "specialist" and v.exposure_by_queue.get(queue, 0.0) > 0
        ]
        for queue in [*configured, *removed]
    }

    def own(queue: str) -> bool:
        size, rest = len(workers[queue]), working - len(workers[queue])
        return (
            queue not in removed
            and size >= min_group_size
            and (rest == 0 or rest >= min_group_size)
        )

    shown = sorted((q for q in workers if own(q)), key=lambda q: (len(workers[q]), q))
    pooled = [q for q in workers if not own(q)]

    def pool_size() -> int:
        return len({v.worker_id for q in pooled for v in workers[q]})

    while shown and 0 < pool_size() < min_group_size:
        pooled.append(shown.pop(0))
    for queue in configured:
        members = workers[queue]
        if queue in shown:
            exposure = [v.exposure_by_queue[queue] for v in members]
            groups.append(_figures("queue", queue, members, exposure, min_group_size))
        else:
            groups.append(GroupFigures(kind="queue", name=queue, suppressed=True))
    members_of = {queue: workers[queue] for queue in shown}
    if pooled:
        together = list({v.worker_id: v for q in pooled for v in workers[q]}.values())
        exposure = [sum(v.exposure_by_queue.get(q, 0.0) for q in pooled) for v in together]
        if 0 < working - len(together) < min_group_size:
            groups.append(GroupFigures(kind="queue", name=OTHER_QUEUES, suppressed=True))
        else:
            groups.append(_figures("queue", OTHER_QUEUES, together, exposure, min_group_size))
            members_of[OTHER_QUEUES] = together
    specialists = [v for v in everyone if v.kind == "specialist"]
    return _withhold_small_differences(groups, specialists, members_of, min_group_size)


_CHECKIN_FIGURES: dict[str, object] = {
    "checkins_requested": 0,
    "checkins_submitted": 0,
    "checkins_answered": 0,
    "checkin_participation": 0.0,
}
_PER_PERSON: tuple[tuple[str, Callable[[WorkerWellness], bool], dict[str, object]], ...] = (
    (
        "exposure_withheld",
        lambda v: v.exposure_minutes > 0,
        {"mean_exposure_minutes": 0.0, "budget_breaches": 0, "rotated_off_now": 0},
    ),
    # Anyone on shift may take a break or send a check-in; someone off shift adds nothing.
    ("breaks_withheld", _on_shift, {"breaks_taken": 0, "on_break_now": 0}),
    ("checkins_withheld", lambda v: v.checkins_requested > 0, _CHECKIN_FIGURES),
    # Check-ins sent count everyone's on shift, asked or not.
    ("checkins_withheld", _on_shift, _CHECKIN_FIGURES),
)
"""The queue figures that add up each member's figure of the shift (not the queue's share): the
flag that withholds them, who can add to them, and their withheld values."""


def _withhold_small_differences(
    groups: list[GroupFigures],
    team: list[WorkerWellness],
    members_of: dict[str, list[WorkerWellness]],
    min_group_size: int,
) -> list[GroupFigures]:
    """Withhold a per-person figure in every queue shown when the team and the queues shown could
    be combined to give fewer than `min_group_size` people's.

    A queue's breaks, budget breaches, rotations and check-ins are its members' whole-shift
    figures, so the team's less a queue's are the figures of everyone outside it, idle teammates
    included, and a queue's less a smaller queue inside it are the figures of the people in one
    but not the other. Sort the team by which shown queues each person is in: any sum and
    difference of the figures shown is a sum over whole sorts of people, so if every sort that
    can add to a figure holds nobody or at least `min_group_size` such people, no combination
    gives fewer people's; otherwise the figure is withheld from every queue (the team's stays).
    """
    if not members_of:
        return groups
    within = {name: {v.worker_id for v in members} for name, members in members_of.items()}
    sorts: dict[frozenset[str], list[WorkerWellness]] = {}
    for person in team:
        where = frozenset(name for name, ids in within.items() if person.worker_id in ids)
        sorts.setdefault(where, []).append(person)
    withheld: dict[str, object] = {}
    for flag, adds_to, cleared in _PER_PERSON:
        if any(0 < sum(map(adds_to, people)) < min_group_size for people in sorts.values()):
            withheld.update(cleared)
            withheld[flag] = True
    if not withheld:
        return groups
    return [
        g.model_copy(update=withheld) if g.kind == "queue" and g.name in members_of else g
        for g in groups
    ]
