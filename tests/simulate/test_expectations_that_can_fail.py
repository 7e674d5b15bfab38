"""Every expectation a scenario loads could fail, and a failure says where it is.

An expectation that cannot fail is refused when the scenario is loaded (exit 2): one about an
event no scenario produces, or one whose `within` closes before the conversation it is about has
started (`within` counts from the scenario's start). A failed run names each failed step and
expectation at its `FILE:LINE:COL:`, on stderr like the loader's diagnostics and in `--json`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.worker_process import WARMLINE
from warmline.errors import ConfigError
from warmline.events import DomainEvent, EventType
from warmline.services import Endpoints
from warmline.simulate import load_scenario
from warmline.simulate.report import Run, StepError, evaluate

ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
GRIEF = "My mother died last week and the gift I ordered for her arrived today"
HEADER = "apiVersion: warmline/v1\nkind: Scenario\nmetadata: {name: probe}\n"
LATER = f'steps:\n  - at: 1m\n    message: {{conversation: c1, text: "{GRIEF}"}}\n'
"""Lines 4 to 6: conversation c1 starts at 1m; `expect:` is line 7 after it."""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def refused(tmp_path: Path, body: str) -> list[str]:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as error:
        load_scenario(path, config_path=ONLINE_SHOP)
    return [f"{d.line}:{d.column}: {d.message}" for d in error.value.diagnostics]


def test_a_not_event_whose_window_closes_before_its_conversation_starts_is_refused(
    tmp_path: Path,
) -> None:
    body = LATER + (
        "expect:\n  - not_event: io.warmline.offer.created.v1\n    subject: c1\n"
        "    data: {specialist: sp-jonas}\n    within: 30s\n"
    )
    assert refused(tmp_path, body) == [
        "11:13: expect[0].within: 30s ends before c1's first message (at 1m), so this "
        "expectation could never fail; `within` counts from the scenario's start"
    ]


def test_an_event_whose_window_closes_before_any_conversation_starts_is_refused(
    tmp_path: Path,
) -> None:
    body = LATER + "expect:\n  - event: io.warmline.conversation.escalated.v1\n    within: 59s\n"
    assert refused(tmp_path, body) == [
        "9:13: expect[0].within: 59s ends before the first message of any conversation (at 1m), "
        "so this expectation could never hold; `within` counts from the scenario's start"
    ]


def test_a_conversation_s_event_in_a_scenario_without_messages_is_refused(
    tmp_path: Path,
) -> None:
    body = (
        "steps:\n  - at: 0s\n    break_now: {worker: sp-olu}\n"
        "expect:\n  - not_event: io.warmline.offer.created.v1\n    data: {specialist: sp-olu}\n"
    )
    assert refused(tmp_path, body) == [
        "8:16: expect[0].not_event: no message step starts a conversation, so no "
        "io.warmline.offer.created.v1 can happen: this expectation could never fail"
    ]


@pytest.mark.parametrize(
    ("event_type", "source"),
    [
        ("io.warmline.model.promoted.v1", "retraining, which a scenario does not run"),
        ("io.warmline.triage.corrected.v1", "a reviewer's triage correction, which no step"),
        ("io.warmline.inbound.availability.changed.v1", "the bridge, which a scenario does not"),
        ("io.warmline.annotation.reply.audited.v1", "a tone audit of an AI reply"),
    ],
)
def test_an_event_no_scenario_produces_is_refused(
    tmp_path: Path, event_type: str, source: str
) -> None:
    body = LATER + f"expect:\n  - not_event: {event_type}\n  - event: {event_type}\n"
    problems = refused(tmp_path, body)
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        f"8:16: expect[0].not_event: no scenario produces {event_type}: it comes from {source}"
    )
    assert problems[0].endswith("so this expectation could never fail")
    assert problems[1].startswith("9:12: expect[1].event: no scenario produces")
    assert problems[1].endswith("so this expectation could never hold")


def test_windows_that_reach_the_conversation_load(tmp_path: Path) -> None:
    """From the first message's second on, the conversation's events can happen; wellness events
    need no conversation."""
    body = LATER + (
        "expect:\n"
        "  - not_event: io.warmline.offer.created.v1\n    subject: c1\n    within: 1m\n"
        "  - event: io.warmline.conversation.started.v1\n    within: 1m\n"
        "  - not_event: io.warmline.wellness.break.started.v1\n    subject: sp-olu\n"
        "    within: 30s\n"
    )
    path = write(tmp_path, body)
    assert len(load_scenario(path, config_path=ONLINE_SHOP).scenario.expect) == 3


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            "{crisis: 'yes'}",
            "9:20: expect[0].data.crisis: io.warmline.offer.created.v1 has a boolean here; "
            "'yes' would match no event",
            id="text-for-a-boolean",
        ),
        pytest.param(
            "{crisis: 1}",
            "9:20: expect[0].data.crisis: io.warmline.offer.created.v1 has a boolean here; "
            "1 would match no event",
            id="number-for-a-boolean",
        ),
        pytest.param(
            "{priority: high}",
            "9:22: expect[0].data.priority: io.warmline.offer.created.v1 has a whole number "
            "here; 'high' would match no event",
            id="text-for-a-number",
        ),
        pytest.param(
            "{assigned_by: [sup-amara]}",
            "9:25: expect[0].data.assigned_by: io.warmline.offer.created.v1 has a string or "
            "null here; ['sup-amara'] would match no event",
            id="list-for-a-name",
        ),
    ],
)
def test_a_data_value_no_event_can_hold_is_refused(
    tmp_path: Path, data: str, expected: str
) -> None:
    """A not_event whose value can never equal the event's (`crisis: 'yes'`) passes whatever
    happens."""
    body = LATER + f"expect:\n  - not_event: io.warmline.offer.created.v1\n    data: {data}\n"
    assert refused(tmp_path, body) == [expected]


def test_data_values_of_the_event_s_types_load(tmp_path: Path) -> None:
    """A whole number where the event has a number, null where it may have none, lists of
    names and nested models (not checked here) all load."""
    body = LATER + (
        "expect:\n"
        "  - event: io.warmline.wellness.budget.exceeded.v1\n    data: {budget_minutes: 240}\n"
        "  - event: io.warmline.offer.created.v1\n"
        "    data: {assigned_by: null, crisis: false, priority: 2}\n"
        "  - event: io.warmline.wellness.rotation.started.v1\n"
        "    data: {off_queues: [care, crisis]}\n"
        "  - event: io.warmline.message.triaged.v1\n"
        "    data: {emotions: [{label: grief}], distress: 0.5}\n"
    )
    path = write(tmp_path, body)
    assert len(load_scenario(path, config_path=ONLINE_SHOP).scenario.expect) == 4


FAILING = f"""steps:
  - at: 0s
    message: {{conversation: c1, text: "{GRIEF}"}}
  - at: 10s
    accept: {{specialist: sp-priya, conversation: c1}}
expect:
  - event: io.warmline.offer.created.v1
    data: {{specialist: sp-olu}}
    within: 1s
  - event: io.warmline.handoff.completed.v1
    within: 1m
  - wellness: {{worker: sp-olu, at: 30s, on_break: true}}
"""
"""Lines 4 to 15: step 2 (`accept:` at 8:5) fails; expect[1] (13:5) and expect[2] (15:5) fail."""


def test_a_failed_report_names_each_failure_at_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    loaded = load_scenario(path, config_path=ONLINE_SHOP)
    step = StepError(1, timedelta(seconds=10), "accept", "sp-priya has no open offer of c1 now")
    report = evaluate(loaded.scenario, Run(step_errors=[step]), loaded.document)
    assert report.failures() == [
        f"{path}:8:5: steps[1]: step 2 (at 10s, accept): sp-priya has no open offer of c1 now",
        f"{path}:10:5: expect[0]: expected event io.warmline.offer.created.v1 "
        "data={'specialist': 'sp-olu'} within 1s; no offer.created event at all",
        f"{path}:13:5: expect[1]: expected event io.warmline.handoff.completed.v1 within 1m; "
        "no handoff.completed event at all",
        f"{path}:15:5: expect[2]: expected wellness sp-olu at 30s: on_break=True; "
        "the view was never read",
    ]
    shown = report.as_json()
    assert [e["location"] for e in shown["expectations"]] == [
        f"{path}:10:5",
        f"{path}:13:5",
        f"{path}:15:5",
    ]
    assert shown["step_errors"][0]["location"] == f"{path}:8:5"


def test_a_failing_run_prints_its_failures_at_their_places(
    tmp_path: Path, embedded_services: Endpoints
) -> None:
    path = write(tmp_path, FAILING)
    services = ["--kafka", embedded_services.kafka or "", "--redis", embedded_services.redis or ""]
    result = subprocess.run(
        [str(WARMLINE), "simulate", str(path), "--config", str(ONLINE_SHOP), "--json", *services],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["passed"] is False
    assert result.stderr.splitlines() == [
        f"{path}:8:5: steps[1]: step 2 (at 10s, accept): sp-priya has no open offer of c1 now",
        f"{path}:13:5: expect[1]: expected event io.warmline.handoff.completed.v1 within 1m; "
        "no handoff.completed event at all",
        f"{path}:15:5: expect[2]: expected wellness sp-olu at 30s: on_break=True; "
        "on_break is False",
    ]


# --- the shipped scenarios' expectations fail when what they describe breaks ---------------------

SCENARIOS = ROOT / "examples" / "scenarios"
START = datetime(2026, 1, 1, tzinfo=UTC)


def timeline(*events: tuple[int, str, str, Mapping[str, object]]) -> Run:
    """A run whose events happened at the given offsets (seconds), of the given short types."""
    return Run(
        events=[
            (
                timedelta(seconds=offset),
                DomainEvent(
                    id=f"e{number}",
                    type=EventType(f"io.warmline.{short}.v1"),
                    source="test",
                    subject=subject,
                    time=START + timedelta(seconds=offset),
                    data=dict(data),
                ),
            )
            for number, (offset, short, subject, data) in enumerate(events)
        ]
    )


def failed(name: str, run: Run) -> list[str]:
    """The failed expectations of shipped scenario `name` against `run`, described."""
    loaded = load_scenario(SCENARIOS / f"{name}.yaml")
    report = evaluate(loaded.scenario, run, loaded.document)
    return [f"{r.expectation.describe()}: {r.detail}" for r in report.results if not r.passed]


def chain(listening_s: int, priority_s: int, crisis_s: int) -> Run:
    """The escalation chain of the peer-support example, each queue's timer firing after the
    given seconds."""
    rerouted, paged = listening_s, listening_s + priority_s
    return timeline(
        (0, "conversation.escalated", "c", {"queue": "listening"}),
        (0, "offer.created", "c", {"specialist": "staff-nia", "queue": "listening"}),
        (rerouted, "offer.expired", "c", {"specialist": "staff-nia", "queue": "listening"}),
        (
            rerouted,
            "escalation.rerouted",
            "c",
            {"from_queue": "listening", "to_queue": "listening-priority", "reason": "sla_missed"},
        ),
        (
            paged,
            "escalation.rerouted",
            "c",
            {"from_queue": "listening-priority", "to_queue": "crisis", "reason": "sla_missed"},
        ),
        (
            paged + crisis_s,
            "supervisor.paged",
            "c",
            {
                "supervisor": "sup-night",
                "queue": "crisis",
                "reason": "escalation chain exhausted",
            },
        ),
    )


@pytest.mark.parametrize(
    "name", ["expiry-reroutes-along-chain", "nobody-available-pages-supervisor"]
)
def test_a_chain_timer_that_fires_early_fails_the_chain_scenarios(name: str) -> None:
    """`within` is only a deadline: the scenarios pin each queue's accept_within from below too
    (before, a listening SLA of one minute passed them)."""
    on_time = [f for f in failed(name, chain(180, 60, 20)) if "offer.created" not in f]
    assert on_time == []
    early = failed(name, chain(60, 60, 20))
    assert any(
        f.startswith("not_event io.warmline.escalation.rerouted.v1")
        or f.startswith("not_event io.warmline.offer.expired.v1")
        for f in early
    ), early
    assert any(f.startswith("not_event io.warmline.supervisor.paged.v1") for f in early), early
    late_page = failed(name, chain(180, 60, 50))
    assert any(f.startswith("event io.warmline.supervisor.paged.v1") for f in late_page)


def test_a_colleague_never_asked_to_check_in_fails_the_missed_checkin_scenario() -> None:
    """sp-olu's "never nudged" held as well when she was never asked at all."""
    asked = {"reason": "after_crisis", "recipient": "worker"}
    run = timeline(
        (600, "wellness.checkin.requested", "sp-jonas", asked),
        (720, "wellness.checkin.submitted", "sp-olu", {}),
    )
    assert (
        "event io.warmline.wellness.checkin.requested.v1 subject=sp-olu data={'reason': "
        "'after_crisis', 'recipient': 'worker'} within 11m1s: no wellness.checkin.requested "
        "matched: sp-jonas reason=after_crisis, recipient=worker"
    ) in failed("missed-checkin-nudges-lead", run)


def test_an_early_nudge_fails_the_missed_checkin_scenario() -> None:
    missed = {"reason": "missed:after_crisis"}
    run = timeline(
        (660, "wellness.checkin.requested", "sp-jonas", missed | {"recipient": "worker"}),
        (900, "wellness.checkin.requested", "sp-jonas", missed | {"recipient": "wellness_lead"}),
    )
    failures = failed("missed-checkin-nudges-lead", run)
    assert any(f.endswith("within 24m59s: happened at 660s") for f in failures), failures
    assert any(f.endswith("within 39m59s: happened at 900s") for f in failures), failures


def test_an_escalation_after_the_hand_back_fails_even_without_an_offer() -> None:
    """The AI carries on: the calmer message is not escalated, whether or not anyone is offered
    the conversation (before, only an offer with one exact id failed the scenario)."""
    run = timeline(
        (180, "handoff.returned", "c-back", {"specialist": "sp-olu", "note": "x"}),
        (240, "message.triaged", "c-back", {"message_id": "m2"}),
        (240, "conversation.escalated", "c-back", {"message_id": "m2", "queue": "care"}),
    )
    expected = "not_event io.warmline.conversation.escalated.v1 data={'message_id': 'm2'}: "
    assert expected + "happened at 240s" in failed("hand-back-to-ai", run)


def test_a_kafka_that_is_not_there_is_one_line(embedded_services: Endpoints) -> None:
    """A given Kafka is checked before the run, as a given Redis is: kafka-python's own wait
    (half a minute) ended in `error: KafkaTimeoutError: Unable to bootstrap from ...`."""
    scenario = ROOT / "examples" / "scenarios" / "grief-accepted-completed.yaml"
    result = subprocess.run(
        [
            str(WARMLINE),
            "simulate",
            str(scenario),
            "--kafka",
            "127.0.0.1:1",
            "--redis",
            embedded_services.redis or "",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cannot reach Kafka at 127.0.0.1:1: Connection refused; is the broker running there?"
    ]
