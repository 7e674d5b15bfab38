"""A live-view write carries only what the live view keeps: the open offers.

The live view stores nothing of a closed offer, yet every `sync_live_view` input carried the whole
`view`, every offer made so far in the run: a paged crisis nobody accepts makes three offers every
20 s, so each write grew by three offers a round and the history with the square of the time.
Here such a crisis runs until it has made `OFFERS` offers; each write must be about as big as the
first, and the `view` query must still show every offer.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_escalation import CRISIS, Scene, eventually
from warmline.conversation import CloseRequest
from warmline.escalation import EscalationStatus, EscalationView, OfferStatus
from workflows.conversation import ConversationWorkflow

OFFERS = 60
"""Offers to see made (twenty rounds of the lane's three) before the writes are measured."""
SLACK = 1024
"""How much bigger than the first write a later one may be, in bytes: the page's fields and
longer offer numbers, not the roughly 450 bytes each closed offer added."""
SYNC_LIVE_VIEW = "sync_live_view"


def live_view_writes(history: WorkflowHistory) -> list[bytes]:
    """The input of each of the escalation's live-view writes, in order."""
    return [
        e.activity_task_scheduled_event_attributes.input.payloads[0].data
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == SYNC_LIVE_VIEW
    ]


async def test_a_long_paged_crisis_writes_the_live_view_without_its_closed_offers(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    await scene.open_offers(count=3)

    async def made_enough() -> EscalationView | None:
        view = await scene.escalation_view()
        return view if len(view.offers) >= OFFERS and view.paged_at is not None else None

    view = await eventually(
        made_enough,
        f"{OFFERS} offers",
        skipping=workflow_env,
        step=timedelta(seconds=10),
        polls=400,
    )
    # The query still shows every offer of the run, closed ones included.
    assert sum(o.status is OfferStatus.EXPIRED for o in view.offers) >= OFFERS - 3

    # The supervisors' paged list reads the stored view: paged, offered to the open offers' holders.
    [listed] = [
        v
        for v in routed.live_view.waiting("open-door", view.queue)
        if v.escalation_id == view.escalation_id
    ]
    assert listed.paged_supervisor == "sup-night"
    assert listed.paged_at == view.paged_at
    assert all(o.status is OfferStatus.OPEN for o in listed.offers)

    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await scene.handle.result()
    outcome = await scene.escalation().result()
    assert outcome.status is EscalationStatus.CANCELLED

    writes = live_view_writes(await scene.escalation().fetch_history())
    assert len(writes) > OFFERS // 3
    carried: list[dict[str, Any]] = [json.loads(w) for w in writes]
    closed = [
        (n, o["offer_id"], o["status"])
        for n, write in enumerate(carried)
        for o in write["offers"]
        if o["status"] != OfferStatus.OPEN.value
    ]
    assert closed == [], f"writes carry closed offers: {closed[:5]} ..."
    sizes = [len(w) for w in writes]
    assert max(sizes) <= sizes[0] + SLACK, f"first write {sizes[0]} bytes, largest {max(sizes)}"
