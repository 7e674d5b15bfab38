"""The recorded annotation histories replay against today's AnnotationWorkflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.annotation import AnnotationWorkflow

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("annotation-*.json"))


def test_histories_were_recorded() -> None:
    expected = {
        "annotation-loop",
        "annotation-adjudication",
        "annotation-exposure",
        "annotation-availability",
    }
    assert {p.stem for p in HISTORIES} >= expected


@pytest.mark.parametrize(
    ("path", "recorded"), [(p, p.read_text()) for p in HISTORIES], ids=[p.stem for p in HISTORIES]
)
async def test_history_replays(path: Path, recorded: str) -> None:
    history = WorkflowHistory.from_json(path.stem, recorded)
    replayer = Replayer(workflows=[AnnotationWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
