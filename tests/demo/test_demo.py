"""`warmline demo` end to end through the real command line: against the session's services and on
the embedded default it starts itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.worker_process import WARMLINE
from warmline.annotation.model import policy_from_config
from warmline.annotation.redact import Redactor
from warmline.config.loader import load_config
from warmline.demo import runner
from warmline.demo.annotators import KIND_LABELS, labels_by_text
from warmline.demo.runner import DemoOptions, bundled_config, demo_tokens, plan_conversations
from warmline.demo.scripts import SCRIPTS, Kind
from warmline.errors import ServiceError
from warmline.events import EventType
from warmline.services import Endpoints
from warmline.services.ports import free_port

KEYS = {
    "conversations",
    "messages",
    "escalations",
    "reroutes",
    "sla_breaches",
    "handoffs",
    "crises",
    "latency_ms",
    "wellness",
    "annotation",
    "events",
    "duration_s",
}
LATENCIES = {"triage_p50", "triage_p99", "accept_p50", "accept_p99"}
WELLNESS = {
    "exposure_minutes",
    "breaks",
    "checkins_requested",
    "checkins_submitted",
    "budget_exceeded",
    "rotations",
}
ANNOTATION = {
    "items",
    "tone_audits",
    "gold_labels",
    "batches",
    "alpha",
    "adjudicated",
    "open_tasks",
}
WORKERS = {
    *("sp-jonas", "sp-priya", "sp-olu", "sp-mei", "sp-carlos", "sp-ines", "sp-sam"),
    *("an-lea", "an-sam", "an-mo"),
}
SEED = 7


def run_demo(*args: str, timeout_s: float = 120) -> dict[str, Any]:
    completed = subprocess.run(
        [str(WARMLINE), "demo", "--json", "--seed", str(SEED), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1, completed.stdout
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


def check(summary: dict[str, Any], conversations: int) -> None:
    assert set(summary) == KEYS
    assert summary["conversations"] == conversations
    assert summary["messages"] >= conversations
    assert summary["handoffs"] >= 1
    assert sum(summary["escalations"].values()) >= summary["handoffs"]
    assert set(summary["latency_ms"]) == LATENCIES
    assert all(value > 0 for value in summary["latency_ms"].values())
    events = summary["events"]
    assert events[EventType.CONVERSATION_STARTED] == conversations
    assert events[EventType.CONVERSATION_CLOSED] == conversations
    assert events[EventType.MESSAGE_TRIAGED] == summary["messages"]
    assert events[EventType.HANDOFF_ACCEPTED] == summary["handoffs"]
    assert summary["duration_s"] > 0
    wellness = summary["wellness"]
    assert set(wellness) == WELLNESS
    # Everyone's shift started; the tracker counted the handled conversations.
    assert set(wellness["exposure_minutes"]) == WORKERS
    assert sum(wellness["exposure_minutes"].values()) > 0
    assert events[EventType.WELLNESS_EXPOSURE_UPDATED] >= len(WORKERS) + 1
    assert wellness["breaks"] == events.get(EventType.WELLNESS_BREAK_STARTED, 0)
    assert wellness["checkins_submitted"] <= wellness["checkins_requested"]
    annotation = summary["annotation"]
    assert set(annotation) == ANNOTATION
    assert annotation["batches"] == len(annotation["alpha"])
    assert annotation["gold_labels"] == events.get(EventType.ANNOTATION_GOLD_RECORDED, 0)
    assert annotation["gold_labels"] <= annotation["items"]


def kinds_played(conversations: int) -> set[Kind]:
    options = DemoOptions(conversations=conversations, seed=SEED)
    return {script.kind for _, script in plan_conversations(options)}


def test_there_are_enough_varied_scripts() -> None:
    assert len(SCRIPTS) >= 30
    assert {script.kind for script in SCRIPTS} == set(Kind)
    assert all(2 <= len(script.messages) <= 5 for script in SCRIPTS if script.kind != Kind.ROUTINE)
    assert len({script.name for script in SCRIPTS}) == len(SCRIPTS)


def test_demo_against_the_sessions_services(
    temporal_address: str, kafka_bootstrap: str, redis_url: str
) -> None:
    assert Kind.CRISIS in kinds_played(8)
    summary = run_demo(
        "--conversations",
        "8",
        "--temporal",
        temporal_address,
        "--kafka",
        kafka_bootstrap,
        "--redis",
        redis_url,
    )
    check(summary, 8)
    assert summary["crises"] >= 1
    assert summary["escalations"].get("crisis", 0) >= 1
    # A crisis handled (its risk acknowledged, then completed) is a break and a check-in request
    # (the policy's `after_crisis`).
    if summary["events"].get(EventType.RISK_ACKNOWLEDGED, 0) >= 1:
        assert summary["wellness"]["breaks"] >= 1
        assert summary["wellness"]["checkins_requested"] >= 1
    # Every crisis flag is sampled (`all_crisis_flags`); three annotators label it, the batch is
    # measured and the majority's labels become gold.
    annotation = summary["annotation"]
    assert annotation["items"] >= 1
    assert annotation["gold_labels"] >= 1
    assert annotation["batches"] >= 1
    assert summary["events"][EventType.ANNOTATION_BATCH_MEASURED] == annotation["batches"]


def test_the_annotators_know_every_scripted_message_in_the_demo_taxonomy() -> None:
    config = load_config(bundled_config(), env=demo_tokens(bundled_config()))
    taxonomy = set(policy_from_config(config).labels)
    assert set(KIND_LABELS) == set(Kind)
    assert all(set(labels) <= taxonomy for labels in KIND_LABELS.values())
    redactor = Redactor()
    truths = labels_by_text(SCRIPTS, redactor)
    for script in SCRIPTS:
        for text in script.messages:
            assert truths[redactor.redact(text)[0]] == KIND_LABELS[script.kind], text


def test_demo_starts_the_embedded_services_itself() -> None:
    summary = run_demo("--conversations", "6")
    check(summary, 6)


def demo_refused(status: int, *args: str) -> str:
    """Run the demo expecting it to stop with `status` before starting any service; its stderr."""
    completed = subprocess.run(
        [str(WARMLINE), "demo", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == status, completed.stderr
    assert not re.search(r"starting (kafka|redis|temporal)", completed.stderr)
    assert "Traceback" not in completed.stderr
    return completed.stderr


@pytest.mark.parametrize(
    ("option", "address", "expected"),
    [
        ("--temporal", "127.0.0.1:{port}", "cannot reach Temporal at 127.0.0.1:{port}: Connection"),
        ("--kafka", "127.0.0.1:{port}", "cannot reach Kafka at 127.0.0.1:{port}: Connection"),
        ("--redis", "redis://:pw@127.0.0.1:{port}/0", "cannot reach Redis at redis://:***@"),
    ],
    ids=["temporal", "kafka", "redis"],
)
def test_a_service_that_cannot_be_reached_is_a_clear_error(
    option: str, address: str, expected: str
) -> None:
    """A given address is checked before anything starts: one line, exit 1, no hang (a Redis
    that is down once left the demo retrying its first activity for ever)."""
    port = free_port()
    stderr = demo_refused(1, "--conversations", "1", option, address.format(port=port))
    assert f"error: {expected.format(port=port)}" in stderr


def test_a_configuration_mistake_is_reported_before_anything_starts(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    stderr = demo_refused(2, "--config", str(missing))
    assert stderr.splitlines() == [f"{missing}:1:1: no such file or directory"], "no progress bar"


def scratch_directories(where: Path) -> set[Path]:
    return set(where.glob("warmline-services-*"))


def test_a_failed_run_keeps_the_services_logs_and_says_where(
    services: Endpoints, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only Redis is started here (the session's Temporal and Kafka are given), its scratch
    directory under `tmp_path`."""

    async def fail(*_: object) -> NoReturn:
        raise ServiceError("the run failed")

    monkeypatch.setattr(runner, "_run", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    options = DemoOptions(conversations=1, temporal=services.temporal, kafka=services.kafka)
    with pytest.raises(ServiceError) as raised:
        runner.run_demo(options)
    kept = scratch_directories(tmp_path)
    assert len(kept) == 1
    directory = kept.pop()
    assert raised.value.__notes__ == [f"the embedded services' logs are kept in {directory}"]
    assert (directory / "redis.log").is_file()


def test_an_interrupted_run_leaves_nothing_behind(
    services: Endpoints, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def interrupted(*_: object) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run", interrupted)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    options = DemoOptions(conversations=1, temporal=services.temporal, kafka=services.kafka)
    with pytest.raises(KeyboardInterrupt):
        runner.run_demo(options)
    assert scratch_directories(tmp_path) == set()
