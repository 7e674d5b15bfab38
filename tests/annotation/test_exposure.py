"""Annotation work counts toward the annotator's exposure: the real annotation and wellness
workflows on the time-skipping server, the wellness view in real Redis.

The kit's wellness policy is the default one: distress bands elevated 0.4 and high 0.7, weights
calm 0.5, high 2.0, crisis 3.0, a 15-minute break after a crisis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.annotation import AnnotationActivities, GoldNotice
from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from warmline.annotation.client import AnnotationLoop, submit_texts
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import TextItem
from warmline.annotation.redact import Redactor
from warmline.retraining.contracts import retraining_workflow_id
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.wellness.policy import WellnessState
from warmline.wellness.types import Availability
from warmline.wellness.view import WellnessStateStore
from workflows.wellness import WellnessWorkflow

MINUTES = pytest.approx  # workflow time also moves by the real milliseconds between calls


def item(conversation: str, message: str, text: str, **fields: object) -> TextItem:
    return TextItem.model_validate(
        {
            "item_id": f"t/{conversation}/{message}/emotion",
            "conversation_id": conversation,
            "message_id": message,
            "text": text,
            **fields,
        }
    )


async def work(kit: LoopKit, loop: AnnotationLoop, annotator: str, minutes: float) -> str:
    """Take the next task, spend `minutes` of workflow time on it; returns its id."""
    result = await loop.next_task(annotator)
    assert result.task is not None, result.reason
    await kit.env.sleep(timedelta(minutes=minutes))
    return result.task.task_id


async def state(kit: LoopKit, annotator: str) -> WellnessState:
    handle = kit.client.get_workflow_handle_for(
        WellnessWorkflow.run, kit.exposure.workflow_id(annotator)
    )
    return await handle.query(WellnessWorkflow.state)


async def test_labels_count_weighted_minutes_from_hand_out_to_submission(kit: LoopKit) -> None:
    policy = make_policy(deployment="exposure-labels", overlap=1)
    loop = await kit.start(policy)
    items = [
        item("c1", "m1", "my dog died and I can't stop crying", distress=0.8),
        item("c1", "m2", "the parcel came, thanks", distress=0.1),
    ]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)

    high = await work(kit, loop, "an-ben", 6)
    await loop.submit("an-ben", high, ["sadness"])
    # 6 minutes with a high-distress item count twice.
    view = await kit.view_when("an-ben", lambda v: v.exposure_minutes > 0)
    assert view.exposure_minutes == MINUTES(12.0, abs=0.05)
    assert view.kind == "annotator"

    calm = await work(kit, loop, "an-ben", 4)
    await loop.submit("an-ben", calm, ["joy"])
    view = await kit.view_when("an-ben", lambda v: v.exposure_minutes > 12.1)
    assert view.exposure_minutes == MINUTES(14.0, abs=0.05)
    assert set(view.exposure_by_queue) == {"annotation"}

    # A repeated submission is a duplicate and counts nothing again.
    assert (await loop.submit("an-ben", calm, ["joy"])).duplicate
    recorded = await state(kit, "an-ben")
    assert recorded.exposure_minutes == MINUTES(14.0, abs=0.05)
    assert [r for r in recorded.seen_records if r.startswith("annotation/")] == [
        f"annotation/{high}",
        f"annotation/{calm}",
    ]


async def test_a_flagged_item_weighs_as_high_distress_whenever_the_flag_comes(
    kit: LoopKit,
) -> None:
    policy = make_policy(deployment="exposure-flags", overlap=1)
    loop = await kit.start(policy)
    items = [item("c2", f"m{i}", "fine, whatever", distress=0.1) for i in range(1, 4)]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 3)

    # Flagged while held: the labels' record counts at the high weight (4 x 2.0).
    first = await work(kit, loop, "an-ada", 4)
    await loop.flag("an-ada", first, "this got to me")
    await loop.submit("an-ada", first, ["anger"])
    # Flagged after the labels went (4 x 0.5): a second record adds the difference (4 x 1.5).
    second = await work(kit, loop, "an-ben", 4)
    await loop.submit("an-ben", second, ["anger"])
    await loop.flag("an-ben", second, "it stayed with me")
    # Flagged, then skipped: it counts, as flagged; an unflagged skip would not.
    third = await work(kit, loop, "an-cai", 2)
    await loop.flag("an-cai", third)
    await loop.skip("an-cai", third, "too close to home")

    ada = await kit.view_when("an-ada", lambda v: v.exposure_minutes > 0)
    ben = await kit.view_when("an-ben", lambda v: v.exposure_minutes > 2.1)
    cai = await kit.view_when("an-cai", lambda v: v.exposure_minutes > 0)
    assert ada.exposure_minutes == MINUTES(8.0, abs=0.05)
    assert ben.exposure_minutes == MINUTES(8.0, abs=0.05)
    assert cai.exposure_minutes == MINUTES(4.0, abs=0.05)
    assert f"annotation/{second}/flag" in (await state(kit, "an-ben")).seen_records
    # A second flag of the same item adds nothing.
    assert (await loop.flag("an-ben", second)).duplicate
    assert (await state(kit, "an-ben")).exposure_minutes == MINUTES(8.0, abs=0.05)


async def test_time_past_the_lease_is_not_counted(kit: LoopKit) -> None:
    policy = make_policy(deployment="exposure-lease", overlap=1, lease_seconds=600)
    loop = await kit.start(policy)
    await submit_texts(
        kit.client, policy, [item("c3", "m1", "ok", distress=0.1)], task_queue=kit.task_queue
    )
    await wait_for_tasks(loop, 1)
    # Away for 30 minutes; nobody asked for work meanwhile, so the assignment still stands.
    task_id = await work(kit, loop, "an-cai", 30)
    await loop.submit("an-cai", task_id, ["neutral"])
    view = await kit.view_when("an-cai", lambda v: v.exposure_minutes > 0)
    assert view.exposure_minutes == MINUTES(5.0, abs=0.01), "10 minutes (the lease) x 0.5"


async def test_a_crisis_item_labelled_sends_the_annotator_on_a_break(kit: LoopKit) -> None:
    policy = make_policy(deployment="exposure-crisis", overlap=1)
    loop = await kit.start(policy)
    items = [
        item("c4", "m1", "I don't want to be here any more", distress=0.95, crisis=True),
        item("c4", "m2", "where is my order", distress=0.2),
    ]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    crisis = await work(kit, loop, "an-ada", 5)
    assert crisis == "t/c4/m1/emotion"
    await loop.submit("an-ada", crisis, ["sadness", "fear"])

    view = await kit.view_when("an-ada", lambda v: v.on_break)
    assert view.exposure_minutes == MINUTES(15.0, abs=0.05), "5 minutes x the crisis weight 3"
    refused = await loop.next_task("an-ada")
    assert refused.task is None
    assert "break" in refused.reason
    # The break after a crisis (15 minutes) ends; the next task is offered again.
    await kit.env.sleep(timedelta(minutes=16))
    await kit.view_when("an-ada", lambda v: not v.on_break)
    offered = await loop.next_task("an-ada")
    assert offered.task is not None
    assert offered.task.task_id == "t/c4/m2/emotion"


async def test_an_unavailable_annotator_gets_no_new_task_but_keeps_the_one_held(
    kit: LoopKit,
) -> None:
    policy = make_policy(deployment="exposure-availability", overlap=1)
    loop = await kit.start(policy)
    items = [item("c6", "m1", "where is my order"), item("c6", "m2", "thanks, that helps")]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    held = await work(kit, loop, "an-ben", 2)
    # The annotator's own call (the API's SetAvailability): answered once the view says so.
    await kit.exposure.ensure("an-ben")
    view = await kit.exposure.handle("an-ben").execute_update(
        WellnessWorkflow.set_availability, Availability(available=False)
    )
    assert not view.available
    again = await loop.next_task("an-ben")
    assert again.task is not None
    assert again.task.task_id == held, "the task they hold stays theirs"
    await loop.submit("an-ben", held, ["neutral"])
    refused = await loop.next_task("an-ben")
    assert refused.task is None
    assert "unavailable" in refused.reason
    # The work they finished still counted (it opened a shift); it did not make them available.
    assert (await state(kit, "an-ben")).exposure_minutes == MINUTES(1.0, abs=0.05)
    # HR says they are back (the bridge's signal): the next task is theirs again.
    await kit.exposure.availability("an-ben", True)
    await kit.view_when("an-ben", lambda v: v.available)
    offered = await loop.next_task("an-ben")
    assert offered.task is not None
    assert offered.task.task_id != held


async def test_supervisors_adjudicating_are_not_counted_as_annotators(kit: LoopKit) -> None:
    policy = make_policy(deployment="exposure-supervisor", adjudication_by="supervisor")
    loop = await kit.start(policy)
    items = [item("c5", "m1", "ugh, fine"), item("c5", "m2", "whatever you say")]
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 2)
    for annotator, labels in (("an-ben", ["anger", "joy"]), ("an-cai", ["joy", "anger"])):
        for chosen in labels:
            task_id = await work(kit, loop, annotator, 1)
            await loop.submit(annotator, task_id, [chosen])
    await wait_for_tasks(loop, 2)
    adjudication = await work(kit, loop, "sup-sam", 3)
    await loop.submit("sup-sam", adjudication, ["anger"])
    ben = await kit.view_when("an-ben", lambda v: v.exposure_minutes > 0.9)
    assert ben.exposure_minutes == MINUTES(1.0, abs=0.05), "two calm minutes"
    with pytest.raises(RPCError) as missing:
        await kit.client.get_workflow_handle(kit.exposure.workflow_id("sup-sam")).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


@pytest.mark.parametrize("taxonomy", [None, "original"])
async def test_retraining_is_not_told_when_it_is_off_or_trains_another_taxonomy(
    taxonomy: str | None, workflow_env: WorkflowEnvironment, redis_url: str, tmp_path: Path
) -> None:
    settings = None
    if taxonomy is not None:
        settings = RetrainingSettings(
            deployment="d",
            taxonomy=taxonomy,
            registry=tmp_path,
            dev_data=tmp_path / "dev.tsv",
            crisis_labels=CRISIS_LABELS[taxonomy],
        )
    redis = Redis.from_url(redis_url)
    activities = AnnotationActivities(
        workflow_env.client,
        GoldLabelStore(redis, deployment="d"),
        WellnessStateStore(redis, deployment="d"),
        Redactor(),
        retraining=settings,
    )
    answer = await ActivityEnvironment().run(
        activities.notify_retraining, GoldNotice(taxonomy="ekman", count=3)
    )
    redis.close()
    assert not answer.notified
    expected = "retraining is off" if taxonomy is None else "annotation.retraining.taxonomy"
    assert expected in answer.reason
    with pytest.raises(RPCError):
        await workflow_env.client.get_workflow_handle(
            retraining_workflow_id("d", "ekman")
        ).describe()
