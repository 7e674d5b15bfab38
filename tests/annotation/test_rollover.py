"""The loop rolls over (continue-as-new) while three annotators are busy at once."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from warmline.annotation.client import AnnotationLoop, submit_texts
from warmline.annotation.model import AnnotationInput, TextItem, annotation_workflow_id
from workflows.annotation import AnnotationWorkflow

ITEMS = 40
UPDATES_PER_RUN = 30


async def work(loop: AnnotationLoop, annotator: str) -> int:
    """Label tasks until none is left for `annotator`; returns how many it labelled."""
    done = 0
    while (result := await loop.next_task(annotator)).task is not None:
        await loop.submit(annotator, result.task.task_id, ["sadness"])
        done += 1
    return done


async def run_lengths(client: Client, workflow_id: str) -> list[int]:
    """The history length of each run of the workflow, oldest first."""
    lengths: list[int] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.insert(0, len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return lengths
        run_id = started.continued_execution_run_id


async def test_busy_annotators_do_not_stop_the_loop_rolling_over(kit: LoopKit) -> None:
    policy = make_policy(label_map={"sadness": "sadness"}, deployment="rollover", batch_size=8)
    await kit.client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy, updates_per_run=UPDATES_PER_RUN),
        id=annotation_workflow_id(policy.deployment),
        task_queue=kit.task_queue,
    )
    loop = AnnotationLoop(kit.client, policy.deployment)
    items = [
        TextItem(
            item_id=f"open-door/c{n}/m1/emotion",
            text=f"I lost my dog, day {n}",
            tenant_id="open-door",
            conversation_id=f"c{n}",
            message_id="m1",
        )
        for n in range(ITEMS)
    ]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, ITEMS, timeout_s=30)

    done = await asyncio.gather(*(work(loop, a) for a in ("an-ada", "an-ben", "an-cai")))
    assert sum(done) == ITEMS * policy.overlap, "every task got its k labels, none twice"
    await loop.flush()
    assert (await loop.report()).gold == ITEMS
    assert kit.gold.count("ekman") == ITEMS

    lengths = await run_lengths(kit.client, annotation_workflow_id(policy.deployment))
    # 200 updates (2 x 40 labels, 120 task requests): a run per 30 while the annotators work,
    # not one long run until they fall idle.
    assert len(lengths) >= 200 // UPDATES_PER_RUN, f"runs: {lengths}"
