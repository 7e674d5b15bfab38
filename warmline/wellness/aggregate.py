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


OTHER_QUEUES = "other queues"
"""The pooled group of the queues too small to show on their own."""


def team_figures(
    views: Iterable[WorkerWellness], *, queues: Iterable[str], min_group_size: int
) -> list[GroupFigures]:
    """Figures of the current shift per team (specialists, annotators) and per queue (the people
    who worked it this shift, with the exposure they took there).

    A queue is shown on its own only if it has `min_group_size` people and the rest of the team
    is either nobody or `min_group_size` people too: else the team's figures less the queue's
    would be a few people's. The queues not shown are pooled as `other queues`, which grows by the
    smallest shown queues until it is as large: else the team's exposure less the shown queues'
    would be the exposure of the one person who worked a small queue.
    """
    everyone = list(views)
    groups = []
    for team in ("specialist", "annotator"):
        members = [v for v in everyone if v.kind == team]
        exposure = [v.exposure_minutes for v in members]
        groups.append(_figures("team", f"{team}s", members, exposure, min_group_size))
    team_size = sum(v.kind == "specialist" for v in everyone)
    workers = {queue: [v for v in everyone if queue in v.exposure_by_queue] for queue in queues}

    def own(queue: str) -> bool:
        size, rest = len(workers[queue]), team_size - len(workers[queue])
        return size >= min_group_size and (rest == 0 or rest >= min_group_size)

    shown = sorted((q for q in workers if own(q)), key=lambda q: (len(workers[q]), q))
    pooled = [q for q in workers if not own(q)]

    def pool_size() -> int:
        return len({v.worker_id for q in pooled for v in workers[q]})

    while shown and 0 < pool_size() < min_group_size:
        pooled.append(shown.pop(0))
    for queue, members in workers.items():
        if queue in shown:
            exposure = [v.exposure_by_queue[queue] for v in members]
            groups.append(_figures("queue", queue, members, exposure, min_group_size))
        else:
            groups.append(GroupFigures(kind="queue", name=queue, suppressed=True))
    if pooled:
        together = list({v.worker_id: v for q in pooled for v in workers[q]}.values())
        exposure = [sum(v.exposure_by_queue.get(q, 0.0) for q in pooled) for v in together]
        if 0 < team_size - len(together) < min_group_size:
            groups.append(GroupFigures(kind="queue", name=OTHER_QUEUES, suppressed=True))
        else:
            groups.append(_figures("queue", OTHER_QUEUES, together, exposure, min_group_size))
    return groups
