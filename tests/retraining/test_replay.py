"""Every recorded retraining history replays against today's workflows without non-determinism.

The original histories predate the patches and replay their old side; `failed-no-retry`,
`shadow-rollback` and `restarted` were recorded with the first two and replay their new side, and
the old side of the durable event patch (`conclude_round` decides and publishes in one step);
`event-outage` replays its new side (`decide_round`, then `publish_events` until Kafka is back);
`shadow-failed` (a round failing while its candidate is in shadow) replays the new side of the
patch that ends that shadow; `continued` (gold labels announced during a run's last round) the
new side of the patch that carries the notice across continue-as-new, and `continued-next` the
run after it, which counts them at once.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.retraining import (
    DURABLE_EVENT_PATCH,
    FAILED_SHADOW_PATCH,
    NO_RETRY_PATCH,
    NOTICE_PATCH,
    ROUND_IDS_PATCH,
    RetrainingWorkflow,
    ScheduledRetrainingWorkflow,
)

HISTORIES = sorted(
    (Path(__file__).resolve().parent.parent / "histories" / "retraining").glob("*.json")
)


def test_histories_were_recorded() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"promoted", "rejected", "shadow", "failed", "scheduled", "scheduled-tick"} <= names
    assert {"failed-no-retry", "shadow-rollback", "restarted", "event-outage"} <= names
    assert {"shadow-failed", "continued", "continued-next"} <= names


def _patches(recorded: str) -> set[str]:
    """The ids of the patch markers a history holds."""
    found: set[str] = set()
    for event in json.loads(recorded)["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker is None or marker.get("markerName") != "core_patch":
            continue
        for payload in marker["details"]["patch-data"]["payloads"]:
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


@pytest.mark.parametrize(
    ("name", "patches"),
    [
        ("promoted", set()),
        ("shadow", set()),
        ("failed", set()),
        ("failed-no-retry", {ROUND_IDS_PATCH, NO_RETRY_PATCH}),
        ("shadow-rollback", {ROUND_IDS_PATCH}),
        ("restarted", {ROUND_IDS_PATCH}),
        ("event-outage", {ROUND_IDS_PATCH, DURABLE_EVENT_PATCH}),
        (
            "shadow-failed",
            {ROUND_IDS_PATCH, NO_RETRY_PATCH, DURABLE_EVENT_PATCH, FAILED_SHADOW_PATCH},
        ),
        ("continued", {ROUND_IDS_PATCH, DURABLE_EVENT_PATCH, NOTICE_PATCH}),
        ("continued-next", {ROUND_IDS_PATCH, DURABLE_EVENT_PATCH}),
    ],
)
def test_histories_cover_both_sides_of_each_patch(name: str, patches: set[str]) -> None:
    by_name = {p.stem: p for p in HISTORIES}
    assert _patches(by_name[name].read_text()) == patches


def test_the_continued_run_carries_the_notice_and_the_next_counts_at_once() -> None:
    """`continued` took the new path for real: it continued as new with the notice, and the run
    after it started with it and ran its round without waiting for a timer."""
    by_name = {p.stem: json.loads(p.read_text()) for p in HISTORIES}
    ended = by_name["continued"]["events"][-1]["workflowExecutionContinuedAsNewEventAttributes"]
    assert _input(ended)["notified"] is True
    events = by_name["continued-next"]["events"]
    started = events[0]["workflowExecutionStartedEventAttributes"]
    assert _input(started)["notified"] is True
    trained = next(
        number
        for number, e in enumerate(events)
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "train_candidate"
    )
    assert not any("timerFiredEventAttributes" in e for e in events[:trained])


def _input(attributes: dict[str, Any]) -> dict[str, Any]:
    """The workflow input a started or continued-as-new event carries."""
    data = attributes["input"]["payloads"][0]["data"]
    payload: dict[str, Any] = json.loads(base64.b64decode(data))
    return payload


@pytest.mark.parametrize(
    ("path", "recorded"), [(p, p.read_text()) for p in HISTORIES], ids=[p.stem for p in HISTORIES]
)
async def test_history_replays(path: Path, recorded: str) -> None:
    history = WorkflowHistory.from_json(path.stem, recorded)
    replayer = Replayer(
        workflows=[RetrainingWorkflow, ScheduledRetrainingWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
