"""Every offer that closes is published once, also when the customer leaves as it closes.

An offer that is declined, expires or is taken back is released on the roster before its event
goes out; a customer who leaves while that release runs cancels the escalation right there. The
gate of `test_escalation_cleanup` holds the release open until the close is in, so the moment is
the same on every run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene
from tests.workflows.test_escalation_cleanup import (
    Gate,
    cancelled,
    gates,
    left_while_gated,
    nothing_held_for,
)
from warmline.escalation import DeclineRequest, Offer, OfferStatus
from warmline.events import DomainEvent, EventType
from workflows.escalation import EscalationWorkflow

__all__ = ["gates"]  # the fixture, used by name


async def closing_events(
    scene: Scene, event_log: EventLog, offer: Offer
) -> list[tuple[str, str | None]]:
    """The closing events (type and reason) published for `offer`, read once the conversation
    has closed: its escalation has ended, and published all it ever will, by then."""
    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    closing = {EventType.OFFER_DECLINED, EventType.OFFER_EXPIRED, EventType.OFFER_WITHDRAWN}
    return [
        (e.type, _reason(e))
        for e in events
        if e.type in closing and e.data["offer_id"] == offer.offer_id
    ]


def _reason(event: DomainEvent) -> str | None:
    reason = event.data.get("reason")
    return None if reason is None else str(reason)


async def test_a_decline_released_as_the_customer_leaves_is_published(
    gates: dict[str, Gate],
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
) -> None:
    gate = gates.setdefault("release", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    await scene.escalation().execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id, reason="busy"),
    )
    closed = await left_while_gated(scene, gate)
    assert closed.closed_reason == "customer_left"
    await cancelled(scene)
    view = await scene.escalation_view()
    assert [o.status for o in view.offers if o.offer_id == offer.offer_id] == [OfferStatus.DECLINED]
    assert await closing_events(scene, event_log, offer) == [(EventType.OFFER_DECLINED, "busy")]
    await nothing_held_for(scene, routed)


async def test_an_expiry_released_as_the_customer_leaves_is_published(
    gates: dict[str, Gate],
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
) -> None:
    gate = gates.setdefault("release", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    # `listening` offers stay open 3 minutes: skip past it, so the offer expires.
    await workflow_env.sleep(timedelta(minutes=3, seconds=1))
    closed = await left_while_gated(scene, gate)
    assert closed.closed_reason == "customer_left"
    await cancelled(scene)
    view = await scene.escalation_view()
    assert [o.status for o in view.offers if o.offer_id == offer.offer_id] == [OfferStatus.EXPIRED]
    assert await closing_events(scene, event_log, offer) == [(EventType.OFFER_EXPIRED, None)]
    await nothing_held_for(scene, routed)
