"""Open tasks that used to wait for good: an adjudication whose preferred senior skipped it, and
label tasks a redeployed policy left unable to get their overlap."""

from __future__ import annotations

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_workflow import disagree, label, report_when, take, texts
from warmline.annotation.client import apply_policy, submit_texts
from warmline.annotation.model import AnnotatorSpec, TaskKind


async def test_a_skipped_adjudication_goes_to_the_senior_who_labelled_the_item(
    kit: LoopKit,
) -> None:
    """an-dev, the one senior who did not label the item, skips its adjudication with a round to
    spare: an-ada, the senior who labelled it, is the one left to settle it. She used to be
    passed over for the skipper, so the adjudication stayed open for good, offered to nobody."""
    policy = make_policy(
        deployment="adjudication-rounds",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-dev", senior=True),
            AnnotatorSpec(id="an-ben"),
        ],
        max_rounds=2,
    )
    loop = await kit.start(policy)
    items = texts(("t/c31/m1/emotion", "ugh, fine"), ("t/c31/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    await disagree(loop, "an-ada", "an-ben")
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    skipped = await take(loop, "an-dev")
    await loop.skip("an-dev", skipped.task_id, "cannot decide")
    assert skipped.task_id in {t.task_id for t in await loop.tasks()}, "a round is left"
    held = await take(loop, "an-ada")
    assert held.task_id == skipped.task_id
    assert held.kind is TaskKind.ADJUDICATION
    await loop.submit("an-ada", held.task_id, ["joy"])
    await report_when(loop, lambda r: r.gold == 1)
    [gold] = kit.gold.read("ekman")
    assert gold.adjudicated
    assert gold.labels == ["joy"]


async def test_tasks_an_annotator_who_left_can_no_longer_complete_are_settled(
    kit: LoopKit,
) -> None:
    """Overlap 3 of three annotators; an-cai leaves (the configuration is redeployed without
    her) before labelling. The item an-ada and an-ben labelled used to wait for a third label
    for good, never measured; the one nobody labelled yet waited for three of two annotators."""
    policy = make_policy(deployment="annotator-left", overlap=3)
    loop = await kit.start(policy)
    items = texts(("t/c32/m1/emotion", "so glad"), ("t/c32/m2/emotion", "thank you"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    first = await label(loop, "an-ada", ["joy"])
    assert await label(loop, "an-ben", ["joy"]) == first

    left = policy.model_copy(
        update={"annotators": [AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")]}
    )
    await apply_policy(kit.client, left, task_queue=kit.task_queue)
    await loop.flush()
    [second] = await loop.tasks()
    assert second.task_id != first, "the labelled item is measured"
    assert second.required == 2
    for annotator in ("an-ada", "an-ben"):
        assert await label(loop, annotator, ["joy"]) == second.task_id
    await loop.flush()
    report = await report_when(loop, lambda r: r.gold == 2)
    assert report.open_tasks == 0
    assert sorted(g.item_id for g in kit.gold.read("ekman")) == [first, second.task_id]
