"""A long training step heartbeats from a side thread, so Temporal does not time it out."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import activities.retraining as retraining_activities


@activity.defn
def slow_step(seconds: float) -> float:
    """Blocks like scikit-learn's fit: no chance to heartbeat from this thread."""
    start = time.monotonic()
    with retraining_activities.heartbeating() as progress:
        progress("working")
        time.sleep(seconds)
    return time.monotonic() - start


@workflow.defn(sandboxed=False)
class SlowStepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        result: float = await workflow.execute_activity(
            slow_step,
            seconds,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


async def test_a_step_longer_than_the_heartbeat_timeout_completes(
    workflow_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retraining_activities, "HEARTBEAT_EVERY", 0.2)
    queue = f"heartbeat-{uuid.uuid4()}"
    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            workflow_env.client,
            task_queue=queue,
            workflows=[SlowStepWorkflow],
            activities=[slow_step],
            activity_executor=pool,
        ):
            # Three seconds of work against a one-second heartbeat timeout.
            result = await workflow_env.client.execute_workflow(
                SlowStepWorkflow.run, 3.0, id=queue, task_queue=queue
            )
    assert result >= 3.0
