"""The integer program under `bench.wellness_bound`: a day's lowest possible highest exposure.

One min-max assignment of the day's escalations to the team, in two versions.

**Relaxed** (`limits=None`): each escalation goes to one person with its queue's skills whose
shift has not ended when it arrives. Nothing else binds: any number of conversations at once,
any wait.

**Under the policy** (`limits` given): also what every strategy must keep that obeys the
wellness policy and accepts each escalation within its entry queue's `accept_within`, except
for at most `misses` escalations. A late one is free of everything but skills and shifts. For
the others:

- *Shifts*: the person is on shift at some moment of the acceptance window.
- *Capacity*: a one-at-a-time person cannot hold two conversations whose windows force them to
  overlap, counting the break that follows a crisis (`rest_after_h`) as held. Someone who holds
  more at once has no moment with more conversations surely running than their capacity, and
  no acceptance surely inside a break.
- *Budget*: nobody takes an escalation from an intense queue or the crisis lane once the work
  surely finished before it reaches their shift's budget.
- *Rotation*: nor within the cooldown after that work surely crossed the rotation share.
- *Consecutive crises* (a cap of one): between two crises of one person, one ordinary
  conversation of theirs could have ended.

Each rule is stated only where every timing inside the windows breaks it, so every run that
keeps the rules satisfies the program and its optimum is still a floor. The break after
accumulated intense work is kept only where one conversation alone earns it (`rest_after_h`);
a cap above one crisis in a row is left out. Leaving a rule out only lowers the floor.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from bench.wellness_routing import Day, Member


@dataclass(frozen=True)
class Job:
    """One escalation of the day, as the program sees it (times in hours from the day's start)."""

    contact: str
    arrives_h: float
    exposure: float
    """Weighted minutes: the conversation's minutes times the wellness policy's weight."""
    skills: frozenset[str]
    hours: float = 0.0
    """How long the conversation lasts once accepted."""
    window_h: float = math.inf
    """The entry queue's `accept_within` (the crisis lane's for a crisis)."""
    intense: bool = False
    """From an intense queue or the crisis lane: the budget and the rotation keep it away."""
    crisis: bool = False
    rest_after_h: float = 0.0
    """The mandatory break its end surely starts (after a crisis, or intense work that alone
    reaches the policy's intense-break threshold)."""

    @property
    def latest_start(self) -> float:
        return self.arrives_h + self.window_h

    @property
    def earliest_end(self) -> float:
        return self.arrives_h + self.hours

    @property
    def latest_end(self) -> float:
        return self.arrives_h + self.window_h + self.hours


@dataclass(frozen=True)
class Limits:
    """The wellness policy as the program keeps it."""

    budget: Mapping[str, float]
    """Each member's budget for their shift, in weighted minutes."""
    rotate_at: float
    """The share of the budget at which a person leaves the intense queues."""
    rotation_h: float
    max_consecutive_crisis: int


@dataclass(frozen=True)
class PeakBound:
    seed: int
    floor: float
    """No assignment of the day's escalations gives a lower highest exposure (inf: none is
    possible with so few late escalations)."""
    best_found: float
    """The lowest highest exposure of an assignment the solver found (equal when `optimal`)."""
    optimal: bool


class NoAssignmentError(RuntimeError):
    """An escalation nobody on the team could take (no one with its skills on shift after it
    arrives): the day cannot be answered in full, so no floor applies."""


class _Program:
    """A mixed-integer program built a row at a time: every variable is binary but the one
    `minimise` minimises, which is continuous and unbounded above."""

    def __init__(self) -> None:
        self.upper: list[float] = []
        self.rows: list[dict[int, float]] = []
        self.low: list[float] = []
        self.high: list[float] = []

    def binary(self) -> int:
        self.upper.append(1.0)
        return len(self.upper) - 1

    def row(self, coefficients: dict[int, float], low: float, high: float) -> None:
        self.rows.append(coefficients)
        self.low.append(low)
        self.high.append(high)

    def minimise(self, variable: int, time_limit: float) -> tuple[int, float, float]:
        """Solve; (status, the proven lower bound, the best objective found or inf)."""
        count = len(self.upper)
        matrix = lil_matrix((len(self.rows), count))
        for r, coefficients in enumerate(self.rows):
            for v, weight in coefficients.items():
                matrix[r, v] = weight
        cost = np.zeros(count)
        cost[variable] = 1
        integrality = np.ones(count)
        integrality[variable] = 0
        upper = np.asarray(self.upper)
        upper[variable] = np.inf
        with _stdout_silenced():
            result = milp(
                cost,
                constraints=[LinearConstraint(matrix.tocsr(), self.low, self.high)],
                integrality=integrality,
                bounds=Bounds(np.zeros(count), upper),
                options={"time_limit": time_limit, "disp": False},
            )
        if result.status == 2:  # infeasible
            return result.status, math.inf, math.inf
        found = float(result.fun) if result.x is not None else math.inf
        if result.status == 0:
            return result.status, found, found
        dual = getattr(result, "mip_dual_bound", None)
        proven = float(dual) if dual is not None and math.isfinite(dual) else 0.0
        return result.status, proven, found


def peak_bound(
    day: Day,
    jobs: Sequence[Job],
    *,
    time_limit: float = 20.0,
    limits: Limits | None = None,
    misses: int = 0,
) -> PeakBound:
    """Minimise the highest total exposure over the team (the module's docstring has the two
    versions)."""
    if not jobs:
        return PeakBound(day.seed, 0.0, 0.0, optimal=True)
    team = day.team
    program = _Program()
    taken = [[program.binary() for _ in team] for _ in jobs]
    for job, row in zip(jobs, taken, strict=True):
        able = [job.skills <= frozenset(m.skills) and job.arrives_h < m.ends for m in team]
        if not any(able):
            raise NoAssignmentError(f"seed {day.seed}: nobody could take {job.contact}")
        for variable, ok in zip(row, able, strict=True):
            program.upper[variable] = 1.0 if ok else 0.0
        program.row(dict.fromkeys(row, 1.0), 1, 1)
    if limits is not None:
        _keep_the_policy(program, team, jobs, taken, limits, misses)
    peak = program.binary()
    for i in range(len(team)):
        program.row(
            {**{taken[j][i]: job.exposure for j, job in enumerate(jobs)}, peak: -1.0}, -np.inf, 0
        )
    status, proven, found = program.minimise(peak, time_limit)
    # Rounded down to a tenth (past float noise: 424.9 * 10 is 4248.99...), so that the figure
    # printed is still a floor.
    floor = math.floor(round(proven * 10, 6)) / 10 if math.isfinite(proven) else proven
    return PeakBound(day.seed, floor, round(found, 1), optimal=status in (0, 2))


def _keep_the_policy(
    program: _Program,
    team: Sequence[Member],
    jobs: Sequence[Job],
    taken: list[list[int]],
    limits: Limits,
    misses: int,
) -> None:
    on_time = [[program.binary() for _ in team] for _ in jobs]
    late = [program.binary() for _ in jobs]
    for j, job in enumerate(jobs):
        program.row({**dict.fromkeys(on_time[j], 1.0), late[j]: 1.0}, 1, 1)
        for i, member in enumerate(team):
            program.row({on_time[j][i]: 1.0, taken[j][i]: -1.0}, -np.inf, 0)
            if not (member.starts <= job.latest_start and job.arrives_h < member.ends):
                program.upper[on_time[j][i]] = 0.0
    program.row(dict.fromkeys(late, 1.0), -np.inf, misses)
    for i, member in enumerate(team):
        mine = [row[i] for row in on_time]
        held = [row[i] for row in taken]
        _capacity(program, member, jobs, mine)
        _budget_and_rotation(program, jobs, mine, held, limits, limits.budget[member.id])
        if limits.max_consecutive_crisis == 1:
            _one_crisis_in_a_row(program, jobs, mine, held)


def _capacity(program: _Program, member: Member, jobs: Sequence[Job], mine: list[int]) -> None:
    for a, b in _pairs(jobs):
        if member.capacity == 1:
            a_first = jobs[b].latest_start >= jobs[a].earliest_end + jobs[a].rest_after_h
            b_first = jobs[a].latest_start >= jobs[b].earliest_end + jobs[b].rest_after_h
            if not (a_first or b_first):
                program.row({mine[a]: 1.0, mine[b]: 1.0}, -np.inf, 1)
        elif _starts_in_rest(jobs[a], jobs[b]) or _starts_in_rest(jobs[b], jobs[a]):
            program.row({mine[a]: 1.0, mine[b]: 1.0}, -np.inf, 1)
    if member.capacity == 1:
        return
    for moment in sorted({job.latest_start for job in jobs}):
        running = [j for j, job in enumerate(jobs) if job.latest_start <= moment < job.earliest_end]
        if len(running) > member.capacity:
            program.row({mine[j]: 1.0 for j in running}, -np.inf, member.capacity)


def _starts_in_rest(first: Job, then: Job) -> bool:
    """`then` is accepted inside the break that `first`'s end starts, however the times fall."""
    return (
        first.rest_after_h > 0
        and then.arrives_h >= first.latest_end
        and then.latest_start < first.earliest_end + first.rest_after_h
    )


def _budget_and_rotation(
    program: _Program,
    jobs: Sequence[Job],
    mine: list[int],
    held: list[int],
    limits: Limits,
    budget: float,
) -> None:
    rotate_at = limits.rotate_at * budget
    for k, job in enumerate(jobs):
        if not job.intense:
            continue
        done = [j for j, other in enumerate(jobs) if other.latest_end <= job.arrives_h]
        finished = {mine[j]: jobs[j].exposure for j in done}
        total = sum(finished.values())
        if total > budget:
            # exposure <= budget, or job k is not theirs
            program.row({**finished, mine[k]: total - budget}, -np.inf, total)
        if total > rotate_at:
            # Past the rotation share for sure (crossed) while, a cooldown earlier, possibly not
            # yet (still): then job k is not theirs.
            crossed, still = program.binary(), program.binary()
            program.row({**finished, crossed: -(total - rotate_at)}, -np.inf, rotate_at)
            earlier = job.latest_start - limits.rotation_h
            before = {held[j]: o.exposure for j, o in enumerate(jobs) if o.earliest_end <= earlier}
            program.row({**before, still: -rotate_at}, 0, np.inf)
            program.row({mine[k]: 1.0, crossed: 1.0, still: -1.0}, -np.inf, 1)


def _one_crisis_in_a_row(
    program: _Program, jobs: Sequence[Job], mine: list[int], held: list[int]
) -> None:
    """Two crises of one person need an ordinary conversation of theirs ending in between."""
    crises = [j for j, job in enumerate(jobs) if job.crisis]
    for first in crises:
        for then in crises:
            if jobs[first].latest_end > jobs[then].arrives_h:
                continue
            between: dict[int, float] = {mine[first]: 1.0, mine[then]: 1.0}
            for j, job in enumerate(jobs):
                if job.crisis or job.earliest_end > jobs[then].latest_start:
                    continue
                between[held[j]] = -1.0
                if job.latest_end < jobs[first].earliest_end:
                    between[mine[j]] = 1.0  # on time, it ended before the first crisis did
            program.row(between, -np.inf, 1)


def _pairs(jobs: Sequence[Job]) -> Iterator[tuple[int, int]]:
    for a in range(len(jobs)):
        for b in range(a + 1, len(jobs)):
            yield a, b


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """HiGHS (scipy 1.17) writes a debugging line to the process's stdout, below Python, even
    with `disp` off; it would corrupt `--json`. File descriptor 1 points at /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
