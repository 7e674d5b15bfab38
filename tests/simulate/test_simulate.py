"""`warmline simulate`: every shipped scenario passes; failures exit 1; invalid scenarios exit 2.

The shipped scenarios run in process against the session's embedded Kafka broker and Redis; the
exit codes are checked through the real command line.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.imports import loaded_by
from tests.worker_process import WARMLINE
from warmline.errors import ConfigError
from warmline.services import Endpoints
from warmline.services.process import pid_alive
from warmline.simulate import load_scenario, run_scenario
from warmline.simulate.report import Run, evaluate

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
GRIEF = "My mother died last week and the gift I ordered for her arrived today"


WELLNESS_STEPS = ("checkin:", "break_now:", "end_break:", "annotate:", "- wellness:")


def test_at_least_ten_scenarios_ship() -> None:
    assert len(SCENARIOS) >= 10


def test_at_least_five_wellness_scenarios_ship() -> None:
    wellness = [
        path.stem
        for path in SCENARIOS
        if any(step in path.read_text(encoding="utf-8") for step in WELLNESS_STEPS)
    ]
    assert len(wellness) >= 5, wellness


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_passes(path: Path, embedded_services: Endpoints) -> None:
    report = run_scenario(
        load_scenario(path), kafka=embedded_services.kafka, redis=embedded_services.redis
    )
    failed = [r.detail for r in report.results if not r.passed]
    assert report.passed, (failed, report.run.step_errors)


def test_without_the_break_the_offer_reaches_the_worker(embedded_services: Endpoints) -> None:
    """break-now-stops-offers tests the break: played without its `break_now` and `end_break`,
    sp-olu's decline sends the offer to sp-jonas at once, and the scenario fails."""
    from warmline.simulate.scenario import LoadedScenario

    loaded = load_scenario(ROOT / "examples" / "scenarios" / "break-now-stops-offers.yaml")
    kept = [s for s in loaded.scenario.steps if s.kind not in {"break_now", "end_break"}]
    assert len(kept) == len(loaded.scenario.steps) - 2
    unbroken = loaded.scenario.model_copy(update={"steps": kept})
    report = run_scenario(
        LoadedScenario(unbroken, loaded.document, loaded.config),
        kafka=embedded_services.kafka,
        redis=embedded_services.redis,
    )
    assert not report.passed
    no_offer = next(
        r
        for r in report.results
        if r.expectation.negated and r.expectation.data == {"specialist": "sp-jonas"}
    )
    assert (no_offer.passed, no_offer.detail) == (False, "happened at 20s")


def simulate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WARMLINE), "simulate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(tmp_path: Path, body: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    header = "apiVersion: warmline/v1\nkind: Scenario\nmetadata: {name: probe}\n"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_a_failing_expectation_and_a_failed_step_exit_1(
    tmp_path: Path, embedded_services: Endpoints
) -> None:
    path = write(
        tmp_path,
        f"""steps:
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
""",
    )
    services = ["--kafka", embedded_services.kafka or "", "--redis", embedded_services.redis or ""]
    # The text and the JSON report of the same run, played side by side (each its own process).
    with ThreadPoolExecutor(max_workers=2) as pool:
        text, json_run = (
            pool.submit(simulate, path, "--config", ONLINE_SHOP, *services),
            pool.submit(simulate, path, "--config", ONLINE_SHOP, "--json", *services),
        )
        result, as_json = text.result(), json_run.result()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "✓ event io.warmline.offer.created.v1" in result.stdout
    assert "✗ event io.warmline.handoff.completed.v1 within 1m: no handoff.completed" in (
        result.stdout
    )
    assert "✗ step 2 (at 10s, accept): sp-priya has no open offer of c1 now" in result.stdout

    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["passed"] is False
    assert [e["passed"] for e in report["expectations"]] == [True, False]
    # Numbered from 1 as in the text ("✗ step 2"); no `data` echoed where none was asked for.
    assert [(e["step"], e["kind"]) for e in report["step_errors"]] == [(2, "accept")]
    assert report["expectations"][1]["expect"] == {
        "event": "io.warmline.handoff.completed.v1",
        "within": "1m",
    }
    started = next(e for e in report["timeline"] if e["subject"] == "c1")
    assert started == {
        "type": "io.warmline.conversation.started.v1",
        "offset_s": 0,
        "subject": "c1",
        "data": {"channel": "chat"},
    }
    # Every available specialist's shift starts with the scenario (wellness on its own topic).
    shifts = {
        e["subject"]
        for e in report["timeline"]
        if e["type"] == "io.warmline.wellness.exposure.updated.v1" and e["offset_s"] == 0
    }
    assert {"sp-jonas", "sp-priya", "sp-olu"} <= shifts


STEP = "steps:\n  - at: 0s\n    message: {conversation: c1, text: hi}\n"
INVALID = [
    pytest.param(
        "stpes: []\n", "4:1: (top level): unknown key 'stpes'; did you mean 'steps'?", id="typo"
    ),
    pytest.param(
        "steps:\n  - at: 0s\n    escalate: {conversation: c1}\n",
        "6:5: steps[0]: unknown key 'escalate'; expected one of: at, message, accept,",
        id="step-kind-with-a-step-key-inside",
    ),
    pytest.param(
        "steps:\n  - at: 90\n    close: {conversation: c1}\n",
        "5:9: steps[0].at: duration '90' needs a unit",
        id="bad-duration",
    ),
    pytest.param(
        STEP + "expect:\n  - event: io.warmline.offer.create.v1\n",
        "8:12: expect[0].event: unknown event type 'io.warmline.offer.create.v1'; "
        "did you mean 'io.warmline.offer.created.v1'?",
        id="unknown-event-type",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    greet: {conversation: c1}\n",
        "6:5: steps[0]: unknown key 'greet'",
        id="unknown-step-kind",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    message: {conversation: c1, text: hi}\n"
        "    close: {conversation: c1}\n",
        "5:5: steps[0]: a step needs exactly one of",
        id="two-step-kinds",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    accept: {specialist: sp-jonsa, conversation: c1}\n",
        "6:26: steps[0].accept.specialist: unknown specialist 'sp-jonsa'; did you mean 'sp-jonas'?",
        id="unknown-specialist",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n"
        "    assign: {conversation: c1, specialist: sp-jonsa, supervisor: sup-amara}\n",
        "6:44: steps[0].assign.specialist: unknown specialist 'sp-jonsa'; did you mean 'sp-jonas'?",
        id="assign-unknown-specialist",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n"
        "    assign: {conversation: c1, specialist: sp-jonas, supervisor: sup-amra}\n",
        "6:66: steps[0].assign.supervisor: unknown supervisor 'sup-amra'; "
        "did you mean 'sup-amara'?",
        id="assign-unknown-supervisor",
    ),
    pytest.param("steps: [\n", "5:1: invalid YAML", id="not-yaml"),
    pytest.param(
        "steps: []\n",
        "4:8: steps: give at least one step: a scenario without steps tests nothing",
        id="no-steps",
    ),
    pytest.param(
        "expect: []\n", "1:1: (top level): missing required key 'steps'", id="steps-left-out"
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    checkin: {worker: sp-olu, mood: 9}\n",
        "6:37: steps[0].checkin.mood: mood 9 is off the configured scale (1 to 5)",
        id="mood-off-scale",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    break_now: {worker: sp-jonsa}\n",
        "6:25: steps[0].break_now.worker: unknown worker 'sp-jonsa'; did you mean 'sp-jonas'?",
        id="unknown-worker",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    break_now: {worker: sp-olu, minutes: 500}\n",
        "6:42: steps[0].break_now.minutes: Input should be less than or equal to 240",
        id="break-too-long",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    annotate: {annotator: an-samm, labels: [joy]}\n",
        "6:27: steps[0].annotate.annotator: unknown annotator 'an-samm'; did you mean 'an-sam'?",
        id="unknown-annotator",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    annotate: {annotator: an-sam, labels: [happy, sadnes]}\n",
        "6:51: steps[0].annotate.labels[1]: label 'sadnes' is not in the taxonomy; "
        "did you mean 'sadness'?",
        id="label-not-in-taxonomy",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    annotate: {annotator: an-sam}\n",
        "6:5: steps[0].annotate: missing required key 'labels'",
        id="annotate-without-labels",
    ),
    pytest.param(
        "steps:\n  - at: 1s\n    end_break: {worker: sp-olu}\n    refused: 3\n",
        "7:14: steps[0].refused: expected a string, but YAML reads this value as a number (3); "
        "put it in quotes to keep it as written",
        id="refused-not-text",
    ),
    pytest.param(
        "expect:\n  - wellness: {worker: sp-olu, at: 1m}\n",
        "5:15: expect[0].wellness: say what to check: in_shift, on_break",
        id="wellness-checks-nothing",
    ),
    pytest.param(
        "expect:\n  - wellness: {worker: sp-olu, at: 1m, on_brek: true}\n",
        "5:40: expect[0].wellness: unknown key 'on_brek'; did you mean 'on_break'?",
        id="wellness-typo",
    ),
    pytest.param(
        "expect:\n  - wellness: {worker: sp-olu, at: 1m, on_break: true}\n    within: 2m\n",
        "5:5: expect[0]: a wellness expectation takes worker, at and the state to check",
        id="wellness-with-within",
    ),
    pytest.param(
        STEP + "expect:\n  - wellness: {worker: sp-oul, at: 1m, on_break: true}\n",
        "8:24: expect[0].wellness.worker: unknown worker 'sp-oul'; did you mean 'sp-olu'?",
        id="wellness-unknown-worker",
    ),
]


@pytest.mark.parametrize(("body", "expected"), INVALID)
def test_an_invalid_scenario_exits_2_with_its_position(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    result = simulate(path, "--config", ONLINE_SHOP)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"{path}:{expected}" in result.stderr


def test_a_scenario_is_checked_before_the_runner_is_loaded() -> None:
    """Loading a scenario must not pull in Temporal's test server and every workflow: a mistake
    in the file is then reported in about a second, not after the runner's imports."""
    heavy = ("warmline.simulate.runner", "temporalio.testing")
    assert loaded_by("warmline.simulate", heavy) == []


def test_a_configuration_given_as_the_scenario_says_so_once() -> None:
    result = simulate(ONLINE_SHOP, "--config", ONLINE_SHOP)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [
        f"{ONLINE_SHOP}:5:7: kind: this is a configuration, not a scenario; give it with "
        "--config, or in a scenario's config: key"
    ]


def test_a_directory_given_for_the_scenario_or_its_configuration_is_named_as_one(
    tmp_path: Path,
) -> None:
    result = simulate(tmp_path, "--config", ONLINE_SHOP)
    assert result.returncode == 2
    assert f"{tmp_path}:1:1: is a directory; name the YAML file in it" in result.stderr

    path = write(tmp_path, STEP)
    result = simulate(path, "--config", ONLINE_SHOP.parent)
    assert result.returncode == 2
    assert f"{ONLINE_SHOP.parent}:1:1: is a directory; name the YAML file in it" in result.stderr

    (tmp_path / "configs").mkdir()
    path = write(tmp_path, "config: configs\n" + STEP, name="named.yaml")
    result = simulate(path)
    assert result.returncode == 2
    expected = f"{path}:4:9: config: {str(tmp_path / 'configs')!r}: is a directory"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_the_config_option_overrides_the_scenario_s_own(tmp_path: Path) -> None:
    path = write(tmp_path, "config: absent.yaml\n" + STEP)
    assert load_scenario(path, config_path=ONLINE_SHOP).config.metadata.name == "online-shop"
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(path)


def test_a_missing_scenario_or_configuration_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = simulate(missing, "--config", ONLINE_SHOP)
    assert result.returncode == 2
    assert f"{missing}:1:1: no such file or directory" in result.stderr

    path = write(tmp_path, STEP)
    result = simulate(path, "--config", tmp_path / "absent.yaml")
    assert result.returncode == 2
    assert f"{tmp_path / 'absent.yaml'}:1:1: no such file or directory" in result.stderr

    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("apiVersion: warmline/v1\nkind: WarmlineConfig\nmetadta: {}\n")
    result = simulate(path, "--config", bad_config)
    assert result.returncode == 2
    assert f"{bad_config}:3:1: (top level): unknown key 'metadta'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wellness_steps_and_expectations_report_what_went_wrong(
    tmp_path: Path, embedded_services: Endpoints
) -> None:
    """A refused step that was performed, one refused for another reason, and wellness states
    that do not hold are each reported; the ones that hold pass."""
    path = write(
        tmp_path,
        """steps:
  - at: 0s
    break_now: {worker: sp-olu, minutes: 5}
  - at: 10s
    checkin: {worker: sp-olu, mood: 4}
    refused: off the scale
  - at: 20s
    end_break: {worker: sp-jonas}
    refused: cannot be cut short
  - at: 30s
    end_break: {worker: sp-olu}
expect:
  - wellness: {worker: sp-olu, at: 5s, on_break: true, in_shift: true}
  - wellness: {worker: sp-olu, at: 40s, on_break: true}
  - wellness: {worker: sp-jonas, at: 40s, on_break: false, exposure_at_least: 1}
  - event: io.warmline.wellness.break.ended.v1
    subject: sp-olu
    data: {reason: ended by the worker}
    within: 31s
  - event: io.warmline.wellness.checkin.submitted.v1
    subject: sp-olu
    within: 11s
""",
    )
    report = run_scenario(
        load_scenario(path, config_path=ONLINE_SHOP),
        kafka=embedded_services.kafka,
        redis=embedded_services.redis,
    )
    assert not report.passed
    assert [(e.index, e.kind, e.message) for e in report.run.step_errors] == [
        (1, "checkin", "performed, but the scenario expects it to be refused ('off the scale')"),
        (2, "end_break", "refused: you are not on a break"),
    ]
    results = [(r.passed, r.detail) for r in report.results]
    assert results[0] == (True, "exposure 0 min")
    assert results[1] == (False, "on_break is False")
    assert results[2] == (False, "exposure is 0, below 1")
    assert results[3] == (True, "at 30s")
    assert results[4] == (True, "at 10s")
    shown = report.as_json()["expectations"][1]["expect"]
    assert shown == {"wellness": {"worker": "sp-olu", "at": "40s", "on_break": True}}


def test_a_wellness_view_never_read_fails(tmp_path: Path) -> None:
    path = write(
        tmp_path, STEP + "expect:\n  - wellness: {worker: sp-olu, at: 1m, on_break: true}\n"
    )
    loaded = load_scenario(path, config_path=ONLINE_SHOP)
    [result] = evaluate(loaded.scenario, Run()).results
    assert (result.passed, result.detail) == (False, "the view was never read")


def test_a_refused_assign_is_a_failed_step(tmp_path: Path, embedded_services: Endpoints) -> None:
    """Without `refused:`, a supervisor's assignment the escalation refuses fails the scenario."""
    path = write(
        tmp_path,
        f"""steps:
  - at: 0s
    message: {{conversation: c1, text: "{GRIEF}"}}
  - at: 10s
    assign: {{conversation: c1, specialist: sp-olu, supervisor: sup-amara}}
expect:
  - not_event: io.warmline.escalation.assigned.v1
""",
    )
    services = ["--kafka", embedded_services.kafka or "", "--redis", embedded_services.redis or ""]
    result = simulate(path, "--config", ONLINE_SHOP, *services)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "✓ not_event io.warmline.escalation.assigned.v1" in result.stdout
    assert (
        "✗ step 2 (at 10s, assign): refused: the escalation has not paged a supervisor"
        in result.stdout
    )


def test_a_step_the_server_never_answers_ends_the_run_with_a_message(
    embedded_services: Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temporal's test server can stop answering a workflow's updates (see `ANSWER_WAIT_S`):
    the run ends with a message naming the step, not a wait for ever."""
    import asyncio

    from warmline.errors import WarmlineError
    from warmline.simulate import runner

    async def never_answered(_driver: object, _step: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(runner, "ANSWER_WAIT_S", 0.5)
    monkeypatch.setattr(runner._Driver, "perform", never_answered)
    loaded = load_scenario(ROOT / "examples" / "scenarios" / "crisis-first-accept-wins.yaml")
    with pytest.raises(WarmlineError) as stalled:
        run_scenario(loaded, kafka=embedded_services.kafka, redis=embedded_services.redis)
    assert str(stalled.value) == (
        "step 1 (at 0s, message) had no answer within 0.5 s of real time: Temporal's "
        "time-skipping test server stopped answering (a fault of that server, "
        "temporalio/sdk-java#3088); run the scenario again"
    )


async def test_a_skip_the_server_lets_time_out_is_the_same_stall() -> None:
    """The test server can also give up on a skip of the clock itself (`Timeout expired`): the
    run ends with the stall's message, not a traceback; any other RPC error is left alone."""
    from temporalio.service import RPCError, RPCStatusCode

    from warmline.simulate.runner import SimulationStalledError, answered

    async def failing(message: str) -> None:
        raise RPCError(message, RPCStatusCode.UNKNOWN, b"")

    with pytest.raises(SimulationStalledError, match=r"^the skip to 5m had no answer within"):
        await answered(failing("Timeout expired"), "the skip to 5m had no answer")
    with pytest.raises(RPCError, match="Namespace"):
        await answered(failing("Namespace x is not found"), "the skip")


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_sigterm_stops_the_services_the_run_started() -> None:
    """A CI job's timeout sends SIGTERM: the embedded broker and Redis must not outlive the run."""
    import contextlib
    import os
    import signal
    import time

    scenario = ROOT / "examples" / "scenarios" / "grief-accepted-completed.yaml"
    run = subprocess.Popen(
        [str(WARMLINE), "simulate", str(scenario)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(started) < 2 and time.monotonic() < deadline and run.poll() is None:
            started = children_of(run.pid)
            time.sleep(0.2)
        assert len(started) >= 2, "the run started an embedded broker and Redis"
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        # A child that has exited but not been reaped yet (a zombie, its parent gone) is dead.
        alive = {pid for pid in started if pid_alive(pid)}
    finally:
        run.kill()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    stderr = run.stderr.read() if run.stderr else ""
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert alive == set(), f"left running: {alive}"


def test_a_redis_that_does_not_answer_is_one_line(embedded_services: Endpoints) -> None:
    scenario = ROOT / "examples" / "scenarios" / "grief-accepted-completed.yaml"
    kafka = embedded_services.kafka or ""
    result = simulate(scenario, "--kafka", kafka, "--redis", "redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cannot reach Redis at redis://127.0.0.1:1/0: Error 111 connecting to 127.0.0.1:1. "
        "Connection refused; is the server running there?"
    ]
