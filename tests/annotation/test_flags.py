"""Distress flags on the wellness topic: what `io.warmline.wellness.annotation.flagged.v1` says."""

from __future__ import annotations

import asyncio

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_workflow import label, texts
from warmline.annotation.client import submit_texts
from warmline.events import EventType


async def test_a_flag_after_the_labels_says_the_item_was_a_crisis(kit: LoopKit) -> None:
    """The usual order: label, then flag what stayed with you. Once the item's labels were all
    in, the event said `crisis: false` whatever the item was, so a wellness lead (or the HR
    connector) saw a crisis item flagged as an ordinary one."""
    policy = make_policy(deployment="flag-crisis", overlap=1)
    loop = await kit.start(policy)
    items = texts(("t/c33/m1/emotion", "I don't want to be here any more"), crisis=True)
    await submit_texts(kit.client, policy, items, task_queue=kit.task_queue)
    await wait_for_tasks(loop, 1)
    task_id = await label(loop, "an-ada", ["sadness"])
    assert await loop.tasks() == [], "the item's labels are all in"
    await loop.flag("an-ada", task_id, "it stayed with me")

    events = await asyncio.to_thread(
        kit.wellness_events.read, "an-ada", until=EventType.WELLNESS_ITEM_FLAGGED
    )
    [flagged] = [e for e in events if e.type == EventType.WELLNESS_ITEM_FLAGGED]
    assert flagged.data["task_id"] == task_id
    assert flagged.data["crisis"] is True
