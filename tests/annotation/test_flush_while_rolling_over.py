"""A flush that arrives while the loop waits for its running updates to finish (to continue as
new once Temporal suggests it) is answered, and the loop then rolls over.

The loop can only continue as new with no update in flight, and a flush waits for the loop to
measure. A flush accepted during that wait used to wait for the loop while the loop waited for
it: neither ever finished, the run never rolled over, and once it had accepted `updates_per_run`
updates it refused every call ("rolling over") for good.

The dev server here suggests continuing as new after a few dozen history events (its dynamic
configuration), and the wellness view's Redis does not answer, so each `next_task` stays in flight
for its read's three attempts (then answers UNAVAILABLE): with several of them running, a flush
nearly always lands while the loop waits to roll over.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.annotation.conftest import LoopKit, make_policy
from tests.api.conftest import UNREACHABLE_REDIS
from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationNoAnswerError,
    AnnotationRefusedError,
)
from warmline.annotation.model import AnnotationInput, annotation_workflow_id
from warmline.services.binaries import temporal_cli_path
from workflows.annotation import AnnotationWorkflow

SUGGEST_EARLY = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
FLUSHES = 12


@pytest.fixture
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own that suggests continuing as new early."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli_path()),
        dev_server_log_level="error",
        dev_server_extra_args=SUGGEST_EARLY,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def wellness_redis_url() -> str:
    return UNREACHABLE_REDIS


async def test_a_flush_during_the_wait_to_roll_over_is_answered(kit: LoopKit) -> None:
    policy = make_policy(deployment=f"flush-rollover-{uuid.uuid4().hex[:6]}")
    handle = await kit.client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy, updates_per_run=60),
        id=annotation_workflow_id(policy.deployment),
        task_queue=kit.task_queue,
    )
    waiting = AnnotationLoop(kit.client, policy.deployment, rpc_timeout=timedelta(seconds=20))
    busy = AnnotationLoop(kit.client, policy.deployment, rpc_timeout=timedelta(seconds=20))

    async def ask(annotator: str) -> None:
        # The wellness view is unreachable: UNAVAILABLE after the read's three attempts.
        with contextlib.suppress(AnnotationRefusedError):
            await busy.next_task(annotator)

    asking: set[asyncio.Task[None]] = set()
    answered = 0
    try:
        for round_ in range(FLUSHES):
            for annotator in ("an-ada", "an-ben", "an-cai"):
                task = asyncio.create_task(ask(annotator))
                asking.add(task)
                task.add_done_callback(asking.discard)
                await asyncio.sleep(0.1)
            try:
                await waiting.flush()
            except AnnotationNoAnswerError:
                pytest.fail(f"flush {round_ + 1} was never answered: the loop is wedged")
            answered += 1
    finally:
        await asyncio.gather(*asking, return_exceptions=True)
    assert answered == FLUSHES
    # The loop has continued as new since (it used to stay wedged in its first run).
    latest = kit.client.get_workflow_handle(annotation_workflow_id(policy.deployment))
    assert (await latest.describe()).run_id != handle.result_run_id
