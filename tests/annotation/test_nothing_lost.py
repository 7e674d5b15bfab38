"""Work an annotator was told is in is never lost, and a retry of it is answered quietly: labels in
when the loop stops, a skip sent again after a lost reply, an adjudication sent after its lease
lapsed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_workflow import disagree, label, report_when, take, texts
from warmline.annotation.client import AnnotationLoop, AnnotationRefusedError, submit_texts
from warmline.annotation.model import (
    AnnotationReport,
    AnnotatorSpec,
    TaskKind,
    annotation_workflow_id,
)
from workflows.annotation import AnnotationWorkflow

LAPSED = timedelta(minutes=31)
"""Past the 30-minute lease."""


async def stop(kit: LoopKit, deployment: str) -> AnnotationReport:
    handle = kit.client.get_workflow_handle_for(
        AnnotationWorkflow.run, annotation_workflow_id(deployment)
    )
    await handle.signal(AnnotationWorkflow.stop)
    return await handle.result()


async def test_stop_settles_the_labels_already_in(kit: LoopKit) -> None:
    """Batches of 3: one item labelled by both annotators waits for its batch, one has one of
    its two labels, one nobody labelled. The stop used to end the run with both labelled items
    unmeasured, their labels acknowledged and lost; now they are measured (the second with the
    label it has) and the item nobody labelled is left open."""
    policy = make_policy(deployment="stop-settles", batch_size=3)
    loop = await kit.start(policy)
    items = texts(
        ("t/c41/m1/emotion", "I miss her so much"),
        ("t/c41/m2/emotion", "thank you, that helps"),
        ("t/c41/m3/emotion", "where is my parcel"),
    )
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 3)
    first = await label(loop, "an-ada", ["sadness"])
    assert await label(loop, "an-ben", ["sadness"]) == first
    second = await label(loop, "an-ada", ["joy"])

    report = await stop(kit, policy.deployment)
    assert (report.gold, report.open_tasks, report.dropped) == (2, 1, 0)
    gold = {g.item_id: g for g in kit.gold.read("ekman")}
    assert sorted(gold) == sorted([first, second])
    assert gold[first].annotators == ["an-ada", "an-ben"]
    assert (gold[second].labels, gold[second].annotators) == (["joy"], ["an-ada"])


async def test_stop_settles_an_open_adjudication_by_majority(kit: LoopKit) -> None:
    """Overlap 3, the three annotators split 2-1 on two items, alpha too low: both go to
    adjudication, which nobody has settled when the loop stops. The stop settles them as when
    nobody is left to adjudicate: by what more than half of them chose."""
    policy = make_policy(deployment="stop-adjudication", overlap=3)
    loop = await kit.start(policy)
    items = texts(("t/c42/m1/emotion", "ugh, fine"), ("t/c42/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    ids = await disagree(loop, "an-ben", "an-cai")
    for task_id, chosen in zip(ids, (["anger"], ["anger"]), strict=True):
        held = await take(loop, "an-ada")
        assert held.task_id == task_id
        await loop.submit("an-ada", task_id, chosen)
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    report = await stop(kit, policy.deployment)
    assert (report.gold, report.open_tasks, report.dropped) == (2, 0, 0)
    gold = {g.item_id: g for g in kit.gold.read("ekman")}
    assert all(g.adjudicated and g.labels == ["anger"] for g in gold.values())


async def test_work_sent_while_the_loop_stops_is_refused_not_lost(kit: LoopKit) -> None:
    """Labels, a skip or a reveal sent once `stop` came are refused before anything is
    acknowledged (the loop measures a labelled item meanwhile, so it is still running); they
    used to be accepted, and the labels lost with the run. A repeat of labels already in is
    still answered as a duplicate."""
    policy = make_policy(deployment="stop-refuses", batch_size=3)
    loop = await kit.start(policy)
    items = texts(("t/c43/m1/emotion", "so glad"), ("t/c43/m2/emotion", "meh"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    first = await label(loop, "an-ada", ["joy"])
    assert await label(loop, "an-ben", ["joy"]) == first
    held = await take(loop, "an-cai")

    handle = kit.client.get_workflow_handle_for(
        AnnotationWorkflow.run, annotation_workflow_id(policy.deployment)
    )
    await handle.signal(AnnotationWorkflow.stop)
    answers = await asyncio.gather(
        loop.submit("an-cai", held.task_id, ["neutral"]),
        loop.skip("an-cai", held.task_id, "out of time"),
        loop.reveal("an-cai", held.task_id),
        return_exceptions=True,
    )
    for answer in answers:
        assert isinstance(answer, AnnotationRefusedError), answer
        assert (answer.kind, answer.message) == (
            "FailedPrecondition",
            "the annotation loop is stopping",
        )
    report = await handle.result()
    assert (report.gold, report.open_tasks) == (1, 1)
    assert [g.item_id for g in kit.gold.read("ekman")] == [first]


async def test_a_retried_skip_succeeds_quietly(kit: LoopKit) -> None:
    """A client repeats a skip whose reply it lost: while the task is open (someone else may
    take it) and after it was dropped (everyone skipped it). Both used to be refused
    (PermissionDenied, NotFound) although the skip had gone through; nothing is counted twice."""
    policy = make_policy(
        deployment="skip-retried",
        overlap=1,
        annotators=[AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")],
    )
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, texts(("t/c44/m1/emotion", "hmm")), task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    task = await take(loop, "an-ada")
    with pytest.raises(AnnotationRefusedError) as not_held:
        await loop.skip("an-ben", task.task_id, "not mine")
    assert not_held.value.kind == "PermissionDenied", "a skip of a task never held is refused"
    await loop.skip("an-ada", task.task_id, "too close to home")
    await loop.skip("an-ada", task.task_id, "too close to home")
    assert [t.excluded for t in await loop.tasks()] == [["an-ada"]]

    assert (await take(loop, "an-ben")).task_id == task.task_id
    await loop.skip("an-ben", task.task_id, "not sure")
    report = await report_when(loop, lambda r: r.dropped == 1)
    assert report.open_tasks == 0
    await loop.skip("an-ben", task.task_id, "not sure")
    await loop.skip("an-ada", task.task_id, "too close to home")
    assert (await loop.report()).dropped == 1
    with pytest.raises(AnnotationRefusedError) as missing:
        await loop.skip("an-ben", "t/c44/none/emotion", "not sure")
    assert missing.value.kind == "NotFound"


async def adjudications_of(
    kit: LoopKit, policy_deployment: str, **changes: object
) -> AnnotationLoop:
    """A loop whose two items went to adjudication: an-ada labelled them anger, joy and the
    other annotator of `changes` (an-ben by default) joy, anger."""
    policy = make_policy(deployment=policy_deployment, **changes)
    loop = await kit.start(policy)
    items = texts(("t/c45/m1/emotion", "ugh, fine"), ("t/c45/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    other = next(a.id for a in policy.annotators if a.id != "an-ada")
    await disagree(loop, "an-ada", other)
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)
    return loop


async def test_an_adjudication_sent_after_its_lease_lapsed_is_recorded(kit: LoopKit) -> None:
    """an-ada, the one senior, labelled both items and adjudicates them; each time her lease
    lapses (and an-ben's next_task clears it) before she sends it. Her adjudication used to be
    refused as AlreadyExists (labels unlike her own) or answered `duplicate` (like them), and
    not recorded; nobody else holds it, so it is taken."""
    loop = await adjudications_of(
        kit,
        "lapsed-adjudication",
        annotators=[AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")],
    )
    settled: dict[str, list[str]] = {}
    for labels in (["joy"], ["joy"]):
        held = await take(loop, "an-ada")
        assert held.kind is TaskKind.ADJUDICATION
        await kit.env.sleep(LAPSED)
        assert (await loop.next_task("an-ben")).task is None
        assert [t.assigned for t in await loop.tasks() if t.task_id == held.task_id] == [{}]
        result = await loop.submit("an-ada", held.task_id, labels)
        assert not result.duplicate
        settled[held.task_id] = labels
        assert (await loop.submit("an-ada", held.task_id, labels)).duplicate, "a retry"
    await report_when(loop, lambda r: r.gold == 2)
    gold = {g.item_id: g for g in kit.gold.read("ekman")}
    assert {item: g.labels for item, g in gold.items()} == settled
    assert all(g.adjudicated for g in gold.values())


async def test_an_adjudication_taken_by_another_after_the_lease_lapsed_is_refused(
    kit: LoopKit,
) -> None:
    """an-ada and an-dev, both senior, labelled both items. an-ada's lease on an adjudication
    lapses and an-dev takes it: what an-ada sends then is refused, saying her lease lapsed (it
    used to be answered `duplicate`), and an-dev's adjudication is the one recorded."""
    loop = await adjudications_of(
        kit,
        "lapsed-taken",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-dev", senior=True),
        ],
    )
    held = await take(loop, "an-ada")
    await kit.env.sleep(LAPSED)
    taken = await take(loop, "an-dev")
    assert taken.task_id == held.task_id
    with pytest.raises(AnnotationRefusedError) as refused:
        await loop.submit("an-ada", held.task_id, ["anger"])
    assert refused.value.kind == "PermissionDenied"
    assert "lapsed" in refused.value.message
    await loop.submit("an-dev", held.task_id, ["joy"])
    await report_when(loop, lambda r: r.gold == 1)
    [gold] = kit.gold.read("ekman")
    assert (gold.item_id, gold.labels) == (held.task_id, ["joy"])
