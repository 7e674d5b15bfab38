"""Every recorded history replays against today's workflows without non-determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.annotation import AnnotationWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_histories_were_recorded() -> None:
    names = {p.stem for p in HISTORIES}
    assert len([n for n in names if n.startswith("conversation-")]) >= 5
    assert {"routed-grief-escalation", "routed-crisis-escalation", "routed-roster"} <= names
    assert {"wellness-shift", "wellness-availability", "routed-wellness-roster"} <= names
    assert {"wellness-policy-changed", "wellness-policy-unhandled"} <= names
    assert {"routed-stagger-crisis-escalation", "routed-stagger-crisis-conversation"} <= names
    assert "routed-orphan-escalation" in names
    assert {"routed-departure-conversation", "routed-departure-escalation"} <= names
    assert {"routed-cover-crisis-escalation", "routed-cover-roster"} <= names
    assert {"routed-responder-crisis-escalation", "routed-responder-roster"} <= names
    assert {"routed-assigned-escalation", "routed-assigned-roster"} <= names
    assert {"routed-late-assigned-escalation", "routed-late-assigned-roster"} <= names
    assert {"routed-late-departure-escalation", "routed-late-departure-conversation"} <= names
    assert "routed-survey-crisis-conversation" in names
    assert "routed-tenants-roster" in names
    assert {"routed-withdrawn-escalation", "routed-withdrawn-conversation"} <= names
    assert {"routed-rechecked-escalation", "routed-rechecked-conversation"} <= names
    assert {"conversation-retried", "conversation-retried-continued"} <= names
    assert {"routed-crisis-upgrade-conversation", "routed-crisis-upgrade-escalation"} <= names
    assert "conversation-long-transcript" in names
    assert {"routed-crisis-called-off-conversation", "routed-crisis-called-off-escalation"} <= names
    assert {"routed-retried-ends-conversation", "routed-retried-hand-back-conversation"} <= names
    assert set(PATCHED_IN) <= names


PATCHED_IN: dict[str, str] = {
    "routed-completed-as-the-run-ends-conversation": (
        "a-close-or-transfer-meanwhile-stops-the-continue-as-new"
    ),
    "conversation-rule-crisis-flags": "rules-read-the-configured-crisis-flags",
    "routed-rating-after-close-conversation": "a-rating-after-the-survey-is-refused",
    "conversation-quiet-spell": "a-reply-restarts-the-quiet-spell",
    "routed-quiet-spell-conversation": "a-reply-restarts-the-quiet-spell",
    "conversation-replayed-acknowledgement": "an-action-during-the-render-waits-for-the-package",
    "conversation-replayed-reply": "an-action-during-the-render-waits-for-the-package",
    "wellness-retried": "a-retried-check-in-or-break-now-is-applied-once",
    "annotation-skipped-item": "annotation-skipped-item-not-adjudicated",
    "wellness-stand-in": "an-hr-shift-replaces-the-stand-in-shift-running-at-its-start",
    "wellness-shift-sent-again": "a-shift-sent-again-after-it-ended-carries-on",
    "wellness-off-and-on": "a-mandatory-break-outlasts-the-worker-going-unavailable",
    "routed-declined-departure-escalation": "an-offer-closed-as-the-customer-leaves-is-published",
    "routed-paged-again-escalation": "a-page-offers-to-everyone-again-at-once",
    "routed-waited-escalation": "waited-ends-at-the-accept",
    "routed-continued-escalation": "a-paged-escalation-continues-as-new-when-its-history-is-long",
    "routed-continued-left-conversation": "cancel-the-escalation-by-its-workflow-id",
    "annotation-departed-holds": "annotation-departed-holds-released",
    "annotation-orphaned-adjudication": "annotation-policy-settles-adjudications",
    "annotation-flush-while-rolling-over": "annotation-flush-while-rolling-over",
    "wellness-missed-checkin": "a-missed-check-in-lapses-when-a-new-shift-starts",
    "wellness-break-past-end": "a-mandatory-break-outlasts-the-shift-s-end",
    "wellness-late-work": "work-begun-in-a-shift-counts-in-it-after-its-end",
    "routed-live-view-open-offers-escalation": "a-live-view-write-carries-only-the-open-offers",
    "wellness-versioned-view": "a-late-view-write-never-replaces-a-newer-one",
}
"""Histories recorded to cover a patch, and the marker each must hold (else the recording missed
the new path it was made for)."""


def patch_markers(history: WorkflowHistory) -> set[str]:
    """The ids of the `workflow.patched` markers recorded in `history`."""
    return {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and "patch-data" in e.marker_recorded_event_attributes.details
    }


@pytest.mark.parametrize(("name", "marker"), PATCHED_IN.items(), ids=list(PATCHED_IN))
def test_a_patch_history_takes_the_new_path(name: str, marker: str) -> None:
    path = next(p for p in HISTORIES if p.stem == name)
    assert marker in patch_markers(WorkflowHistory.from_json(name, path.read_text()))


@pytest.mark.parametrize(
    ("path", "recorded"), [(p, p.read_text()) for p in HISTORIES], ids=[p.stem for p in HISTORIES]
)
async def test_history_replays(path: Path, recorded: str) -> None:
    history = WorkflowHistory.from_json(path.stem, recorded)
    replayer = Replayer(
        workflows=[
            ConversationWorkflow,
            EscalationWorkflow,
            RosterWorkflow,
            AnnotationWorkflow,
            WellnessWorkflow,
        ],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.parametrize("argv", [[], ["--help"], ["wellnes"], ["wellness", "cover"]])
def test_the_recorder_refuses_anything_but_one_group(argv: list[str]) -> None:
    """Only `all` re-records everything; a typo or `--help` must not overwrite every history."""
    from tests.workflows.record_histories import parse_group

    with pytest.raises(SystemExit):
        parse_group(argv)


def test_the_recorder_reads_a_group_and_all() -> None:
    from tests.workflows.record_histories import GROUPS, parse_group

    assert parse_group(["all"]) is None
    assert parse_group(["quiet-spell"]) == "quiet-spell"
    assert {"wellness", "cover", "replayed-package", "rating-after-close"} <= set(GROUPS)
