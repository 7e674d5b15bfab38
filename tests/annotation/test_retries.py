"""A client that lost a reply sends the call again as it was: the annotator API answers the retry as
it answered the first call, and nothing is counted twice (flags, exposure, skips)."""

from __future__ import annotations

import grpc

from tests.annotation import test_api
from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_api import Served, code_of
from tests.annotation.test_exposure import state
from tests.annotation.test_workflow import disagree, report_when, take, texts
from warmline.annotation.client import submit_texts
from warmline.annotation.model import AnnotatorSpec, TaskKind
from warmline.api.v1 import annotator_pb2 as pb

served = test_api.served


async def test_a_flag_sent_again_after_a_skip_is_a_duplicate(served: Served, kit: LoopKit) -> None:
    """The annotator flags the item and skips it; the flag's reply was lost, so the client sends it
    again. It used to be refused PERMISSION_DENIED ("not assigned to you"), a flag that had been
    counted shown as failed; now it is answered `duplicate` and counted once."""
    stub, auth = served.stub, served.auth("an-dee")
    task = (await stub.NextTask(pb.NextTaskRequest(), metadata=auth)).task
    flag = pb.FlagDistressingRequest(task_id=task.task_id, note="hard to read")
    assert not (await stub.FlagDistressing(flag, metadata=auth)).duplicate
    await stub.SkipTask(pb.SkipTaskRequest(task_id=task.task_id, reason="too much"), metadata=auth)

    again = await stub.FlagDistressing(flag, metadata=auth)
    assert again.duplicate
    report = await stub.GetAgreementReport(
        pb.GetAgreementReportRequest(), metadata=served.auth("sup-night")
    )
    assert report.flags == 1
    # The flagged skip counted the caller's minutes once, as flagged work.
    recorded = await state(kit, "an-dee")
    assert [r for r in recorded.seen_records if r.startswith("annotation/")] == [
        f"annotation/{task.task_id}"
    ]
    # Someone who neither held nor flagged the task is still refused.
    other = await code_of(stub.FlagDistressing(flag, metadata=served.auth("an-ash")))
    assert other == grpc.StatusCode.PERMISSION_DENIED


async def test_a_flag_sent_again_once_the_task_was_dropped_is_a_duplicate(kit: LoopKit) -> None:
    """Both annotators able to label the item skip it, so it is dropped; the first one's flag is
    sent again. It used to be NOT_FOUND; now `duplicate`, and the report counts one flag."""
    policy = make_policy(
        deployment="flag-retried",
        overlap=1,
        annotators=[AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")],
    )
    loop = await kit.start(policy)
    await submit_texts(
        kit.client,
        policy,
        texts(("t/c61/m1/emotion", "it's all too much")),
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(loop, 1)
    task = await take(loop, "an-ada")
    assert not (await loop.flag("an-ada", task.task_id, "heavy")).duplicate
    await loop.skip("an-ada", task.task_id, "too close to home")
    assert (await take(loop, "an-ben")).task_id == task.task_id
    await loop.skip("an-ben", task.task_id, "not sure")
    await report_when(loop, lambda r: r.dropped == 1)

    assert (await loop.flag("an-ada", task.task_id, "heavy")).duplicate
    report = await loop.report()
    assert (report.flags, report.dropped, report.open_tasks) == (1, 1, 0)


async def test_an_item_skipped_is_not_offered_back_as_its_adjudication(kit: LoopKit) -> None:
    """an-ada, a senior, skips m1 ("too close to home"); an-dev and an-ben disagree on m1 and m2,
    which go to adjudication. The adjudication keeps m1's task id, and an-ada used to be the first
    asked to settle it (the senior who did not label it), so her client's late retry of the skip
    skipped the adjudication she held. Now m1's adjudication goes to an-dev, and her retry of
    the skip changes nothing."""
    policy = make_policy(
        deployment="skipped-item",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-dev", senior=True),
            AnnotatorSpec(id="an-ben"),
        ],
    )
    loop = await kit.start(policy)
    items = texts(("t/c62/m1/emotion", "my mum is in hospital"), ("t/c62/m2/emotion", "fine"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    skipped = await take(loop, "an-ada")
    assert skipped.task_id == "t/c62/m1/emotion"
    await loop.skip("an-ada", skipped.task_id, "too close to home")
    assert await disagree(loop, "an-dev", "an-ben") == ["t/c62/m1/emotion", "t/c62/m2/emotion"]
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    offered = await take(loop, "an-ada")
    assert offered.task_id == "t/c62/m2/emotion", "not the item she skipped"
    await loop.skip("an-ada", skipped.task_id, "too close to home")
    assert [t.assigned.keys() for t in await loop.tasks() if t.task_id == offered.task_id] == [
        {"an-ada"}
    ]
    settles = await take(loop, "an-dev")
    assert settles.task_id == skipped.task_id
    await loop.submit("an-ada", offered.task_id, ["joy"])
    await loop.submit("an-dev", settles.task_id, ["fear"])
    report = await report_when(loop, lambda r: r.gold == 2)
    assert (report.dropped, report.open_tasks) == (0, 0)
    gold = {g.item_id: g.labels for g in kit.gold.read("ekman")}
    assert gold == {"t/c62/m1/emotion": ["fear"], "t/c62/m2/emotion": ["joy"]}
