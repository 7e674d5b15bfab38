"""Adjudications a redeployed policy leaves nobody to settle (the one senior left, or lost the
item's language) are settled by majority, as when nobody can adjudicate an item from the start,
instead of staying open for good."""

from __future__ import annotations

import pytest

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_workflow import label, report_when, take, texts
from warmline.annotation.client import AnnotationRefusedError, apply_policy, submit_texts
from warmline.annotation.model import AnnotatorSpec, TaskKind
from workflows.annotation import Rejected

LABELLERS = [AnnotatorSpec(id="an-ben"), AnnotatorSpec(id="an-cai"), AnnotatorSpec(id="an-dev")]


async def test_adjudications_nobody_is_left_to_settle_go_by_majority(kit: LoopKit) -> None:
    """Three annotators label two items 2 to 1 (alpha 0.24, below the threshold): both go to
    an-ada, the one senior. She leaves the roster holding one of them: both are settled by the
    labels two of three chose, counted as adjudicated; before, both stayed open, offered to
    nobody, and her hold went on counting."""
    policy = make_policy(
        deployment="adjudicator-left",
        overlap=3,
        annotators=[AnnotatorSpec(id="an-ada", senior=True), *LABELLERS],
    )
    loop = await kit.start(policy)
    items = texts(("t/c51/m1/emotion", "ugh, fine"), ("t/c51/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    # an-ada holds no label task: the three labellers take each item in turn.
    chosen = {"an-ben": ["anger", "joy"], "an-cai": ["anger", "joy"], "an-dev": ["joy", "anger"]}
    ids: list[str] = []
    for annotator, labels in chosen.items():
        done = [
            await label(loop, annotator, [labels[0]]),
            await label(loop, annotator, [labels[1]]),
        ]
        ids = ids or done
        assert done == ids
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)
    held = await take(loop, "an-ada")

    await apply_policy(
        kit.client, policy.model_copy(update={"annotators": LABELLERS}), task_queue=kit.task_queue
    )
    report = await report_when(loop, lambda r: r.gold == 2)
    assert report.open_tasks == 0
    assert report.dropped == 0
    gold = {g.item_id: g for g in kit.gold.read("ekman")}
    assert gold[ids[0]].labels == ["anger"]
    assert gold[ids[1]].labels == ["joy"]
    assert all(g.adjudicated for g in gold.values())
    assert all(g.annotators == ["an-ben", "an-cai", "an-dev"] for g in gold.values())
    # An adjudication settled by majority takes no departed senior's labels.
    with pytest.raises(AnnotationRefusedError) as refused:
        await loop.submit("an-ada", held.task_id, ["joy"])
    assert refused.value.kind in {Rejected.NOT_FOUND, Rejected.PERMISSION_DENIED}


async def test_an_adjudication_with_no_majority_nobody_can_settle_is_dropped(
    kit: LoopKit,
) -> None:
    """Two annotators disagree on both items; the one senior who could settle them loses the
    items' skill when the configuration is redeployed: with no majority, both are dropped."""
    policy = make_policy(deployment="adjudicator-reskilled")
    loop = await kit.start(policy)
    items = texts(("t/c52/m1/emotion", "ugh, fine"), ("t/c52/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    assert [await label(loop, "an-ben", ["anger"]), await label(loop, "an-ben", ["joy"])]
    assert [await label(loop, "an-cai", ["joy"]), await label(loop, "an-cai", ["anger"])]
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    reskilled = [
        AnnotatorSpec(id="an-ada", senior=True, skills=["tone"]),
        AnnotatorSpec(id="an-ben"),
        AnnotatorSpec(id="an-cai"),
    ]
    await apply_policy(
        kit.client, policy.model_copy(update={"annotators": reskilled}), task_queue=kit.task_queue
    )
    report = await report_when(loop, lambda r: r.dropped == 2)
    assert report.open_tasks == 0
    assert report.gold == 0


async def test_open_adjudications_go_by_majority_once_the_policy_says_so(kit: LoopKit) -> None:
    """A redeployed `adjudication.by: majority` settles the adjudications already open (no
    majority between two annotators who disagree: dropped) rather than leaving them to seniors."""
    policy = make_policy(deployment="now-by-majority")
    loop = await kit.start(policy)
    items = texts(("t/c53/m1/emotion", "ugh, fine"), ("t/c53/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    assert [await label(loop, "an-ben", ["anger"]), await label(loop, "an-ben", ["joy"])]
    assert [await label(loop, "an-cai", ["joy"]), await label(loop, "an-cai", ["anger"])]
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    by_majority = policy.model_copy(update={"adjudication_by": "majority"})
    await apply_policy(kit.client, by_majority, task_queue=kit.task_queue)
    report = await report_when(loop, lambda r: r.dropped == 2)
    assert report.open_tasks == 0
    assert (await loop.next_task("an-ada")).task is None
