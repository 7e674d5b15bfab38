"""A late write of the wellness view never replaces a newer one.

The `wellness_sync` activity writes the worker's view to Redis. An attempt that times out keeps
running in its thread, and its write can land after the retry's, and after the next sync's newer
view: routing then read an old state (not on a break, under budget) until the next change. The
workflow now numbers its views and the store drops one older than the view it holds.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.wellness.conftest import WellnessDeployment
from warmline.wellness.policy import WellnessPolicy
from warmline.wellness.types import (
    Availability,
    BreakRequest,
    EndBreakRequest,
    WellnessInput,
    wellness_workflow_id,
)
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from workflows.wellness import WellnessWorkflow

POLICY = WellnessPolicy(budget_per_shift=timedelta(hours=4), shift_length=timedelta(hours=8))


def test_an_older_view_written_late_is_dropped(wellness_store: WellnessStateStore) -> None:
    newer = WorkerWellness(worker_id="sp-ida", on_break=True, over_budget=True, version=200)
    older = WorkerWellness(worker_id="sp-ida", on_break=False, version=100)
    wellness_store.write(newer)
    written = wellness_store.write(older)
    stored = wellness_store.read(["sp-ida"])["sp-ida"]
    assert (stored.on_break, stored.over_budget) == (True, True), "the newer view stays"
    assert written is False


def test_the_same_view_again_and_unversioned_views_are_written(
    wellness_store: WellnessStateStore,
) -> None:
    view = WorkerWellness(worker_id="sp-ida", on_break=True, version=200)
    assert wellness_store.write(view) is True
    assert wellness_store.write(view) is True, "a retry of the same sync"
    assert wellness_store.write(WorkerWellness(worker_id="sp-ida", version=201)) is True
    assert not wellness_store.read(["sp-ida"])["sp-ida"].on_break
    assert wellness_store.write(WorkerWellness(worker_id="sp-ida", on_break=True)) is True
    assert wellness_store.read(["sp-ida"])["sp-ida"].on_break, "a hand-written view lands"


async def test_the_workflow_s_views_grow_in_version_and_a_stale_one_is_dropped(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment
) -> None:
    worker = "sp-ida"
    handle = await workflow_env.client.start_workflow(
        WellnessWorkflow.run,
        WellnessInput(deployment=wellness.deployment, worker_id=worker, policy=POLICY),
        id=wellness_workflow_id(wellness.deployment, worker),
        task_queue=wellness.task_queue,
    )
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=True))
    on_break = await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=15))
    assert on_break.on_break
    first = wellness.store.read([worker])[worker]
    assert first.on_break
    assert first.version > 0, "the workflow numbers its views"
    await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    second = wellness.store.read([worker])[worker]
    assert not second.on_break
    assert second.version > first.version
    # The first sync's attempt that timed out writes at last: it is dropped.
    assert wellness.store.write(first) is False
    assert not wellness.store.read([worker])[worker].on_break
