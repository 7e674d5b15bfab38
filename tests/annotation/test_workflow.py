"""AnnotationWorkflow against the time-skipping server, real Redis stores and real Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationRefusedError,
    apply_policy,
    submit_item,
    submit_texts,
)
from warmline.annotation.model import (
    AnnotationCarry,
    AnnotationInput,
    AnnotationReport,
    AnnotatorSpec,
    ExposureBand,
    ItemKind,
    ItemRequest,
    PreparedItem,
    Source,
    Task,
    TaskKind,
    TaskView,
    TextItem,
    annotation_workflow_id,
)
from warmline.conversation import (
    AIReply,
    ConversationInput,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.events import EventType
from warmline.events.catalog import AnnotationGoldRecorded, parse_data
from warmline.wellness.policy import ExposureRecord
from warmline.wellness.view import WorkerWellness
from workflows.annotation import AnnotationWorkflow
from workflows.conversation import ConversationWorkflow


def texts(*pairs: tuple[str, str], **fields: object) -> list[TextItem]:
    """Text items whose ids read `tenant/conversation/message/kind`."""
    return [
        TextItem.model_validate(
            {
                "item_id": i,
                "text": t,
                "tenant_id": i.split("/")[0],
                "conversation_id": i.split("/")[1],
                "message_id": i.split("/")[2],
                **fields,
            }
        )
        for i, t in pairs
    ]


async def label(loop: AnnotationLoop, annotator: str, labels: list[str]) -> str:
    result = await loop.next_task(annotator)
    assert result.task is not None, result.reason
    await loop.submit(annotator, result.task.task_id, labels)
    return result.task.task_id


async def take(loop: AnnotationLoop, annotator: str) -> TaskView:
    result = await loop.next_task(annotator)
    assert result.task is not None, result.reason
    return result.task


async def report_when(
    loop: AnnotationLoop, predicate: Callable[[AnnotationReport], bool], timeout_s: float = 5.0
) -> AnnotationReport:
    """The report once `predicate` holds (batches are measured after the update returns)."""
    for _ in range(int(timeout_s * 20)):
        report = await loop.report()
        if predicate(report):
            return report
        await asyncio.sleep(0.05)
    raise AssertionError(f"the report never matched: {report}")


async def disagree(loop: AnnotationLoop, first: str, second: str) -> list[str]:
    """`first` and `second` label the two open items anger/joy and joy/anger: alpha is far below
    the threshold. Returns the task ids in `first`'s order."""
    ids = [await label(loop, first, ["anger"]), await label(loop, first, ["joy"])]
    assert [await label(loop, second, ["joy"]), await label(loop, second, ["anger"])] == ids
    return ids


async def test_overlap_k_gold_recorded_once_and_emitted(kit: LoopKit) -> None:
    policy = make_policy(label_map={"sadness": "sadness"}, deployment="gold-once")
    loop = await kit.start(policy)
    items = texts(("t/c1/m1/emotion", "I lost my dog today"), ("t/c1/m2/emotion", "I'm thrilled"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)

    # Overlap 2: each task goes to two annotators, never twice to the same one.
    first = await label(loop, "an-ada", ["sadness"])
    second = await label(loop, "an-ada", ["joy"])
    assert {first, second} == {"t/c1/m1/emotion", "t/c1/m2/emotion"}
    none_left = await loop.next_task("an-ada")
    assert none_left.task is None
    await label(loop, "an-ben", ["sadness"])
    await label(loop, "an-ben", ["joy"])
    third = await loop.next_task("an-cai")
    assert third.task is None, "both tasks already have k=2 labels"

    events = await kit.read_events("c1", until=EventType.ANNOTATION_GOLD_RECORDED)
    report = await loop.report()
    assert report.gold == 2
    assert report.batches[0].alpha == pytest.approx(1.0)
    assert report.batches[0].items == 2
    assert report.batches[0].annotators == 2
    assert kit.gold.count("ekman") == 2
    stored = {g.item_id: g for g in kit.gold.read("ekman")}
    assert stored["t/c1/m1/emotion"].labels == ["sadness"]
    assert stored["t/c1/m1/emotion"].annotators == ["an-ada", "an-ben"]

    # A second submission of the same labels is idempotent; different labels are refused.
    duplicate = await loop.submit("an-ada", first, ["sadness"] if "m1" in first else ["joy"])
    assert duplicate.duplicate
    with pytest.raises(AnnotationRefusedError) as refused:
        await loop.submit("an-ada", first, ["fear"])
    assert refused.value.kind == "AlreadyExists"
    gold_events = await kit.read_events("c1", until=EventType.ANNOTATION_GOLD_RECORDED, timeout_s=2)
    recorded = [e for e in gold_events if e.type == EventType.ANNOTATION_GOLD_RECORDED]
    assert len(recorded) == len({e.id for e in recorded})
    data = parse_data(EventType.ANNOTATION_GOLD_RECORDED, recorded[0].data)
    assert isinstance(data, AnnotationGoldRecorded)
    assert data.taxonomy == "ekman"
    assert "text" not in recorded[0].data, "events carry no message text"
    assert (await loop.report()).gold == 2, "nothing counted twice"
    assert events


async def test_label_outside_taxonomy_and_not_your_task(kit: LoopKit) -> None:
    policy = make_policy(deployment="bad-input")
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, texts(("t/c2/m1/emotion", "meh")), task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    task = (await loop.next_task("an-ada")).task
    assert task is not None
    with pytest.raises(AnnotationRefusedError) as outside:
        await loop.submit("an-ada", task.task_id, ["grief"])
    assert outside.value.kind == "InvalidArgument"
    assert "grief" in outside.value.message
    with pytest.raises(AnnotationRefusedError) as not_mine:
        await loop.submit("an-ben", task.task_id, ["joy"])
    assert not_mine.value.kind == "PermissionDenied"
    with pytest.raises(AnnotationRefusedError) as missing:
        await loop.submit("an-ada", "no/such/task", ["joy"])
    assert missing.value.kind == "NotFound"
    with pytest.raises(AnnotationRefusedError) as stranger:
        await loop.next_task("an-mallory")
    assert stranger.value.kind == "PermissionDenied"
    with pytest.raises(AnnotationRefusedError) as empty:
        await loop.submit("an-ada", task.task_id, [])
    assert empty.value.kind == "InvalidArgument"
    tasks = await loop.tasks()
    assert tasks[0].labels == {}, "no refused submission was counted"


async def test_low_agreement_goes_to_senior_adjudication(kit: LoopKit) -> None:
    policy = make_policy(deployment="adjudicate", label_map={"joy": "joy"})
    loop = await kit.start(policy)
    items = texts(("t/c3/m1/emotion", "ugh, fine"), ("t/c3/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    # an-ben and an-cai (not the senior) disagree on both items.
    await label(loop, "an-ben", ["anger"])
    await label(loop, "an-ben", ["joy"])
    await label(loop, "an-cai", ["joy"])
    await label(loop, "an-cai", ["anger"])

    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)
    report = await loop.report()
    assert report.batches[0].alpha is not None
    assert report.batches[0].alpha < policy.threshold
    assert report.batches[0].adjudicated == 2
    assert report.gold == 0
    # Only a senior annotator adjudicates; they see how the votes fell.
    assert (await loop.next_task("an-ben")).task is None
    adjudication = (await loop.next_task("an-ada")).task
    assert adjudication is not None
    assert adjudication.prior == {"anger": 1, "joy": 1}
    await loop.submit("an-ada", adjudication.task_id, ["anger"])
    await loop.flush()
    await kit.read_events("c3", until=EventType.ANNOTATION_GOLD_RECORDED)
    stored = kit.gold.read("ekman")
    assert [g.adjudicated for g in stored] == [True]
    assert stored[0].labels == ["anger"]


async def test_assignment_respects_skill_language_and_wellness(kit: LoopKit) -> None:
    policy = make_policy(
        deployment="assign",
        overlap=1,
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True, languages=["de"]),
            AnnotatorSpec(id="an-ben", skills=["tone"]),
            AnnotatorSpec(id="an-cai"),
            AnnotatorSpec(id="an-dev", skills=["emotions", "crisis"]),
        ],
    )
    loop = await kit.start(policy)
    items = [
        TextItem(item_id="t/c4/m1/emotion", text="Ich bin so traurig", language="de"),
        TextItem(item_id="t/c4/m2/emotion", text="I can't go on", crisis=True, distress=0.95),
        TextItem(item_id="t/c4/m3/emotion", text="so sad and scared", distress=0.9),
        TextItem(item_id="t/c4/m4/emotion", text="je suis triste", language="fr"),
    ]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 3)
    # Nobody reads French: the item is dropped rather than left open for ever.
    for _ in range(100):
        if (await loop.report()).dropped:
            break
        await asyncio.sleep(0.05)
    assert (await loop.report()).dropped == 1
    assert "t/c4/m4/emotion" not in {t.task_id for t in await loop.tasks()}

    assert (await loop.next_task("an-ben")).task is None, "no emotion skill"
    german = (await loop.next_task("an-ada")).task
    assert german is not None
    assert german.task_id == "t/c4/m1/emotion", "an-ada reads only German"
    # Crisis items go to the crisis-trained annotator only.
    kit.wellness.write(WorkerWellness(worker_id="an-cai", over_budget=True))
    over_budget = await loop.next_task("an-cai")
    assert over_budget.task is None
    assert "high-distress" in over_budget.reason
    kit.wellness.write(WorkerWellness(worker_id="an-dev", on_break=True))
    on_break = await loop.next_task("an-dev")
    assert on_break.task is None
    assert "break" in on_break.reason
    kit.wellness.write(WorkerWellness(worker_id="an-dev", exposure_minutes=30.0))
    crisis = (await loop.next_task("an-dev")).task
    assert crisis is not None
    assert crisis.task_id == "t/c4/m2/emotion"
    # High distress: a content warning, and blurred until the annotator opts in.
    assert crisis.blurred
    assert crisis.text == ""
    assert "distress" in crisis.content_warning
    revealed = await loop.reveal("an-dev", crisis.task_id)
    assert revealed.text == "I can't go on"
    assert not revealed.blurred


async def test_skip_puts_the_task_back_and_flag_counts_once(kit: LoopKit) -> None:
    policy = make_policy(deployment="skip-flag", overlap=1)
    loop = await kit.start(policy)
    await submit_texts(
        kit.client,
        policy,
        texts(("t/c5/m1/emotion", "I feel awful"), distress=0.5),
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(loop, 1)
    task = (await loop.next_task("an-ben")).task
    assert task is not None
    with pytest.raises(AnnotationRefusedError) as no_reason:
        await loop.skip("an-ben", task.task_id, "  ")
    assert no_reason.value.kind == "InvalidArgument"
    first = await loop.flag("an-ben", task.task_id, "hard to read")
    again = await loop.flag("an-ben", task.task_id)
    assert not first.duplicate
    assert again.duplicate
    await loop.skip("an-ben", task.task_id, "too close to home")
    assert (await loop.next_task("an-ben")).task is None, "not offered to the skipper again"
    other = (await loop.next_task("an-cai")).task
    assert other is not None
    assert other.task_id == task.task_id
    assert (await loop.report()).flags == 1
    flagged = await asyncio.to_thread(
        kit.wellness_events.read, "an-ben", until=EventType.WELLNESS_ITEM_FLAGGED
    )
    assert len([e for e in flagged if e.type == EventType.WELLNESS_ITEM_FLAGGED]) == 1


async def test_tone_audit_reports_reply_quality_per_model_version(kit: LoopKit) -> None:
    policy = make_policy(deployment="tone", overlap=2)
    loop = await kit.start(policy)
    items = [
        TextItem(
            item_id=f"t/c6/ai{i}/tone",
            conversation_id="c6",
            message_id=f"ai{i}",
            text=text,
            kind=ItemKind.TONE,
            sources=[Source.TONE_AUDIT],
            model_version="llm:v2",
        )
        for i, text in enumerate(["Cheer up, it could be worse!", "I'm sorry, that sounds hard."])
    ]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    for annotator in ("an-ada", "an-ben"):
        first = (await loop.next_task(annotator)).task
        assert first is not None
        assert "dismissive" in first.labels
        with pytest.raises(AnnotationRefusedError):
            await loop.submit(annotator, first.task_id, ["appropriate", "dismissive"])
        verdict = ["dismissive"] if first.task_id.endswith("ai0/tone") else ["appropriate"]
        await loop.submit(annotator, first.task_id, verdict)
        second = (await loop.next_task(annotator)).task
        assert second is not None
        verdict = ["dismissive"] if second.task_id.endswith("ai0/tone") else ["appropriate"]
        await loop.submit(annotator, second.task_id, verdict)
    await kit.read_events("c6", until=EventType.ANNOTATION_REPLY_AUDITED)
    report = await loop.report()
    [quality] = report.reply_quality
    assert quality.model_version == "llm:v2"
    assert quality.audited == 2
    assert quality.rate == pytest.approx(0.5)
    assert quality.findings == {"dismissive": 1}
    assert kit.gold.count("ekman") == 0, "tone audits are not emotion gold labels"


async def test_agreement_against_exposure(kit: LoopKit) -> None:
    policy = make_policy(deployment="exposure")
    loop = await kit.start(policy)
    # Earlier work this shift (200 weighted minutes, not intense), through the real workflow:
    # an-ben's submissions below keep rewriting the view from it.
    await kit.exposure.record(
        "an-ben",
        ExposureRecord(record_id="earlier", minutes=200.0, intensity=1.0, intense=False),
    )
    await kit.view_when("an-ben", lambda view: view.exposure_minutes == 200.0)
    items = texts(("t/c7/m1/emotion", "so happy"), ("t/c7/m2/emotion", "so angry"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    for annotator in ("an-ada", "an-ben"):
        for _ in range(2):
            task = (await loop.next_task(annotator)).task
            assert task is not None
            chosen = "joy" if task.task_id.endswith("m1/emotion") else "anger"
            await loop.submit(annotator, task.task_id, [chosen])
    # Both items' gold labels, not only the first's: the report counts what has been recorded.
    for _ in range(100):
        report = await loop.report()
        if report.gold == 2:
            break
        await asyncio.sleep(0.05)
    assert report.gold == 2
    bands = {(s.annotator_id, s.band): s for s in report.exposure}
    assert bands[("an-ben", ExposureBand.HIGH)].items == 2
    assert bands[("an-ada", ExposureBand.FRESH)].agreed == 2
    per_annotator = {s.annotator_id: s for s in report.batches[0].per_annotator}
    assert per_annotator["an-ben"].mean_exposure_minutes == pytest.approx(200.0)


async def test_a_lapsed_assignment_goes_to_someone_else(kit: LoopKit) -> None:
    policy = make_policy(deployment="lease", overlap=1, lease_seconds=1800)
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, texts(("t/c8/m1/emotion", "hmm")), task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    held = (await loop.next_task("an-ben")).task
    assert held is not None
    assert (await loop.next_task("an-cai")).task is None
    await kit.env.sleep(timedelta(minutes=31))
    taken = (await loop.next_task("an-cai")).task
    assert taken is not None
    assert taken.task_id == held.task_id
    with pytest.raises(AnnotationRefusedError) as lapsed:
        await loop.submit("an-ben", held.task_id, ["neutral"])
    assert lapsed.value.kind == "PermissionDenied"


async def test_a_continued_run_keeps_its_tasks_and_pending_items(kit: LoopKit) -> None:
    policy = make_policy(deployment="carried", overlap=1)
    carried = Task(
        task_id="t/c10/m1/emotion",
        item=PreparedItem(item_id="t/c10/m1/emotion", text="carried over"),
        required=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    carry = AnnotationCarry(
        tasks=[carried],
        seen=["t/c10/m1/emotion"],
        items=1,
        gold=5,
        pending_texts=[TextItem(item_id="t/c10/m2/emotion", text="still to prepare")],
    )
    await kit.client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy, carry=carry),
        id=annotation_workflow_id(policy.deployment),
        task_queue=kit.task_queue,
    )
    loop = AnnotationLoop(kit.client, policy.deployment)
    tasks = await wait_for_tasks(loop, 2)
    assert {t.task_id for t in tasks} == {"t/c10/m1/emotion", "t/c10/m2/emotion"}
    first = (await loop.next_task("an-ada")).task
    assert first is not None
    assert first.text == "carried over"
    report = await loop.report()
    assert (report.items, report.gold) == (2, 5)


async def test_tone_audit_of_a_real_conversations_replies(kit: LoopKit) -> None:
    policy = make_policy(deployment="tone-conv", overlap=1, tone_audit_fraction=1.0)
    loop = await kit.start(policy)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    handle = await kit.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="open-door", conversation_id=conversation, policy=EscalationPolicy()
        ),
        id=workflow_id("open-door", conversation),
        task_queue=kit.task_queue,
    )
    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m1", text="My mum died last week and the bill is wrong"),
    )
    await handle.execute_update(
        ConversationWorkflow.record_reply,
        AIReply(message_id="ai1", text="Cheer up, Margaret! Let's fix that bill."),
    )
    await submit_item(
        kit.client,
        policy,
        ItemRequest(
            tenant_id="open-door",
            conversation_id=conversation,
            kind=ItemKind.TONE,
            sources=[Source.TONE_AUDIT],
        ),
        task_queue=kit.task_queue,
    )
    [task] = await wait_for_tasks(loop, 1)
    assert task.item.kind is ItemKind.TONE
    assert task.item.message_id == "ai1"
    assert task.item.text == "Cheer up, {{NAME}}! Let's fix that bill."
    assert task.item.model_version, "the model that read the message the reply answers"
    assert task.item.distress > 0


async def test_concurrent_requests_of_one_annotator_hold_one_task(kit: LoopKit) -> None:
    policy = make_policy(deployment="concurrent", overlap=1)
    loop = await kit.start(policy)
    items = texts(("t/c11/m1/emotion", "one"), ("t/c11/m2/emotion", "two"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    first, second = await asyncio.gather(loop.next_task("an-ada"), loop.next_task("an-ada"))
    assert first.task is not None
    assert second.task is not None
    assert first.task.task_id == second.task.task_id
    held = [t for t in await loop.tasks() if "an-ada" in t.assigned]
    assert len(held) == 1


async def test_a_redeployed_policy_reaches_the_running_loop(kit: LoopKit) -> None:
    policy = make_policy(deployment="redeploy", overlap=1)
    loop = await kit.start(policy)
    with pytest.raises(AnnotationRefusedError):
        await loop.next_task("an-new")
    grown = policy.model_copy(
        update={"annotators": [*policy.annotators, AnnotatorSpec(id="an-new")]}
    )
    await apply_policy(kit.client, grown, task_queue=kit.task_queue)
    await submit_texts(
        kit.client, grown, texts(("t/c12/m1/emotion", "hello")), task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    task = (await loop.next_task("an-new")).task
    assert task is not None


async def test_a_task_every_eligible_annotator_skipped_is_settled(kit: LoopKit) -> None:
    """Overlap 2 of three annotators: once the others skipped, the labels that can still be had
    are enough (under-overlapped); with none labelled and nobody left, the item is dropped."""
    policy = make_policy(deployment="skipped-out", overlap=2)
    loop = await kit.start(policy)
    items = texts(("t/c13/m1/emotion", "meh"), ("t/c13/m2/emotion", "whatever"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    labelled = await label(loop, "an-ada", ["neutral"])
    skipped = (await take(loop, "an-ada")).task_id
    await loop.skip("an-ada", skipped, "not sure")
    for annotator in ("an-ben", "an-cai"):
        for _ in range(2):
            task = await take(loop, annotator)
            await loop.skip(annotator, task.task_id, "not sure")

    assert await loop.tasks() == [], "nothing is left open for ever"
    for annotator in ("an-ada", "an-ben", "an-cai"):
        assert (await loop.next_task(annotator)).task is None
    assert (await loop.flush()).batches == 1
    report = await loop.report()
    assert (report.gold, report.dropped, report.open_tasks) == (1, 1, 0)
    [gold] = kit.gold.read("ekman")
    assert gold.item_id == labelled
    assert gold.annotators == ["an-ada"]


async def test_a_crisis_flag_that_narrows_who_may_label_lowers_the_overlap(kit: LoopKit) -> None:
    policy = make_policy(
        deployment="crisis-later",
        overlap=2,
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-ben"),
            AnnotatorSpec(id="an-dev", skills=["emotions", "crisis"]),
        ],
    )
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, texts(("t/c14/m1/emotion", "I can't cope")), task_queue=kit.task_queue
    )
    [task] = await wait_for_tasks(loop, 1)
    assert task.required == 2
    # The same message sampled again for a crisis: only the crisis-trained may take it now.
    await submit_item(
        kit.client,
        policy,
        ItemRequest(
            tenant_id="t",
            conversation_id="c14",
            message_id="m1",
            sources=[Source.CRISIS],
            crisis=True,
        ),
        task_queue=kit.task_queue,
    )
    for _ in range(100):
        [task] = await loop.tasks()
        if task.item.crisis:
            break
        await asyncio.sleep(0.05)
    assert task.required == 1
    assert (await loop.next_task("an-ben")).task is None
    await label(loop, "an-dev", ["fear"])
    await loop.flush()
    assert (await loop.report()).gold == 1


async def test_an_original_labeller_may_repeat_and_flag_while_the_item_is_adjudicated(
    kit: LoopKit,
) -> None:
    policy = make_policy(deployment="adjudicated-repeat")
    loop = await kit.start(policy)
    items = texts(("t/c15/m1/emotion", "ugh, fine"), ("t/c15/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    first, _ = await disagree(loop, "an-ben", "an-cai")
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    # an-ben's client retries its submission: the task id is now the adjudication's.
    repeated = await loop.submit("an-ben", first, ["anger"])
    assert repeated.duplicate
    with pytest.raises(AnnotationRefusedError) as changed:
        await loop.submit("an-ben", first, ["fear"])
    assert changed.value.kind == "AlreadyExists"
    with pytest.raises(AnnotationRefusedError) as skipped:
        await loop.skip("an-ben", first, "changed my mind")
    assert skipped.value.kind == "FailedPrecondition"
    flagged = await loop.flag("an-ben", first, "it stayed with me")
    assert not flagged.duplicate
    assert (await loop.flag("an-ben", first)).duplicate
    [adjudication] = [t for t in await loop.tasks() if t.task_id == first]
    assert adjudication.labels == {}
    assert adjudication.flagged == [], "an-ben's flag is theirs, not the adjudicator's"

    held = await take(loop, "an-ada")
    await loop.submit("an-ada", held.task_id, ["anger"])
    report = await report_when(loop, lambda r: r.gold == 1)
    assert report.flags == 1


async def test_a_senior_who_labelled_the_item_adjudicates_it_when_nobody_else_can(
    kit: LoopKit,
) -> None:
    policy = make_policy(
        deployment="senior-labelled",
        annotators=[AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")],
    )
    loop = await kit.start(policy)
    items = texts(("t/c16/m1/emotion", "ugh, fine"), ("t/c16/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    first, _ = await disagree(loop, "an-ada", "an-ben")
    await wait_for_tasks(loop, 2)
    # Not holding the adjudication, a repeat of her labels is a repeat ...
    assert (await loop.submit("an-ada", first, ["anger"])).duplicate
    # ... holding it, what she sends is the adjudication, whatever she chose before.
    held = await take(loop, "an-ada")
    assert held.kind is TaskKind.ADJUDICATION
    assert held.task_id == first
    settled = await loop.submit("an-ada", first, ["joy"])
    assert not settled.duplicate
    await report_when(loop, lambda r: r.gold == 1)
    [gold] = kit.gold.read("ekman")
    assert gold.labels == ["joy"]
    assert gold.adjudicated


GERMAN = [
    TextItem(item_id="t/c17/m1/emotion", text="na toll", language="de"),
    TextItem(item_id="t/c17/m2/emotion", text="wie auch immer", language="de"),
]


async def test_a_senior_adjudicates_only_items_in_their_languages(kit: LoopKit) -> None:
    policy = make_policy(
        deployment="adjudicate-de",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True, languages=["en"]),
            AnnotatorSpec(id="an-dev", senior=True, languages=["de"]),
            AnnotatorSpec(id="an-ben", languages=["en", "de"]),
            AnnotatorSpec(id="an-cai", languages=["de"]),
        ],
    )
    loop = await kit.start(policy)
    await submit_texts(kit.client, policy, GERMAN, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    await disagree(loop, "an-ben", "an-cai")
    tasks = await wait_for_tasks(loop, 2)
    assert all(t.kind is TaskKind.ADJUDICATION for t in tasks)

    assert (await loop.next_task("an-ada")).task is None, "an-ada reads no German"
    adjudication = await take(loop, "an-dev")
    assert adjudication.kind is TaskKind.ADJUDICATION
    assert adjudication.language == "de"


async def test_without_a_senior_for_the_language_the_majority_settles(kit: LoopKit) -> None:
    """Nobody able to adjudicate: majority; two annotators who disagree have none, so the items
    are dropped, and still count in each annotator's agreement figures."""
    policy = make_policy(
        deployment="majority-de",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True, languages=["en"]),
            AnnotatorSpec(id="an-ben", languages=["de"]),
            AnnotatorSpec(id="an-cai", languages=["de"]),
        ],
    )
    loop = await kit.start(policy)
    await submit_texts(kit.client, policy, GERMAN, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    await disagree(loop, "an-ben", "an-cai")

    report = await report_when(loop, lambda r: r.dropped == 2)
    assert await loop.tasks() == []
    assert (await loop.next_task("an-ada")).task is None
    assert report.batches[0].adjudicated == 2
    exposure = {s.annotator_id: (s.items, s.agreed) for s in report.exposure}
    assert exposure == {"an-ben": (2, 0), "an-cai": (2, 0)}
    per_annotator = {s.annotator_id: (s.items, s.agreed) for s in report.batches[0].per_annotator}
    assert per_annotator == {"an-ben": (2, 0), "an-cai": (2, 0)}


async def test_per_annotator_figures_count_the_items_sent_to_adjudication(kit: LoopKit) -> None:
    policy = make_policy(deployment="per-annotator", batch_size=4)
    loop = await kit.start(policy)
    items = texts(*((f"t/c18/m{n}/emotion", text) for n, text in enumerate("abcd", start=1)))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 4)
    # an-ben and an-cai agree on one item of four.
    ben = [["anger"], ["joy"], ["fear"], ["sadness"]]
    cai = [["joy"], ["anger"], ["sadness"], ["sadness"]]
    ids = [await label(loop, "an-ben", labels) for labels in ben]
    assert [await label(loop, "an-cai", labels) for labels in cai] == ids

    report = await report_when(loop, lambda r: bool(r.batches))
    [batch] = report.batches
    assert batch.alpha is not None
    assert batch.alpha < policy.threshold
    assert (batch.gold, batch.adjudicated) == (1, 3)
    per_annotator = {s.annotator_id: (s.items, s.agreed) for s in batch.per_annotator}
    assert per_annotator == {"an-ben": (4, 1), "an-cai": (4, 1)}


async def test_items_dropped_without_a_majority_count_against_exposure(kit: LoopKit) -> None:
    policy = make_policy(deployment="majority-drop", adjudication_by="majority")
    loop = await kit.start(policy)
    items = texts(("t/c20/m1/emotion", "ugh, fine"), ("t/c20/m2/emotion", "whatever you say"))
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    await disagree(loop, "an-ben", "an-cai")

    report = await report_when(loop, lambda r: r.dropped == 2)
    assert report.gold == 0
    exposure = {s.annotator_id: (s.band, s.items, s.agreed) for s in report.exposure}
    assert exposure == {
        "an-ben": (ExposureBand.FRESH, 2, 0),
        "an-cai": (ExposureBand.FRESH, 2, 0),
    }


async def test_a_correction_after_the_labels_joins_the_gold_labels_provenance(
    kit: LoopKit,
) -> None:
    policy = make_policy(deployment="late-correction")
    loop = await kit.start(policy)
    await submit_texts(
        kit.client,
        policy,
        texts(("t/c19/m1/emotion", "I miss her so much")),
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(loop, 1)
    await label(loop, "an-ada", ["sadness"])
    await label(loop, "an-ben", ["sadness"])
    # Labelled, waiting for its batch: the specialist's correction arrives now.
    correction = ItemRequest(
        tenant_id="t",
        conversation_id="c19",
        message_id="m1",
        sources=[Source.CORRECTION],
        candidate_labels=["sadness", "fear"],
    )
    await submit_item(kit.client, policy, correction, task_queue=kit.task_queue)
    await loop.flush()
    [gold] = kit.gold.read("ekman")
    assert gold.candidate_labels == ["sadness", "fear"]
    assert gold.source == "random", "why it was sampled first"
    events = await kit.read_events("c19", until=EventType.ANNOTATION_GOLD_RECORDED)
    [recorded] = [e for e in events if e.type == EventType.ANNOTATION_GOLD_RECORDED]
    assert recorded.data["candidate_labels"] == ["sadness", "fear"]
    assert recorded.data["sources"] == ["random", "correction"]

    # Once the gold label is recorded, a correction changes nothing (it is recorded once).
    await submit_item(kit.client, policy, correction, task_queue=kit.task_queue)
    assert (await loop.flush()).batches == 0
    assert kit.gold.count("ekman") == 1
