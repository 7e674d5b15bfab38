"""How low could any routing push the day's peak? A clairvoyant floor under the wellness benchmark.

    .venv/bin/python -m bench.wellness_bound [--seed 27] [--days 20] [--contacts 100]
        [--distressed 0.20] [--crisis 0.04] [--add-member staff-kofi:crisis:1:2-10]
        [--time-limit 20] [--against RUN.json] [--policy [--misses N]] [--json]

For each seeded day of `bench/wellness_routing.py` (the same plan, team and shipped triage
model), this finds the smallest highest individual exposure that any assignment of the day's
escalations could give, knowing in advance every arrival, who needs a crisis-trained person and
how long every conversation will last. It ignores everything that makes the real problem harder:
a specialist may take any number of conversations at once, a customer may wait as long as it
takes, and no break, rotation, budget or consecutive-crisis cap applies. A person can take an
escalation if they have its queue's skills and their shift has not ended when it arrives. So
the figure is a floor under every routing strategy, online or not, that answers every customer:
a strategy can only come close to it, never below it.

`--policy` adds a second floor, under every strategy that also keeps the wellness policy and the
SLA: capacity, acceptance within `accept_within` but for at most `--misses` escalations over
all the days (by default as many as the SLA target allows the `--against` report's baseline),
the breaks, the budget, the rotation and the consecutive-crisis cap
(`bench/peak_program.py` says exactly how). Each day is solved for 0, 1, ... late escalations,
and the late ones are spread over the days where they lower the floor most.

The problem (a min-max assignment, an integer program) is solved with HiGHS through
`scipy.optimize.milp`; when `--time-limit` stops the search first, the solver's proven lower
bound is reported, which is still a floor. `--against` reads a `bench.wellness_routing --json`
report of the same days and sets each strategy's peak beside the floor.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.peak_program import Job, Limits, NoAssignmentError, PeakBound, peak_bound
from bench.wellness_routing import (
    BASELINE,
    CONFIG,
    PEAK_TARGET,
    QUEUE_OF,
    SLA_TOLERANCE,
    TEXTS,
    Day,
    Kind,
    Member,
    add_day_options,
    days_of,
    member_budget,
)
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.runtime import build_provider, wellness_policy
from warmline.triage.provider import triage
from warmline.triage.types import TriageRequest
from warmline.wellness.policy import ExposureRecord, is_intense, weight_of

_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)
CLOSE_ENOUGH = 0.5
"""Once a day's floor under the policy is this close to its relaxed floor, more late
escalations are not tried: the relaxed floor stands in for them (it is lower, so still a floor)."""


@dataclass(frozen=True)
class Reading:
    """What the wellness policy makes of one opening message's conversation."""

    weight: float
    intense: bool


@dataclass(frozen=True)
class PolicyFloor:
    seed: int
    floors: list[float]
    """The day's floor under the policy with 0, 1, ... late escalations (never rising)."""
    misses: int
    """Late escalations the spread over the days gave this day."""

    @property
    def floor(self) -> float:
        return self.floors[self.misses]


def readings(config: WarmlineConfig) -> dict[str, Reading]:
    """The wellness weight of each opening message's conversation, and whether it counts as
    intense work, read as the real pipeline reads it: the shipped triage model's distress and
    crisis flag, then the policy."""
    provider = build_provider(config.triage.provider)
    policy = wellness_policy(config)
    read = {}
    for kind, texts in TEXTS.items():
        if kind is Kind.ROUTINE:
            continue
        for text in texts:
            result = triage(
                provider,
                TriageRequest(tenant_id="t", conversation_id="c", message_id="m1", text=text),
            )
            record = ExposureRecord(
                record_id="bound",
                minutes=1.0,
                distress=result.distress,
                crisis=result.crisis,
                queue=QUEUE_OF[kind],
            )
            read[text] = Reading(weight_of(record, policy), is_intense(record, policy))
    return read


def jobs_of(day: Day, config: WarmlineConfig, read: dict[str, Reading]) -> list[Job]:
    policy = wellness_policy(config)
    queues = {queue.name: queue for queue in config.routing.queues}
    lane = config.triage.crisis
    jobs = []
    for contact in day.contacts:
        if contact.kind is Kind.ROUTINE:
            continue
        queue = queues[str(QUEUE_OF[contact.kind])]
        crisis = contact.kind is Kind.CRISIS
        exposure = contact.minutes * read[contact.text].weight
        rest = timedelta(0)
        if crisis:
            rest = policy.break_after_crisis
        elif read[contact.text].intense and exposure >= policy.break_after_intense / _MINUTE:
            rest = policy.break_duration
        within = lane.accept_within if crisis else queue.accept_within
        jobs.append(
            Job(
                contact=contact.id,
                arrives_h=contact.arrives / _HOUR,
                exposure=exposure,
                skills=frozenset(queue.skills),
                hours=contact.minutes / 60,
                window_h=within / _HOUR,
                intense=queue.intense or crisis,
                crisis=crisis,
                rest_after_h=rest / _HOUR,
            )
        )
    return jobs


def limits_of(config: WarmlineConfig, team: Sequence[Member]) -> Limits:
    """The policy's budget for each member's shift (pro rata when it says so), its rotation and
    its cap on crises in a row."""
    policy = wellness_policy(config)
    return Limits(
        budget={m.id: member_budget(config, m) for m in team},
        rotate_at=policy.rotate_at_budget,
        rotation_h=policy.rotation_cooldown / _HOUR,
        max_consecutive_crisis=policy.max_consecutive_crisis,
    )


def policy_floor(
    day: Day,
    jobs: Sequence[Job],
    limits: Limits,
    *,
    relaxed: PeakBound,
    most_misses: int,
    time_limit: float,
) -> list[float]:
    """The day's floor under the policy for 0 ... `most_misses` late escalations. More late
    ones never raise it, so each figure is also kept as a floor for fewer."""
    floors: list[float] = []
    for misses in range(most_misses + 1):
        bound = peak_bound(day, jobs, time_limit=time_limit, limits=limits, misses=misses)
        floors.append(max(bound.floor, relaxed.floor))
        if floors[-1] <= relaxed.floor + CLOSE_ENOUGH:
            break
    floors += [relaxed.floor] * (most_misses + 1 - len(floors))
    for misses in range(most_misses - 1, -1, -1):
        floors[misses] = max(floors[misses], floors[misses + 1])
    return floors


def spread_misses(floors_by_day: Sequence[Sequence[float]], misses: int) -> list[int]:
    """How many late escalations each day gets so that the sum of the days' floors is lowest,
    with at most `misses` in all (a knapsack over the days)."""
    best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for floors in floors_by_day:
        following: dict[int, tuple[float, list[int]]] = {}
        for used, (total, given) in best.items():
            for extra, floor in enumerate(floors[: misses - used + 1]):
                option = (total + floor, [*given, extra])
                if used + extra not in following or option[0] < following[used + extra][0]:
                    following[used + extra] = option
        best = following
    return min(best.values(), key=lambda option: option[0])[1]


def misses_allowed(report: dict[str, Any]) -> int:
    """The most escalations a strategy may leave past their `accept_within` over the report's
    days and still meet the SLA target against its baseline (as `verdict` rounds it)."""
    base = report["runs"].get(BASELINE, {})
    escalations, attainment = base.get("escalations"), base.get("sla_attainment")
    if not isinstance(escalations, int) or not isinstance(attainment, float | int):
        raise SystemExit(
            f"--against: the report has no {BASELINE} run with `escalations` and "
            "`sla_attainment`; pass --misses N"
        )
    misses = 0
    while (
        misses < escalations
        and round((escalations - misses - 1) / escalations, 4) - attainment >= -SLA_TOLERANCE
    ):
        misses += 1
    return misses


def read_report(path: Path) -> dict[str, Any]:
    """A `bench.wellness_routing --json` report, or a clear exit."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SystemExit(f"--against {path}: not a readable JSON report ({error})") from None
    if not (
        isinstance(report, dict)
        and isinstance(report.get("days"), list)
        and report["days"]
        and all(isinstance(day, dict) for day in report["days"])
        and isinstance(report.get("runs"), dict)
        and report["runs"]
        and all(
            isinstance(run, dict) and isinstance(run.get("peak_exposure_by_day"), list)
            for run in report["runs"].values()
        )
    ):
        raise SystemExit(
            f"--against {path}: expected the JSON object `bench.wellness_routing --json` prints "
            "(with `days` and `runs`)"
        )
    return report


def compare(
    bounds: Sequence[PeakBound],
    report: dict[str, Any],
    team: Sequence[Member],
    policy: Sequence[PolicyFloor] = (),
) -> dict[str, Any]:
    """Each strategy's mean peak in a `bench.wellness_routing` report beside the mean floor of
    the same days, and, against the baseline, what share of the cut the floor allows it made
    (and of the cut the floor under the policy allows, when there is one)."""
    seeds = [day.get("seed") for day in report["days"]]
    if seeds != [bound.seed for bound in bounds]:
        raise SystemExit(
            f"--against: the report covers seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} days), "
            f"not the {len(bounds)} days from seed {bounds[0].seed}: "
            "pass the same --seed and --days"
        )
    runs = report["runs"]
    members = sorted(m.id for m in team)
    for name, run in runs.items():
        if sorted(run.get("exposure_minutes", {})) != members:
            raise SystemExit(
                f"--against: the report's {name} run had another team "
                f"({', '.join(sorted(run.get('exposure_minutes', {})))}): "
                "pass the same --add-member options"
            )
    floors = {"floor": sum(b.floor for b in bounds) / len(bounds)}
    if policy:
        floors["policy_floor"] = sum(p.floor for p in policy) / len(policy)
    base = float(np.mean(runs[BASELINE]["peak_exposure_by_day"])) if BASELINE in runs else None
    out: dict[str, Any] = {}
    for name, run in runs.items():
        peak = float(np.mean(run["peak_exposure_by_day"]))
        row: dict[str, Any] = {"peak_exposure": round(peak, 1)}
        if base is not None:
            row["peak_lower_by"] = round(1 - peak / base, 4)
            for floor_name, floor in floors.items():
                key = "share_of_possible_cut" if floor_name == "floor" else "share_of_policy_cut"
                row[key] = _share(base - peak, base - floor)
        out[name] = row
    if base is not None:
        for floor_name, floor in floors.items():
            out[floor_name] = {
                "peak_exposure": round(floor, 1),
                "peak_lower_by": round(1 - floor / base, 4),
                "target_peak": round((1 - PEAK_TARGET) * base, 1),
                "target_share_of_possible_cut": _share(PEAK_TARGET * base, base - floor),
            }
    return out


def _share(cut: float, possible: float) -> float:
    return round(cut / possible, 4) if possible > 0 else math.nan


def summary_of(bounds: Sequence[PeakBound], policy: Sequence[PolicyFloor] = ()) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "days": len(bounds),
        "floor_mean": _floor_mean([b.floor for b in bounds]),
        "best_found_mean": round(sum(b.best_found for b in bounds) / len(bounds), 1),
        "proven_optimal_days": sum(b.optimal for b in bounds),
        "by_day": [
            {"seed": b.seed, "floor": b.floor, "best_found": b.best_found, "optimal": b.optimal}
            for b in bounds
        ],
    }
    if policy:
        summary["policy"] = {
            "misses": sum(p.misses for p in policy),
            "floor_mean": _floor_mean([p.floor for p in policy]),
            "by_day": [
                {
                    "seed": p.seed,
                    "misses": p.misses,
                    "floor": p.floor,
                    # None: no run keeps the policy with so few late escalations that day
                    "floors": [f if math.isfinite(f) else None for f in p.floors],
                }
                for p in policy
            ],
        }
    return summary


def _floor_mean(floors: Sequence[float]) -> float:
    """Rounded down: the mean is printed as a floor too."""
    mean = sum(floors) / len(floors)
    return math.floor(round(mean * 10, 6)) / 10 if math.isfinite(mean) else mean


def print_table(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="highest individual exposure: the clairvoyant floor per day")
    policy = {row["seed"]: row for row in summary.get("policy", {}).get("by_day", [])}
    columns = ["seed", "floor", "best assignment found", "proven optimal"]
    if policy:
        columns += ["floor under the policy", "late escalations"]
    for column in columns:
        table.add_column(column, justify="right")
    for row in summary["by_day"]:
        cells = [
            str(row["seed"]),
            f"{row['floor']:.1f}",
            f"{row['best_found']:.1f}",
            "yes" if row["optimal"] else "no",
        ]
        if policy:
            kept = policy[row["seed"]]
            cells += [f"{kept['floor']:.1f}", str(kept["misses"])]
        table.add_row(*cells)
    mean = ["mean", f"{summary['floor_mean']:.1f}", f"{summary['best_found_mean']:.1f}", ""]
    if policy:
        mean += [f"{summary['policy']['floor_mean']:.1f}", str(summary["policy"]["misses"])]
    table.add_row(*mean)
    console.print(table)
    for name, row in summary.get("against", {}).items():
        figures = ", ".join(f"{key} {value}" for key, value in row.items())
        console.print(f"{name}: {figures}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_day_options(parser)
    parser.add_argument(
        "--time-limit", type=float, default=20.0, help="seconds of search per program (20)"
    )
    parser.add_argument(
        "--against", type=Path, help="a `bench.wellness_routing --json` report of the same days"
    )
    parser.add_argument(
        "--policy",
        action="store_true",
        help="also the floor under strategies that keep the wellness policy and the SLA",
    )
    parser.add_argument(
        "--misses",
        type=int,
        help="with --policy: escalations that may be accepted late over all the days "
        "(default: what the SLA target allows the --against report's baseline)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.misses is not None and (args.misses < 0 or not args.policy):
        parser.error("--misses takes a count of 0 or more, with --policy")
    if args.policy and args.misses is None and args.against is None:
        parser.error("--policy needs --misses N, or --against REPORT to read the SLA target from")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    days = days_of(args)
    report = read_report(args.against) if args.against else None
    misses = args.misses
    if args.policy and misses is None and report is not None:
        misses = misses_allowed(report)
    config = load_config(CONFIG, resolve_secrets=False)
    read = readings(config)
    limits = limits_of(config, days[0].team)
    console = Console(stderr=True)
    bounds: list[PeakBound] = []
    floors_by_day: list[list[float]] = []
    with console.status("solving") as status:
        for day in days:
            status.update(f"seed {day.seed}")
            jobs = jobs_of(day, config, read)
            try:
                bounds.append(peak_bound(day, jobs, time_limit=args.time_limit))
            except NoAssignmentError as error:
                raise SystemExit(str(error)) from None
            if misses is not None:
                status.update(f"seed {day.seed}, under the policy")
                floors_by_day.append(
                    policy_floor(
                        day,
                        jobs,
                        limits,
                        relaxed=bounds[-1],
                        most_misses=misses,
                        time_limit=args.time_limit,
                    )
                )
    policy = []
    if misses is not None:
        spread = spread_misses(floors_by_day, misses)
        policy = [
            PolicyFloor(day.seed, floors, given)
            for day, floors, given in zip(days, floors_by_day, spread, strict=True)
        ]
    summary = summary_of(bounds, policy)
    if report is not None:
        summary["against"] = compare(bounds, report, days[0].team, policy)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
