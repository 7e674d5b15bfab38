"""The clairvoyant floor under the wellness benchmark's peak: it is the best assignment there is,
it respects skills and shifts, and it reads the same days and weights as the benchmark."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from bench.wellness_bound import (
    Job,
    NoAssignmentError,
    PeakBound,
    compare,
    exposure_weights,
    jobs_of,
    main,
    peak_bound,
)
from bench.wellness_routing import CONFIG, TEXTS, Day, Kind, Member, plan_day
from warmline.config.loader import load_config

LISTENING = frozenset({"listening"})
CRISIS = frozenset({"crisis"})
TEAM = (
    Member(
        "staff-a", crisis_trained=True, capacity=1, starts=0, ends=8, skills=("listening", "crisis")
    ),
    Member(
        "staff-b",
        crisis_trained=True,
        capacity=1,
        starts=2,
        ends=10,
        skills=("listening", "crisis"),
    ),
    Member("vol-c", crisis_trained=False, capacity=2, starts=0, ends=6),
)


def _brute_force(team: tuple[Member, ...], jobs: list[Job]) -> float:
    """The lowest highest exposure over every assignment that respects skills and shifts."""
    options = [
        [i for i, m in enumerate(team) if job.skills <= set(m.skills) and job.arrives_h < m.ends]
        for job in jobs
    ]
    best = float("inf")
    for choice in itertools.product(*options):
        totals = [0.0] * len(team)
        for job, person in zip(jobs, choice, strict=True):
            totals[person] += job.exposure
        best = min(best, max(totals))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_the_floor_is_the_best_assignment_there_is(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data
    jobs = [
        Job(
            contact=f"c{n}",
            arrives_h=rng.uniform(0, 9.5),
            exposure=round(rng.uniform(10, 240), 1),
            skills=CRISIS if rng.random() < 0.3 else LISTENING,
        )
        for n in range(7)
    ]
    day = Day(seed=seed, hours=10, team=TEAM, contacts=())
    bound = peak_bound(day, jobs)
    assert bound.optimal
    best = _brute_force(TEAM, jobs)
    assert best - 0.1 < bound.floor <= best + 1e-6  # a floor, rounded down to a tenth
    assert bound.best_found == round(best, 1)


def test_skills_and_shifts_decide_who_can_take_a_job() -> None:
    day = Day(seed=1, hours=10, team=TEAM, contacts=())
    # After 8 h only staff-b is on shift: both late crises are hers, whatever it costs.
    late = [
        Job("c1", arrives_h=8.5, exposure=200.0, skills=CRISIS),
        Job("c2", arrives_h=9.0, exposure=150.0, skills=CRISIS),
        Job("c3", arrives_h=1.0, exposure=100.0, skills=LISTENING),
    ]
    assert peak_bound(day, late).floor == pytest.approx(350.0)
    # A listening job at 7 h may go to staff-a or staff-b but not to vol-c (gone at 6 h).
    spread = [
        Job("c1", arrives_h=7.0, exposure=90.0, skills=LISTENING),
        Job("c2", arrives_h=7.5, exposure=90.0, skills=LISTENING),
        Job("c3", arrives_h=7.9, exposure=90.0, skills=LISTENING),
    ]
    assert peak_bound(day, spread).floor == pytest.approx(180.0)
    with pytest.raises(NoAssignmentError, match="nobody could take c9"):
        peak_bound(day, [Job("c9", arrives_h=9.9, exposure=10.0, skills=frozenset({"legal"}))])


def test_the_weights_are_the_wellness_policys_for_what_triage_reads() -> None:
    config = load_config(CONFIG, resolve_secrets=False)
    weights = exposure_weights(config)
    policy = config.wellness
    assert policy is not None
    assert {weights[text] for text in TEXTS[Kind.CRISIS]} == {policy.exposure.weights.crisis}
    others = {weights[text] for kind in (Kind.DISTRESSED, Kind.PANIC) for text in TEXTS[kind]}
    assert others <= {policy.exposure.weights.elevated, policy.exposure.weights.high}
    day = plan_day(seed=8)
    jobs = jobs_of(day, config, weights)
    assert len(jobs) == sum(c.kind is not Kind.ROUTINE for c in day.contacts)
    assert all(job.skills == {"crisis"} for job in jobs if "crisis" in job.contact)


def test_a_day_of_the_benchmark_has_a_floor_between_the_obvious_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--seed", "8", "--json", "--time-limit", "10"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (row,) = summary["by_day"]
    config = load_config(CONFIG, resolve_secrets=False)
    day = plan_day(seed=8)
    jobs = jobs_of(day, config, exposure_weights(config))
    # No assignment beats the largest single conversation or the team's even share.
    largest = max(j.exposure for j in jobs)
    obvious = max(largest, sum(j.exposure for j in jobs) / len(day.team))
    assert obvious - 0.1 <= row["floor"] <= row["best_found"]
    assert row["seed"] == 8


def test_a_report_is_set_beside_the_floor() -> None:
    bounds = [PeakBound(27, 200.0, 200.0, True), PeakBound(28, 220.0, 221.0, False)]
    team = {m.id: 0.0 for m in TEAM}
    report = {
        "days": [{"seed": 27}, {"seed": 28}],
        "runs": {
            "longest_idle": {"peak_exposure_by_day": [300.0, 340.0], "exposure_minutes": team},
            "wellness_aware": {"peak_exposure_by_day": [250.0, 290.0], "exposure_minutes": team},
        },
    }
    figures = compare(bounds, report, TEAM)
    assert figures["wellness_aware"]["peak_lower_by"] == pytest.approx(0.1563, abs=1e-4)
    # The baseline peaks 320 on average, the floor 210: the candidate made 50 of the 110.
    assert figures["wellness_aware"]["share_of_possible_cut"] == pytest.approx(50 / 110, abs=1e-4)
    assert figures["floor"]["peak_lower_by"] == pytest.approx(1 - 210 / 320, abs=1e-4)
    assert figures["floor"]["target_peak"] == pytest.approx(224.0)
    assert figures["floor"]["target_share_of_possible_cut"] == pytest.approx(96 / 110, abs=1e-4)
    with pytest.raises(SystemExit, match="pass the same --seed and --days"):
        compare(bounds[:1], report, TEAM)
    with pytest.raises(SystemExit, match="longest_idle run had another team"):
        compare(bounds, report, TEAM[:2])


def test_a_report_that_is_not_one_is_refused_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(SystemExit, match=r"--against .*missing.json: not a readable JSON report"):
        main(["--against", str(missing)])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(SystemExit, match="not a readable JSON report"):
        main(["--against", str(broken)])
    other = tmp_path / "other.json"
    for wrong in ({"floor_mean": 1}, {"days": [], "runs": {}}, {"days": [{}], "runs": {"x": {}}}):
        other.write_text(json.dumps(wrong), encoding="utf-8")
        with pytest.raises(SystemExit, match="expected the JSON object"):
            main(["--against", str(other)])
    with pytest.raises(SystemExit, match="already on the team"):
        main(["--add-member", "staff-ren:crisis:1:0-8"])
