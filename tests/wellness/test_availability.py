"""A worker's availability in their wellness workflow: the `availability` signal (HR through the
bridge, a specialist's desk) and the `set_availability` update (an annotator's own call) set the
view's `available`, which the annotation loop reads; it survives continue-as-new."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.wellness.policy import ExposureRecord, WellnessPolicy, WorkerKind
from warmline.wellness.types import Availability, WellnessInput, wellness_workflow_id
from workflows.wellness import WellnessWorkflow


async def test_availability_reaches_the_view_and_survives_continue_as_new(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    client = workflow_env.client
    worker = "an-eli"
    workflow_id = wellness_workflow_id(wellness.deployment, worker)
    handle = await client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(
            deployment=wellness.deployment,
            worker_id=worker,
            kind=WorkerKind.ANNOTATOR,
            policy=WellnessPolicy(),
            continue_as_new_after=3,
        ),
        id=workflow_id,
        task_queue=wellness.task_queue,
    )
    fresh = await wellness.view_when(worker, lambda v: v.updated_at is not None)
    assert fresh.available, "available until anyone says otherwise"
    assert not fresh.in_shift

    # The update answers once the view in Redis says so.
    view = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=True)
    )
    assert view.available
    assert view.in_shift, "available with no shift known starts one"
    view = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=False)
    )
    assert not view.available
    assert not view.in_shift
    assert not wellness.store.read([worker])[worker].available

    # Work recorded meanwhile (a task the annotator held) opens a shift for its exposure, but
    # does not make them available; nor does a later run of the workflow.
    for n in range(4):
        view = await handle.execute_update(
            WellnessWorkflow.record_work,
            ExposureRecord(record_id=f"annotation/t-{n}", kind="annotation", minutes=2),
        )
        assert not view.available
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.run_id != handle.first_execution_run_id, "continued as new"
    assert not (await handle.query(WellnessWorkflow.view)).available

    # HR's word (the signal) counts the same as the worker's own.
    await handle.signal(WellnessWorkflow.availability, Availability(available=True))
    view = await wellness.view_when(worker, lambda v: v.available)
    assert view.in_shift
