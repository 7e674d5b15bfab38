"""The roster's own availability stops new offers only: an offer already open, and already
rechecked by its escalation, stays open and can still be accepted. Taking open offers back is the
work of the specialist service's `SetAvailability` and of the escalation's recheck
(docs/conversation.md, routing), tested in test_escalation.py and test_offer_race.py."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene, roster_view, set_available
from warmline.escalation import OfferStatus


async def test_an_offer_open_when_its_specialist_goes_unavailable_stays_open_and_can_be_accepted(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    await scene.rechecked()
    await set_available(workflow_env, routed, offer.specialist_id, False)

    view = await scene.escalation_view()
    assert [o.status for o in view.offers if o.offer_id == offer.offer_id] == [OfferStatus.OPEN]
    away = next(
        m
        for m in (await roster_view(workflow_env, routed)).members
        if m.member.id == offer.specialist_id
    )
    assert (away.state.available, away.reserved) == (False, 1)

    await scene.accept(offer)
    await scene.owned_by(offer.specialist_id)
