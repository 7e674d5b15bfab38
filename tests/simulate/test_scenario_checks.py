"""What the scenario loader refuses before anything runs, how a report shows its results, and that
the documentation's scenarios are the shipped ones. No services: these are fast."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from warmline.errors import ConfigError
from warmline.simulate import load_scenario
from warmline.simulate.report import Run, StepError, evaluate
from warmline.wellness.view import WorkerWellness

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "examples" / "scenarios"
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
DOC = ROOT / "docs" / "simulate.md"
GRIEF = "My mother died last week and the gift I ordered for her arrived today"
HEADER = "apiVersion: warmline/v1\nkind: Scenario\nmetadata: {name: probe}\n"
MESSAGE = f'steps:\n  - at: 0s\n    message: {{conversation: c1, text: "{GRIEF}"}}\n'
"""Lines 4 to 6: the scenario's first step starts conversation c1; `expect:` is line 7 after it."""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def refused(tmp_path: Path, body: str) -> list[str]:
    """The loader's diagnostics, each `LINE:COL: message`."""
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as error:
        load_scenario(path, config_path=ONLINE_SHOP)
    return [f"{d.line}:{d.column}: {d.message}" for d in error.value.diagnostics]


REFUSED = [
    pytest.param(
        MESSAGE + "expect:\n  - not_event: io.warmline.offer.created.v1\n    subject: c-1\n",
        "9:14: expect[0].subject: 'c-1' is not a conversation a message step starts; "
        "did you mean 'c1'?",
        id="subject-no-conversation-starts",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - event: io.warmline.wellness.break.started.v1\n"
        "    subject: sp-oul\n",
        "9:14: expect[0].subject: unknown worker 'sp-oul' (a wellness event's subject is a "
        "worker); did you mean 'sp-olu'?",
        id="wellness-subject-unknown-worker",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - event: io.warmline.wellness.break.started.v1\n    subject: c1\n",
        "9:14: expect[0].subject: unknown worker 'c1' (a wellness event's subject is a worker)",
        id="wellness-subject-a-conversation",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - not_event: io.warmline.offer.created.v1\n"
        "    data: {specialst: sp-olu}\n",
        "9:12: expect[0].data: unknown key 'specialst': io.warmline.offer.created.v1 has no such "
        "data; did you mean 'specialist'?",
        id="data-key-misspelt",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - not_event: io.warmline.escalation.assigned.v1\n"
        "    data: {specialist: sp-olu}\n",
        "9:12: expect[0].data: unknown key 'specialist': io.warmline.escalation.assigned.v1 has "
        "no such data; did you mean 'specialist_id'?",
        id="data-key-of-another-event-type",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - not_event: io.warmline.offer.created.v1\n"
        "    data: {specialist: sp-oul}\n",
        "9:24: expect[0].data.specialist: unknown specialist 'sp-oul'; did you mean 'sp-olu'?",
        id="data-names-no-specialist",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - event: io.warmline.escalation.assigned.v1\n"
        "    data: {specialist_id: sp-olu, supervisor_id: sup-amra}\n",
        "9:50: expect[0].data.supervisor_id: unknown supervisor 'sup-amra'; "
        "did you mean 'sup-amara'?",
        id="data-names-no-supervisor",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - event: io.warmline.offer.created.v1\n    data: {queue: cares}\n",
        "9:19: expect[0].data.queue: unknown queue 'cares'; did you mean 'care'?",
        id="data-names-no-queue",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - event: io.warmline.wellness.rotation.started.v1\n"
        "    data: {off_queues: [care, crisiss]}\n",
        "9:31: expect[0].data.off_queues[1]: unknown queue 'crisiss'; did you mean 'crisis'?",
        id="data-list-names-no-queue",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - wellness: {worker: sp-olu, at: 1m, exposure_at_least: 10, "
        "exposure_below: 5}\n",
        "8:79: expect[0].wellness.exposure_below: must be above exposure_at_least (10): no "
        "exposure is at least 10 and below 5",
        id="exposure-bounds-contradict",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - wellness: {worker: sp-olu, at: 1m, exposure_at_least: 5, "
        "exposure_below: 5}\n",
        "8:78: expect[0].wellness.exposure_below: must be above exposure_at_least (5)",
        id="exposure-bounds-equal",
    ),
    pytest.param(
        MESSAGE + "  - at: 20s\n    accept: {specialist: sp-olu, conversation: c-1}\n",
        "8:48: steps[1].accept.conversation: conversation 'c-1' is never started (no message "
        "step names it); did you mean 'c1'?",
        id="step-about-a-conversation-never-started",
    ),
    pytest.param(
        "steps:\n  - at: 0s\n    close: {conversation: c1}\n" + MESSAGE.removeprefix("steps:\n"),
        "6:27: steps[0].close.conversation: conversation 'c1' starts only at steps[1], its first "
        "message; a step about it must come after that",
        id="step-before-its-conversation-starts",
    ),
    pytest.param(
        MESSAGE + "  - at: 24h1s\n    close: {conversation: c1}\n",
        "7:9: steps[1].at: 24h1s is past 24h, the longest a scenario may run: every simulated "
        "hour costs real time",
        id="step-past-the-bound",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - not_event: io.warmline.offer.created.v1\n    within: 2d\n",
        "9:13: expect[0].within: 48h is past 24h",
        id="within-past-the-bound",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - wellness: {worker: sp-olu, at: 25h, on_break: false}\n",
        "8:36: expect[0].wellness.at: 25h is past 24h",
        id="wellness-at-past-the-bound",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - wellness: {worker: sp-olu, at: 1m, on_break: false}\n"
        "    within: 0s\n",
        "8:5: expect[0]: a wellness expectation takes worker, at and the state to check",
        id="wellness-with-within-0s",
    ),
    pytest.param(
        MESSAGE + "expect:\n  - wellness: {worker: sp-olu, at: 1m, on_break: false}\n"
        "    data: {}\n",
        "8:5: expect[0]: a wellness expectation takes worker, at and the state to check",
        id="wellness-with-empty-data",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REFUSED)
def test_a_mistake_in_a_scenario_is_refused_where_it_is(
    tmp_path: Path, body: str, expected: str
) -> None:
    problems = refused(tmp_path, body)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_expectations_about_what_the_scenario_can_produce_load(tmp_path: Path) -> None:
    """Subjects, keys and names that exist pass, as do the annotation loop's subject (the
    deployment), an event's null supervisor and 24h itself."""
    path = write(
        tmp_path,
        MESSAGE
        + """  - at: 24h
    close: {conversation: c1}
expect:
  - event: io.warmline.offer.created.v1
    subject: c1
    data: {specialist: sp-olu, queue: care, crisis: false}
    within: 24h
  - event: io.warmline.escalation.assigned.v1
    data: {specialist_id: sp-jonas, supervisor_id: sup-amara, queue: crisis}
  - event: io.warmline.supervisor.paged.v1
    data: {supervisor: null}
  - event: io.warmline.wellness.checkin.requested.v1
    subject: an-sam
    data: {recipient: wellness_lead, wellness_leads: [sup-amara]}
  - event: io.warmline.annotation.batch.measured.v1
    subject: online-shop
  - wellness: {worker: sp-olu, at: 24h, exposure_at_least: 0, exposure_below: 0.5}
""",
    )
    loaded = load_scenario(path, config_path=ONLINE_SHOP)
    assert len(loaded.scenario.expect) == 6


def test_a_roster_of_the_scenario_replaces_the_configuration_s_for_data(tmp_path: Path) -> None:
    body = (
        "specialists:\n  - {id: sp-new, skills: [care]}\n"
        + MESSAGE
        + "expect:\n  - not_event: io.warmline.offer.created.v1\n    data: {specialist: sp-olu}\n"
    )
    assert refused(tmp_path, body) == [
        "11:24: expect[0].data.specialist: unknown specialist 'sp-olu'; expected one of: sp-new"
    ]


# --- reports -------------------------------------------------------------------------------------


def test_exposure_is_shown_to_a_tenth_and_kept_whole_in_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MESSAGE
        + "expect:\n  - wellness: {worker: sp-olu, at: 30m, on_break: true}\n"
        + "  - wellness: {worker: sp-olu, at: 30m, exposure_at_least: 60}\n"
        + "  - wellness: {worker: sp-olu, at: 30m, exposure_below: 59.5}\n",
    )
    scenario = load_scenario(path, config_path=ONLINE_SHOP).scenario
    view = WorkerWellness(worker_id="sp-olu", exposure_minutes=59.498, on_break=True)
    close = WorkerWellness(worker_id="sp-olu", exposure_minutes=59.96)
    report = evaluate(scenario, Run(views={0: view, 1: close, 2: view}))
    assert [(r.passed, r.detail) for r in report.results] == [
        (True, "exposure 59.5 min"),
        # Rounded, 59.96 would read as 60, "below 60": the digits that miss it are shown.
        (False, "exposure is 59.96, below 60"),
        (True, "exposure 59.5 min"),
    ]
    shown = report.as_json()["expectations"][0]
    assert shown == {
        "expect": {"wellness": {"worker": "sp-olu", "at": "30m", "on_break": True}},
        "passed": True,
        "detail": "exposure 59.5 min",
        "exposure_minutes": 59.498,
    }


def test_json_numbers_steps_from_1_like_the_text_and_echoes_no_empty_data(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        MESSAGE
        + "  - at: 10s\n    accept: {specialist: sp-olu, conversation: c1}\n"
        + "expect:\n  - event: io.warmline.handoff.completed.v1\n    within: 0s\n",
    )
    scenario = load_scenario(path, config_path=ONLINE_SHOP).scenario
    error = StepError(1, timedelta(seconds=10), "accept", "sp-olu has no open offer of c1 now")
    shown = evaluate(scenario, Run(step_errors=[error])).as_json()
    assert shown["step_errors"] == [
        {"step": 2, "at_s": 10, "kind": "accept", "error": "sp-olu has no open offer of c1 now"}
    ]
    assert shown["expectations"][0]["expect"] == {
        "event": "io.warmline.handoff.completed.v1",
        "within": "0s",
    }


# --- the documentation ---------------------------------------------------------------------------

BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.DOTALL | re.MULTILINE)
COMMENT = re.compile(r"\s+#.*$")


def doc_scenarios() -> list[str]:
    return [block for block in BLOCK.findall(DOC.read_text(encoding="utf-8")) if "at:" in block]


def test_the_documentation_s_full_scenarios_are_shipped_ones_verbatim() -> None:
    full = [block for block in doc_scenarios() if "kind: Scenario" in block]
    assert full, "docs/simulate.md shows a whole scenario"
    for block in full:
        name = re.search(r"^  name: (\S+)$", block, re.MULTILINE)
        assert name is not None, block
        shipped = SCENARIOS / f"{name.group(1)}.yaml"
        assert block == shipped.read_text(encoding="utf-8"), shipped


def test_the_documentation_s_shortened_scenarios_keep_shipped_lines_in_order() -> None:
    """A shortened scenario leaves lines out (and may comment on them) but changes none."""
    partial = [block for block in doc_scenarios() if "kind: Scenario" not in block]
    assert partial, "docs/simulate.md shows a shortened scenario"
    shipped = {
        path.stem: path.read_text(encoding="utf-8").splitlines() for path in SCENARIOS.iterdir()
    }
    for block in partial:
        lines = [COMMENT.sub("", line) for line in block.splitlines() if line.strip()]

        def keeps(source: list[str], lines: list[str] = lines) -> bool:
            remaining = iter(source)
            return all(line in remaining for line in lines)

        assert any(keeps(source) for source in shipped.values()), block
