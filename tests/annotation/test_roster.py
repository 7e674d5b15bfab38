"""Tasks held by an annotator who leaves the roster (a redeployed configuration without them) go
back to those still on it, instead of waiting on a hold nobody can complete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_workflow import label, report_when, take, texts
from warmline.annotation.client import AnnotationRefusedError, apply_policy, submit_texts
from warmline.annotation.model import AnnotatorSpec
from workflows.annotation import Rejected


async def test_a_task_held_by_an_annotator_who_left_is_settled_without_them(kit: LoopKit) -> None:
    """Overlap 3 of three annotators: an-ada and an-ben labelled the item, an-cai holds it when
    the configuration is redeployed without her. The item is measured with the two labels it
    can have; it used to count her hold as a label still to come, and once her lease lapsed
    nobody was left to label it, so it stayed open for good."""
    policy = make_policy(deployment="holder-left", overlap=3)
    loop = await kit.start(policy)
    items = texts(
        ("t/c41/m1/emotion", "so glad"),
    )
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 1)
    first = await label(loop, "an-ada", ["joy"])
    assert await label(loop, "an-ben", ["joy"]) == first
    held = await take(loop, "an-cai")
    assert held.task_id == first

    left = policy.model_copy(
        update={"annotators": [AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")]}
    )
    await apply_policy(kit.client, left, task_queue=kit.task_queue)
    # Past her lease too: the lapse alone never settled the task.
    await kit.env.sleep(timedelta(minutes=31))
    assert (await loop.next_task("an-ada")).task is None
    await loop.flush()
    report = await report_when(loop, lambda r: r.gold == 1)
    assert report.open_tasks == 0
    [gold] = kit.gold.read("ekman")
    assert gold.item_id == first
    assert gold.annotators == ["an-ada", "an-ben"]
    with pytest.raises(AnnotationRefusedError) as refused:
        await loop.submit("an-cai", first, ["joy"])
    assert refused.value.kind in {Rejected.PERMISSION_DENIED, Rejected.NOT_FOUND}


async def test_a_slot_held_by_an_annotator_who_left_goes_to_another(kit: LoopKit) -> None:
    """Overlap 1: an-cai holds the item when she leaves the roster. It is offered to an-ben at
    once; it used to wait for her lease (30 minutes) to lapse, and her labels, sent meanwhile,
    were still taken."""
    policy = make_policy(deployment="slot-left", overlap=1)
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, texts(("t/c42/m1/emotion", "thank you")), task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    held = await take(loop, "an-cai")

    left = policy.model_copy(
        update={"annotators": [AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")]}
    )
    await apply_policy(kit.client, left, task_queue=kit.task_queue)
    offered = await take(loop, "an-ben")
    assert offered.task_id == held.task_id
    with pytest.raises(AnnotationRefusedError) as refused:
        await loop.submit("an-cai", held.task_id, ["joy"])
    assert refused.value.kind == Rejected.PERMISSION_DENIED
    await loop.submit("an-ben", offered.task_id, ["joy"])
    await loop.flush()
    await report_when(loop, lambda r: r.gold == 1)
    [gold] = kit.gold.read("ekman")
    assert gold.annotators == ["an-ben"]
