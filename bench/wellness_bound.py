"""How low could any routing push the day's peak? A clairvoyant floor under the wellness benchmark.

    .venv/bin/python -m bench.wellness_bound [--seed 27] [--days 20] [--contacts 100]
        [--distressed 0.20] [--crisis 0.04] [--add-member staff-kofi:crisis:1:2-10]
        [--time-limit 20] [--against RUN.json] [--json]

For each seeded day of `bench/wellness_routing.py` (the same plan, team and shipped triage
model), this finds the smallest highest individual exposure that any assignment of the day's
escalations could give, knowing in advance every arrival, who needs a crisis-trained person and
how long every conversation will last. It ignores everything that makes the real problem harder:
a specialist may take any number of conversations at once, a customer may wait as long as it
takes, and no break, rotation, budget or consecutive-crisis cap applies. A person can take an
escalation if they have its queue's skills and their shift has not ended when it arrives. So
the figure is a floor under every routing strategy, online or not, that answers every customer:
a strategy can only come close to it, never below it.

The problem (a min-max assignment, an integer program) is solved with HiGHS through
`scipy.optimize.milp`; when `--time-limit` stops the search first, the solver's proven lower
bound is reported, which is still a floor. `--against` reads a `bench.wellness_routing --json`
report of the same days and sets each strategy's peak beside the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.optimize import Bounds, LinearConstraint, milp

from bench.wellness_routing import (
    BASELINE,
    CONFIG,
    PEAK_TARGET,
    QUEUE_OF,
    TEXTS,
    Day,
    Kind,
    Member,
    add_day_options,
    days_of,
)
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.runtime import build_provider, wellness_policy
from warmline.triage.provider import triage
from warmline.triage.types import TriageRequest
from warmline.wellness.policy import ExposureRecord, weight_of


@dataclass(frozen=True)
class Job:
    """One escalation of the day, as the bound sees it."""

    contact: str
    arrives_h: float
    exposure: float
    """Weighted minutes: the conversation's minutes times the wellness policy's weight."""
    skills: frozenset[str]


@dataclass(frozen=True)
class PeakBound:
    seed: int
    floor: float
    """No assignment of the day's escalations gives a lower highest exposure."""
    best_found: float
    """The lowest highest exposure of an assignment the solver found (equal when `optimal`)."""
    optimal: bool


class NoAssignmentError(RuntimeError):
    """An escalation nobody on the team could take (no one with its skills on shift after it
    arrives): the day cannot be answered in full, so no floor applies."""


def exposure_weights(config: WarmlineConfig) -> dict[str, float]:
    """The wellness weight of each opening message's conversation, read as the real pipeline
    reads it: the shipped triage model's distress and crisis flag, then the policy's weights."""
    provider = build_provider(config.triage.provider)
    policy = wellness_policy(config)
    weights = {}
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
            weights[text] = weight_of(record, policy)
    return weights


def jobs_of(day: Day, config: WarmlineConfig, weights: dict[str, float]) -> list[Job]:
    skills = {queue.name: frozenset(queue.skills) for queue in config.routing.queues}
    return [
        Job(
            contact=contact.id,
            arrives_h=contact.arrives.total_seconds() / 3600,
            exposure=contact.minutes * weights[contact.text],
            skills=skills[str(QUEUE_OF[contact.kind])],
        )
        for contact in day.contacts
        if contact.kind is not Kind.ROUTINE
    ]


def peak_bound(day: Day, jobs: Sequence[Job], *, time_limit: float = 20.0) -> PeakBound:
    """Minimise the highest total exposure over the team, each job to one eligible person."""
    team = day.team
    if not jobs:
        return PeakBound(day.seed, 0.0, 0.0, optimal=True)
    people = len(team)
    variables = len(jobs) * people + 1  # x[job, person], then the peak
    upper = np.ones(variables)
    upper[-1] = np.inf
    for j, job in enumerate(jobs):
        eligible = [
            job.skills <= frozenset(member.skills) and job.arrives_h < member.ends
            for member in team
        ]
        if not any(eligible):
            raise NoAssignmentError(f"seed {day.seed}: nobody could take {job.contact}")
        for i, ok in enumerate(eligible):
            if not ok:
                upper[j * people + i] = 0
    each_once = np.zeros((len(jobs), variables))
    for j in range(len(jobs)):
        each_once[j, j * people : (j + 1) * people] = 1
    under_peak = np.zeros((people, variables))
    for i in range(people):
        under_peak[i, i : len(jobs) * people : people] = [job.exposure for job in jobs]
        under_peak[i, -1] = -1
    cost = np.zeros(variables)
    cost[-1] = 1
    integrality = np.ones(variables)
    integrality[-1] = 0
    with _stdout_silenced():
        result = milp(
            cost,
            constraints=[
                LinearConstraint(each_once, 1, 1),
                LinearConstraint(under_peak, -np.inf, 0),
            ],
            integrality=integrality,
            bounds=Bounds(np.zeros(variables), upper),
            options={"time_limit": time_limit, "disp": False},
        )
    if result.x is None:
        raise RuntimeError(f"seed {day.seed}: the solver found no assignment ({result.message})")
    optimal = result.status == 0
    floor = float(result.fun) if optimal else float(result.mip_dual_bound)
    # Rounded down to a tenth (past float noise: 424.9 * 10 is 4248.99...), so that the figure
    # printed is still a floor.
    tenths = math.floor(round(floor * 10, 6))
    return PeakBound(day.seed, tenths / 10, round(float(result.fun), 1), optimal)


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
    bounds: Sequence[PeakBound], report: dict[str, Any], team: Sequence[Member]
) -> dict[str, Any]:
    """Each strategy's mean peak in a `bench.wellness_routing` report beside the mean floor of
    the same days, and, against the baseline, what share of the cut the floor allows it made."""
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
    floor = sum(b.floor for b in bounds) / len(bounds)
    base = float(np.mean(runs[BASELINE]["peak_exposure_by_day"])) if BASELINE in runs else None
    out: dict[str, Any] = {}
    for name, run in runs.items():
        peak = float(np.mean(run["peak_exposure_by_day"]))
        row: dict[str, Any] = {"peak_exposure": round(peak, 1)}
        if base is not None:
            row["peak_lower_by"] = round(1 - peak / base, 4)
            row["share_of_possible_cut"] = (
                round((base - peak) / (base - floor), 4) if base > floor else math.nan
            )
        out[name] = row
    if base is not None:
        out["floor"] = {
            "peak_exposure": round(floor, 1),
            "peak_lower_by": round(1 - floor / base, 4),
            "target_peak": round((1 - PEAK_TARGET) * base, 1),
            "target_share_of_possible_cut": round(PEAK_TARGET * base / (base - floor), 4)
            if base > floor
            else math.nan,
        }
    return out


def summary_of(bounds: Sequence[PeakBound]) -> dict[str, Any]:
    return {
        "days": len(bounds),
        "floor_mean": round(sum(b.floor for b in bounds) / len(bounds), 1),
        "best_found_mean": round(sum(b.best_found for b in bounds) / len(bounds), 1),
        "proven_optimal_days": sum(b.optimal for b in bounds),
        "by_day": [
            {"seed": b.seed, "floor": b.floor, "best_found": b.best_found, "optimal": b.optimal}
            for b in bounds
        ],
    }


def print_table(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="highest individual exposure: the clairvoyant floor per day")
    for column in ("seed", "floor", "best assignment found", "proven optimal"):
        table.add_column(column, justify="right")
    for row in summary["by_day"]:
        table.add_row(
            str(row["seed"]),
            f"{row['floor']:.1f}",
            f"{row['best_found']:.1f}",
            "yes" if row["optimal"] else "no",
        )
    table.add_row("mean", f"{summary['floor_mean']:.1f}", f"{summary['best_found_mean']:.1f}", "")
    console.print(table)
    for name, row in summary.get("against", {}).items():
        figures = ", ".join(f"{key} {value}" for key, value in row.items())
        console.print(f"{name}: {figures}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_day_options(parser)
    parser.add_argument(
        "--time-limit", type=float, default=20.0, help="seconds of search per day (20)"
    )
    parser.add_argument(
        "--against", type=Path, help="a `bench.wellness_routing --json` report of the same days"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    days = days_of(args)
    report = read_report(args.against) if args.against else None
    config = load_config(CONFIG, resolve_secrets=False)
    weights = exposure_weights(config)
    console = Console(stderr=True)
    bounds = []
    with console.status("solving") as status:
        for day in days:
            status.update(f"seed {day.seed}")
            try:
                bounds.append(
                    peak_bound(day, jobs_of(day, config, weights), time_limit=args.time_limit)
                )
            except NoAssignmentError as error:
                raise SystemExit(str(error)) from None
    summary = summary_of(bounds)
    if report is not None:
        summary["against"] = compare(bounds, report, days[0].team)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
