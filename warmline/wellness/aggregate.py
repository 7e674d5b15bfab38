"""Team-level wellness figures for supervisors and HR: per team and per queue, never a person.

A group with fewer people than `wellness.min_group_size` is suppressed (its figures are not
computed at all), so nobody's exposure or check-ins can be read off a small group.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    mean_exposure_minutes: float = 0.0
    breaks_taken: int = 0
    budget_breaches: int = 0
    checkins_requested: int = 0
    checkins_submitted: int = 0
    checkin_participation: float = 0.0
    on_break_now: int = 0
    rotated_off_now: int = 0


def _figures(
    kind: Literal["team", "queue"],
    name: str,
    members: list[WorkerWellness],
    exposure: list[float],
    min_group_size: int,
) -> GroupFigures:
    if len(members) < min_group_size:
        return GroupFigures(kind=kind, name=name, suppressed=True)
    requested = sum(m.checkins_requested for m in members)
    submitted = sum(m.checkins_submitted for m in members)
    return GroupFigures(
        kind=kind,
        name=name,
        suppressed=False,
        workers=len(members),
        mean_exposure_minutes=round(sum(exposure) / len(exposure), 1),
        breaks_taken=sum(m.breaks_taken for m in members),
        budget_breaches=sum(m.budget_breaches for m in members),
        checkins_requested=requested,
        checkins_submitted=submitted,
        checkin_participation=round(min(submitted / requested, 1.0), 3) if requested else 0.0,
        on_break_now=sum(m.on_break for m in members),
        rotated_off_now=sum(m.rotated_off_intense for m in members),
    )


def team_figures(
    views: Iterable[WorkerWellness], *, queues: Iterable[str], min_group_size: int
) -> list[GroupFigures]:
    """Figures of the current shift per team (specialists, annotators) and per queue (the people
    who worked it this shift, with the exposure they took there)."""
    everyone = list(views)
    groups = []
    for team in ("specialist", "annotator"):
        members = [v for v in everyone if v.kind == team]
        exposure = [v.exposure_minutes for v in members]
        groups.append(_figures("team", f"{team}s", members, exposure, min_group_size))
    for queue in queues:
        members = [v for v in everyone if queue in v.exposure_by_queue]
        exposure = [v.exposure_by_queue[queue] for v in members]
        groups.append(_figures("queue", queue, members, exposure, min_group_size))
    return groups
