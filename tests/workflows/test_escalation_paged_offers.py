"""Once a supervisor is paged, offers go on to everyone again at once.

Everyone offered the conversation before the page let their offer expire (or declined it), so the
routing had kept them out; the page is where that ends. A crisis paged at the lane's deadline, or
a grief paged at the end of its chain, must reach the team again with the page, not a whole
`accept_within` later with nobody offered it meanwhile.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_escalation import CRISIS, GRIEF, Scene, eventually, unavailable
from warmline.escalation import EscalationView, Offer

PROMPTLY = timedelta(seconds=10)
"""Generous for the roster's answer after the page; the lane's `accept_within` is 20 s."""


async def offered_after_the_page(scene: Scene) -> tuple[EscalationView, list[Offer]]:
    """The escalation's view once it has paged and made an offer since, skipping time meanwhile,
    and the offers made since the page."""

    async def probe() -> tuple[EscalationView, list[Offer]] | None:
        view = await scene.escalation_view()
        paged_at = view.paged_at
        if paged_at is None:
            return None
        since = [o for o in view.offers if o.created_at >= paged_at]
        return (view, since) if since else None

    return await eventually(
        probe, "an offer after the page", skipping=scene.env, step=timedelta(seconds=2)
    )


async def test_a_paged_crisis_is_offered_to_the_lane_again_with_the_page(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    first = await scene.open_offers(count=3)
    view, again = await offered_after_the_page(scene)
    assert view.paged_supervisor == "sup-night"
    assert view.referrals_sent
    assert view.paged_at is not None
    assert {o.specialist_id for o in again} == {o.specialist_id for o in first}
    assert max(o.created_at for o in again) - view.paged_at < PROMPTLY


async def test_a_grief_paged_at_the_end_of_its_chain_is_offered_again_with_the_page(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    # Staff-ren alone is there: offered `listening`, they let it expire; nobody is left for
    # `listening-priority` and `crisis`, whose supervisor is paged.
    await unavailable(workflow_env, routed, "vol-aoife", "vol-marcus", "staff-nia", "staff-luis")
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [first] = await scene.open_offers()
    assert (first.specialist_id, first.queue) == ("staff-ren", "listening")
    view, [again] = await offered_after_the_page(scene)
    assert (view.paged_supervisor, view.queue) == ("sup-night", "crisis")
    assert view.paged_at is not None
    assert (again.specialist_id, again.queue) == ("staff-ren", "crisis")
    assert again.created_at - view.paged_at < PROMPTLY
