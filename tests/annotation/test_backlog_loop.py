"""A backlog past the loop's budget is shed and counted, and the loop keeps rolling over.

56 items of 20,000 characters (the longest message a conversation takes, some 21 kB of JSON each
as a task) are more than the 1 MB of open work the loop holds: the newest are shed, a crisis item
takes the place of the newest task nobody began, and the run continues as new with its open work
within the budget and goes on handing out tasks. Before, every item became a task and the
continue-as-new carried them all.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from pydantic_core import to_json
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.annotation.conftest import LoopKit, make_policy
from warmline.annotation.client import AnnotationLoop, submit_texts
from warmline.annotation.model import (
    AnnotationInput,
    AnnotationReport,
    Source,
    TextItem,
    annotation_workflow_id,
)
from warmline.conversation import MAX_MESSAGE_CHARS
from workflows.annotation import AnnotationWorkflow

BUDGET = 1_000_000
"""`BACKLOG_BYTES`, the open work the loop holds (checked in test_backlog.py)."""
INPUT_LIMIT = 1_800_000
"""`INPUT_BYTES_MAX`, the most a continue-as-new input takes."""


def json_bytes(model: BaseModel) -> int:
    """Serialized as the pydantic data converter does."""
    return len(to_json(model))


LONG_ITEMS = 56
"""Items of the longest length: more than `BUDGET` holds (some 48 of them)."""


def long_text(n: int) -> str:
    line = f"Day {n}. I feel so alone and nobody listens to me anymore. "
    return (line * (MAX_MESSAGE_CHARS // len(line) + 1))[:MAX_MESSAGE_CHARS]


def long_item(n: int, **fields: object) -> TextItem:
    return TextItem.model_validate(
        {
            "item_id": f"open-door/c{n}/m1/emotion",
            "text": long_text(n),
            "tenant_id": "open-door",
            "conversation_id": f"c{n}",
            "message_id": "m1",
            **fields,
        }
    )


async def wait_for_open(loop: AnnotationLoop, task_id: str, *, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 10)):
        if any(task.task_id == task_id for task in await loop.tasks()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{task_id} never became an open task")


async def wait_for_report(
    loop: AnnotationLoop, items: int, shed: int, *, timeout_s: float = 30
) -> AnnotationReport:
    report = await loop.report()
    for _ in range(int(timeout_s * 10)):
        if report.items >= items and report.shed >= shed:
            return report
        await asyncio.sleep(0.1)
        report = await loop.report()
    raise AssertionError(f"the report never counted {items} items and {shed} shed: {report}")


def continued_as_new(events: list[HistoryEvent]) -> AnnotationInput:
    """The input the run continued as new with."""
    for event in events:
        if event.HasField("workflow_execution_continued_as_new_event_attributes"):
            payloads = event.workflow_execution_continued_as_new_event_attributes.input.payloads
            assert len(payloads[0].data) <= INPUT_LIMIT
            (params,) = pydantic_data_converter.payload_converter.from_payloads(
                list(payloads), [AnnotationInput]
            )
            assert isinstance(params, AnnotationInput)
            return params
    raise AssertionError(f"the run did not continue as new: {[e.event_type for e in events][-8:]}")


async def test_a_backlog_past_the_budget_is_shed_and_the_loop_rolls_over(kit: LoopKit) -> None:
    policy = make_policy(label_map={"sadness": "sadness"})
    handle = await kit.client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy, updates_per_run=4),
        id=annotation_workflow_id(policy.deployment),
        task_queue=kit.task_queue,
    )
    loop = AnnotationLoop(kit.client, policy.deployment)
    items = [long_item(n) for n in range(LONG_ITEMS)]
    crisis = long_item(LONG_ITEMS, crisis=True, distress=0.9, sources=[Source.CRISIS])
    await submit_texts(kit.client, policy, [*items, crisis], task_queue=kit.task_queue)
    await wait_for_open(loop, crisis.item_id)

    tasks = await loop.tasks()
    report = await loop.report()
    open_ids = {task.task_id for task in tasks}
    # (c) What is held stays within the budget: the newest submissions were not taken.
    assert sum(json_bytes(task) for task in tasks) <= BUDGET
    assert len(tasks) < LONG_ITEMS
    assert items[0].item_id in open_ids
    assert items[-1].item_id not in open_ids
    # (b) Every submission is an open task or counted as shed; the crisis item took the place
    # of the newest task nobody had begun.
    assert report.shed == LONG_ITEMS + 1 - len(tasks)
    assert crisis.item_id in open_ids
    assert report.items == len(tasks) + 1, "the task given up for the crisis item was taken"

    # (a) Four updates and the run continues as new; labelling goes on in the next run.
    for annotator in ("an-ada", "an-ben"):
        result = await loop.next_task(annotator)
        assert result.task is not None, result.reason
        assert result.task.task_id == items[0].item_id
        await loop.submit(annotator, result.task.task_id, ["sadness"])
    result = await loop.next_task("an-cai")
    assert result.task is not None, result.reason
    await loop.submit("an-cai", result.task.task_id, ["sadness"])
    first_run = await kit.client.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    ).fetch_history()
    carried = continued_as_new(list(first_run.events))
    assert carried.carry is not None
    assert sum(json_bytes(task) for task in carried.carry.tasks) <= BUDGET
    assert carried.carry.shed == report.shed
    # A submission while the backlog is still full is shed in the new run too.
    await submit_texts(kit.client, policy, [long_item(LONG_ITEMS + 1)], task_queue=kit.task_queue)
    report = await wait_for_report(loop, report.items, report.shed + 1)
    assert report.open_tasks == len(tasks) - 1, "the first item is labelled, waiting for its batch"
    await loop.flush()
    assert (await loop.report()).gold == 1
