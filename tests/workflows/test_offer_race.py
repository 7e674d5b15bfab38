"""An offer shown in the live view just after a break's (or `SetAvailability(false)`'s) withdrawal
read it is withdrawn all the same, by the escalation that made it.

The roster reserves the specialist while they are still free; a gate holds the escalation's
live-view write of that offer until the specialist has gone on a break (or marked themselves
unavailable) and the withdrawal has read the live view and found nothing. Once the gate opens the
offer reaches the live view: the escalation must take it back at once, not let it wait out
`accept_within`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.offers import MARKED_UNAVAILABLE, ON_A_BREAK, withdraw_offers
from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import (
    GRIEF,
    Scene,
    eventually,
    roster_view,
    set_available,
    take_a_break,
    unavailable,
)
from warmline.escalation import EscalationView, Offer, OfferStatus
from warmline.events import EventType
from warmline.liveview import LiveView

GATE_WAIT_S = 20.0
"""Longest the gated write waits for the test (a failed test must not hang)."""
PAIR = ("vol-aoife", "vol-marcus")
"""The two specialists left available: the first offer goes to one, the next to the other."""


@dataclass
class ShownLate:
    """Holds the live-view write of the first view with an open offer until the test opens it."""

    offered: list[Offer] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def hold(self, view: EscalationView) -> None:
        """Called in the activity's thread, before the view is applied."""
        if self.held.is_set():
            return
        offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
        if not offers:
            return
        self.offered += offers
        self.held.set()
        self.opened.wait(GATE_WAIT_S)

    async def reached(self) -> Offer:
        """Wait (real time) for the held write; the offer it shows."""
        if not await asyncio.to_thread(self.held.wait, GATE_WAIT_S):
            raise AssertionError("the escalation never wrote an offer to the live view")
        [offer] = self.offered
        return offer


@pytest.fixture
def shown_late(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShownLate]:
    gate = ShownLate()
    apply = LiveView.apply

    def held_apply(live_view: LiveView, view: EscalationView) -> bool:
        gate.hold(view)
        return apply(live_view, view)

    monkeypatch.setattr(LiveView, "apply", held_apply)
    yield gate
    gate.opened.set()


async def on_a_break(env: WorkflowEnvironment, deployment: RoutedDeployment, who: str) -> str:
    """`who` takes a break now: the wellness sync writes the view, then withdraws what the live
    view shows them. Returns once it has."""
    await take_a_break(env, deployment, who)
    return ON_A_BREAK


async def marked_unavailable(
    env: WorkflowEnvironment, deployment: RoutedDeployment, who: str
) -> str:
    """`who` calls `SetAvailability(false)`: the roster first, then the withdrawal of what the
    live view shows them (as the specialist service does)."""
    await set_available(env, deployment, who, False)
    withdrawn = await withdraw_offers(env.client, deployment.live_view, who, MARKED_UNAVAILABLE)
    assert withdrawn == []  # the live view did not show the offer yet
    return MARKED_UNAVAILABLE


Leaving = Callable[[WorkflowEnvironment, RoutedDeployment, str], Awaitable[str]]


@pytest.mark.parametrize("leave", [on_a_break, marked_unavailable], ids=["break", "unavailable"])
async def test_an_offer_shown_after_the_withdrawal_read_the_live_view_is_withdrawn(
    workflow_env: WorkflowEnvironment,
    shown_late: ShownLate,
    routed: RoutedDeployment,
    event_log: EventLog,
    leave: Leaving,
) -> None:
    await unavailable(workflow_env, routed, "staff-ren", "staff-nia", "staff-luis")
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    first = await shown_late.reached()
    away = first.specialist_id
    assert away in PAIR
    other = next(p for p in PAIR if p != away)

    reason = await leave(workflow_env, routed, away)
    assert routed.live_view.offers_for(away) == []
    shown_late.opened.set()

    async def moved_on() -> Offer | None:
        view = await scene.escalation_view()
        offers = {o.offer_id: o for o in view.offers}
        if offers[first.offer_id].status is not OfferStatus.WITHDRAWN:
            return None
        fresh = [o for o in view.offers if o.status is OfferStatus.OPEN]
        return fresh[0] if fresh else None

    # Real time only: the first offer would expire minutes from now, when time is skipped.
    second = await eventually(
        moved_on, "the offer shown late withdrawn, the next one made", polls=60
    )
    assert second.specialist_id == other
    assert routed.live_view.offers_for(away) == []
    assert [o.offer_id for o in routed.live_view.offers_for(other)] == [second.offer_id]
    roster = await roster_view(workflow_env, routed)
    assert first.offer_id not in {r.offer_id for r in roster.reservations}
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    withdrawn = next(e for e in events if e.type == EventType.OFFER_WITHDRAWN)
    assert (withdrawn.data["offer_id"], withdrawn.data["reason"]) == (first.offer_id, reason)
    assert EventType.OFFER_EXPIRED not in {e.type for e in events}
    view = await scene.escalation_view()
    assert view.sla_breaches == 0
