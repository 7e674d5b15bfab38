"""The recorded annotation histories replay against today's AnnotationWorkflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.annotation import (
    ADJUDICATION_ROUNDS_PATCH,
    ADJUDICATOR_PATCH,
    BACKLOG_PATCH,
    DEPARTED_HOLDS_PATCH,
    FLUSH_WAIT_PATCH,
    LAPSED_ADJUDICATION_PATCH,
    LATE_CORRECTION_PATCH,
    ORPHANED_ADJUDICATION_PATCH,
    POLICY_REACHABLE_PATCH,
    REACHABLE_PATCH,
    SKIPPED_ITEM_PATCH,
    STOP_KEEPS_LABELS_PATCH,
    AnnotationWorkflow,
)

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("annotation-*.json"))
PATCHED_PATHS = {
    "annotation-reachable": REACHABLE_PATCH,
    "annotation-adjudicator-language": ADJUDICATOR_PATCH,
    "annotation-late-correction": LATE_CORRECTION_PATCH,
    "annotation-adjudication-rounds": ADJUDICATION_ROUNDS_PATCH,
    "annotation-policy-reachable": POLICY_REACHABLE_PATCH,
    "annotation-stop-keeps-labels": STOP_KEEPS_LABELS_PATCH,
    "annotation-lapsed-adjudication": LAPSED_ADJUDICATION_PATCH,
    "annotation-backlog-budget": BACKLOG_PATCH,
    "annotation-skipped-item": SKIPPED_ITEM_PATCH,
    "annotation-departed-holds": DEPARTED_HOLDS_PATCH,
    "annotation-orphaned-adjudication": ORPHANED_ADJUDICATION_PATCH,
    "annotation-flush-while-rolling-over": FLUSH_WAIT_PATCH,
}
"""Histories recorded for a versioned change, and the patch whose new path each takes."""


def patches(history: WorkflowHistory) -> set[str]:
    """The patch ids the run recorded (one marker each, where its new path was first taken)."""
    return {
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)[
            "id"
        ]
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    }


def test_histories_were_recorded() -> None:
    expected = {
        "annotation-loop",
        "annotation-adjudication",
        "annotation-exposure",
        "annotation-availability",
        *PATCHED_PATHS,
    }
    assert {p.stem for p in HISTORIES} >= expected


@pytest.mark.parametrize(("name", "patch"), PATCHED_PATHS.items())
def test_a_versioned_change_has_a_history_of_its_new_path(name: str, patch: str) -> None:
    path = HISTORIES[0].parent / f"{name}.json"
    assert patch in patches(WorkflowHistory.from_json(name, path.read_text()))
    older = [p for p in HISTORIES if p.stem not in PATCHED_PATHS]
    assert older, "histories recorded before the change"
    for earlier in older:
        assert patch not in patches(WorkflowHistory.from_json(earlier.stem, earlier.read_text()))


@pytest.mark.parametrize(
    ("path", "recorded"), [(p, p.read_text()) for p in HISTORIES], ids=[p.stem for p in HISTORIES]
)
async def test_history_replays(path: Path, recorded: str) -> None:
    history = WorkflowHistory.from_json(path.stem, recorded)
    replayer = Replayer(workflows=[AnnotationWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
