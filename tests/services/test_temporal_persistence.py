"""The dev server's database file keeps workflows across a restart of the server."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from warmline.services.temporal import start_temporal


@workflow.defn
class WaitsForeverWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_workflow_survives_a_dev_server_restart(tmp_path: Path, task_queue: str) -> None:
    first = start_temporal(tmp_path, persist=True)
    try:
        client = await Client.connect(first.address, data_converter=pydantic_data_converter)
        # Annotated on purpose: mypy 2.4 left to infer a no-argument `start_workflow` on its own
        # then infers Never for every later `get_workflow_handle_for` in the same run.
        _started: WorkflowHandle[WaitsForeverWorkflow, None] = await client.start_workflow(
            WaitsForeverWorkflow.run, id="survivor", task_queue=task_queue
        )
    finally:
        first.process.stop()
    assert (tmp_path / "temporal.db").stat().st_size > 0

    second = start_temporal(tmp_path, persist=True)
    try:
        client = await Client.connect(second.address, data_converter=pydantic_data_converter)
        description = await client.get_workflow_handle("survivor").describe()
    finally:
        second.process.stop()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.task_queue == task_queue
