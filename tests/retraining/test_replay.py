"""Every recorded retraining history replays against today's workflows without non-determinism.

The original histories predate the patches and replay their old side; `failed-no-retry`,
`shadow-rollback` and `restarted` were recorded with the first two and replay their new side, and
the old side of the durable event patch (`conclude_round` decides and publishes in one step);
`event-outage` replays its new side (`decide_round`, then `publish_events` until Kafka is back).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.retraining import (
    DURABLE_EVENT_PATCH,
    NO_RETRY_PATCH,
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
    ],
)
def test_histories_cover_both_sides_of_each_patch(name: str, patches: set[str]) -> None:
    by_name = {p.stem: p for p in HISTORIES}
    assert _patches(by_name[name].read_text()) == patches


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
