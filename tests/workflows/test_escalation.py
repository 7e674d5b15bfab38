"""Escalation, offers and the warm handoff on the time-skipping server, with real Kafka and Redis.

The deployment is the peer-support example: `listening` (chain → listening-priority → crisis),
and a crisis lane with a 20 s deadline that offers to the strategy's first crisis-trained choice
alone for 8 s (`widen_after`), then to three at once; tests of the all-at-once lane set
`widen_after` to 0.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.workflow import UpdateMethodMultiParam

from tests.workflows.conftest import (
    PEER_SUPPORT,
    EventLog,
    RoutedDeployment,
    lone_grief_escalation,
)
from warmline.config.loader import load_config
from warmline.conversation import (
    AIReply,
    CloseRequest,
    CompleteRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    HandBackRequest,
    SatisfactionRating,
    SpecialistAction,
    SpecialistReply,
    Status,
    TransferRequest,
    TriageCorrection,
    workflow_id,
)
from warmline.escalation import (
    AcceptRequest,
    AssignRequest,
    DeclineRequest,
    EscalationOutcome,
    EscalationStatus,
    EscalationView,
    Offer,
    OfferStatus,
    WithdrawRequest,
    escalation_workflow_id,
)
from warmline.events import EventType
from warmline.roster import AssignToRequest, AvailabilityRequest, RosterView
from warmline.routing import RoutingRequest, admission_named, candidates, strategy_named
from warmline.runtime import roster_settings, wellness_policy
from warmline.triage.types import Role
from warmline.wellness.client import WellnessClient
from warmline.wellness.types import BreakRequest
from warmline.wellness.view import WorkerWellness
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

T = TypeVar("T")


Conversation = WorkflowHandle[ConversationWorkflow, ConversationOutcome]
GRIEF = "My husband passed away yesterday and I don't know what to do"
CRISIS = "I want to end it all, nobody would miss me"


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    *,
    skipping: WorkflowEnvironment | None = None,
    step: timedelta = timedelta(seconds=1),
    polls: int = 150,
) -> T:
    """Poll `probe` until it returns something; with `skipping`, each poll also skips `step`.

    Time is skipped in small steps: one long skip of the test server is fragile under load.
    """
    for _ in range(polls):
        found = await probe()
        if found is not None:
            return found
        if skipping is not None:
            await skipping.sleep(step)
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Scene:
    """One conversation of the peer-support deployment and the helpers to act on it."""

    def __init__(self, env: WorkflowEnvironment, deployment: RoutedDeployment) -> None:
        self.env = env
        self.deployment = deployment
        self.conversation = f"conv-{uuid.uuid4().hex[:8]}"
        self.handle: Conversation

    async def start(
        self, *, survey: bool = False, country: str = "GB", widen_after: timedelta | None = None
    ) -> Scene:
        policy = self.deployment.policy.model_copy(update={"satisfaction_survey": survey})
        if widen_after is not None:
            routing = policy.routing
            assert routing is not None
            lane = routing.crisis.model_copy(update={"widen_after": widen_after})
            policy = policy.model_copy(
                update={"routing": routing.model_copy(update={"crisis": lane})}
            )
        self.handle = await self.env.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id="open-door",
                conversation_id=self.conversation,
                country=country,
                policy=policy,
            ),
            id=workflow_id("open-door", self.conversation),
            task_queue=self.deployment.task_queue,
        )
        self.deployment.started += [
            self.handle.id,
            *(escalation_workflow_id("open-door", self.conversation, n) for n in (1, 2, 3)),
        ]
        return self

    async def say(self, text: str, message_id: str | None = None) -> None:
        message = CustomerMessage(message_id=message_id or uuid.uuid4().hex[:6], text=text)
        await self.handle.execute_update(ConversationWorkflow.add_message, message)

    def escalation(
        self, sequence: int = 1
    ) -> WorkflowHandle[EscalationWorkflow, EscalationOutcome]:
        return self.env.client.get_workflow_handle_for(
            EscalationWorkflow.run,
            escalation_workflow_id("open-door", self.conversation, sequence),
        )

    async def escalation_view(self, sequence: int = 1) -> EscalationView:
        return await self.escalation(sequence).query(EscalationWorkflow.view)

    async def open_offers(
        self, count: int = 1, sequence: int = 1, *, skip_time: bool = False
    ) -> list[Offer]:
        async def probe() -> list[Offer] | None:
            try:
                view = await self.escalation_view(sequence)
            except Exception:  # noqa: BLE001 - the child may not have started yet
                return None
            offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
            return offers if len(offers) >= count else None

        skipping = self.env if skip_time else None
        return await eventually(probe, f"{count} open offer(s)", skipping=skipping)

    async def rechecked(self, sequence: int = 1) -> None:
        """Wait until the escalation has read its offers' specialists again once the live view
        showed them (`recheck_offers` completed): a roster change made after this is not seen
        by that read, so it cannot race it."""

        async def probe() -> bool | None:
            history = await self.escalation(sequence).fetch_history()
            rechecks = {
                e.event_id
                for e in history.events
                if e.HasField("activity_task_scheduled_event_attributes")
                and e.activity_task_scheduled_event_attributes.activity_type.name
                == "recheck_offers"
            }
            done = any(
                e.activity_task_completed_event_attributes.scheduled_event_id in rechecks
                for e in history.events
                if e.HasField("activity_task_completed_event_attributes")
            )
            return True if done else None

        await eventually(probe, "the offers rechecked")

    async def acted_on(self, activity: str, sequence: int = 1) -> None:
        """Wait until one of the escalation's `activity` calls completed and a workflow task after
        it did too: what the escalation made of the answer is then in its view. Checks that
        something did not happen wait for this rather than for a fixed time."""

        async def probe() -> bool | None:
            try:
                events = (await self.escalation(sequence).fetch_history()).events
            except RPCError:
                return None  # not started yet
            calls = {
                e.event_id
                for e in events
                if e.HasField("activity_task_scheduled_event_attributes")
                and e.activity_task_scheduled_event_attributes.activity_type.name == activity
            }
            answered = [
                e.event_id
                for e in events
                if e.HasField("activity_task_completed_event_attributes")
                and e.activity_task_completed_event_attributes.scheduled_event_id in calls
            ]
            acted = answered and any(
                e.event_id > answered[0] and e.HasField("workflow_task_completed_event_attributes")
                for e in events
            )
            return True if acted else None

        await eventually(probe, f"the escalation's {activity} answered")

    async def accept(self, offer: Offer, sequence: int = 1) -> None:
        await self.escalation(sequence).execute_update(
            EscalationWorkflow.accept,
            AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
        )

    async def handed_off(self, text: str, message_id: str | None = None) -> Offer:
        """The customer writes `text`, the first offer is accepted and the handoff is done;
        returns the accepted offer."""
        await self.say(text, message_id)
        [offer] = await self.open_offers()
        await self.accept(offer)
        await self.owned_by(offer.specialist_id)
        return offer

    async def owned_by(self, specialist: str) -> None:
        async def probe() -> bool | None:
            view = await self.handle.query(ConversationWorkflow.view)
            return True if view.owner == specialist and view.handoff is not None else None

        await eventually(probe, f"handoff to {specialist}")


def rejection(caught: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type or "", cause.message


async def set_available(
    env: WorkflowEnvironment, deployment: RoutedDeployment, specialist: str, available: bool
) -> None:
    assert deployment.policy.routing is not None
    roster = env.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )
    await roster.execute_update(
        RosterWorkflow.set_availability,
        AvailabilityRequest(specialist_id=specialist, available=available),
    )


async def take_a_break(env: WorkflowEnvironment, deployment: RoutedDeployment, who: str) -> None:
    """`who` says "I need a break now" through their wellness workflow (started if need be, and
    terminated after the test); returns once the break is in their Redis view and the offers the
    live view showed them are withdrawn."""
    wellness = WellnessClient(
        env.client,
        deployment="test",
        policy=wellness_policy(load_config(PEER_SUPPORT, resolve_secrets=False)),
        task_queue=deployment.task_queue,
    )
    await wellness.ensure(who)
    deployment.started.append(wellness.workflow_id(who))
    await wellness.handle(who).execute_update(WellnessWorkflow.break_now, BreakRequest())


async def unavailable(
    env: WorkflowEnvironment, deployment: RoutedDeployment, *specialists: str
) -> None:
    """Mark each of `specialists` unavailable on the deployment's roster."""
    for specialist in specialists:
        await set_available(env, deployment, specialist, False)


async def test_grief_is_offered_accepted_handed_off_and_completed(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say("Hi, I need some help with something")
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    assert offer.queue == "listening"
    assert routed.live_view.offers_for(offer.specialist_id)[0].offer_id == offer.offer_id

    await scene.accept(offer)
    await scene.owned_by(offer.specialist_id)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.HANDOFF
    assert view.handoff is not None
    assert "The person is talking about a loss." in view.handoff.rendered
    assert GRIEF in view.handoff.rendered
    assert not view.handoff.requires_acknowledgement

    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.handle.execute_update(
            ConversationWorkflow.record_reply, AIReply(message_id="ai1", text="I can help!")
        )
    assert "the AI no longer replies" in str(caught.value.cause)
    await scene.handle.execute_update(
        ConversationWorkflow.specialist_reply,
        SpecialistReply(specialist_id=offer.specialist_id, message_id="s1", text="I'm here."),
    )
    await scene.handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    outcome = await scene.handle.result()
    assert outcome.handoff_outcome == "resolved"
    assert outcome.handled_by == [offer.specialist_id]
    assert routed.live_view.offers_for(offer.specialist_id) == []

    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    types = [e.type for e in events]
    assert types.index(EventType.CONVERSATION_ESCALATED) < types.index(EventType.OFFER_CREATED)
    assert types.index(EventType.OFFER_CREATED) < types.index(EventType.HANDOFF_ACCEPTED)
    assert types.index(EventType.HANDOFF_ACCEPTED) < types.index(EventType.HANDOFF_COMPLETED)
    escalated = next(e for e in events if e.type == EventType.CONVERSATION_ESCALATED)
    assert {"queue", "reason", "priority"} <= escalated.data.keys()
    accepted = next(e for e in events if e.type == EventType.HANDOFF_ACCEPTED)
    assert accepted.data["specialist"] == offer.specialist_id
    completed = next(e for e in events if e.type == EventType.HANDOFF_COMPLETED)
    assert completed.data["outcome"] == "resolved"
    assert all(e.subject == scene.conversation for e in events)


async def test_a_decline_goes_to_the_next_candidate(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [first] = await scene.open_offers()
    await scene.escalation().execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(
            offer_id=first.offer_id, specialist_id=first.specialist_id, reason="on a call"
        ),
    )

    async def second_offer() -> Offer | None:
        view = await scene.escalation_view()
        fresh = [o for o in view.offers if o.status is OfferStatus.OPEN]
        return fresh[0] if fresh else None

    second = await eventually(second_offer, "the next offer")
    assert second.specialist_id != first.specialist_id
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.accept(first)
    assert rejection(caught)[0] == "FailedPrecondition"
    declined = await event_log.wait_for(scene.conversation, until=EventType.OFFER_DECLINED)
    event = next(e for e in declined if e.type == EventType.OFFER_DECLINED)
    assert event.data["reason"] == "on a call"


async def test_a_withdrawn_offer_moves_on_at_once_and_is_not_held_against_its_specialist(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """Someone who leaves the desk has their open offer taken back: the next person is offered
    the conversation at once, and once back they may be offered it again (a decline would have
    kept them from it)."""
    await unavailable(workflow_env, routed, "staff-ren", "staff-nia", "staff-luis")
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [first] = await scene.open_offers()
    left = first.specialist_id
    other = "vol-marcus" if left == "vol-aoife" else "vol-aoife"
    await scene.rechecked()  # else its recheck may withdraw the offer before the test does
    await set_available(workflow_env, routed, left, False)
    withdraw = WithdrawRequest(
        offer_id=first.offer_id, specialist_id=left, reason="marked unavailable"
    )
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(
            EscalationWorkflow.withdraw, withdraw.model_copy(update={"specialist_id": other})
        )
    assert rejection(caught)[0] == "PermissionDenied"

    await scene.escalation().execute_update(EscalationWorkflow.withdraw, withdraw)

    [second] = await scene.open_offers()
    assert second.specialist_id == other
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(EscalationWorkflow.withdraw, withdraw)
    assert rejection(caught) == (
        "FailedPrecondition",
        "the offer is no longer open (it was withdrawn)",
    )
    roster = await roster_view(workflow_env, routed)
    assert first.offer_id not in {r.offer_id for r in roster.reservations}
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    withdrawn = next(e for e in events if e.type == EventType.OFFER_WITHDRAWN)
    assert withdrawn.data["offer_id"] == first.offer_id
    assert withdrawn.data["reason"] == "marked unavailable"
    assert EventType.OFFER_DECLINED not in {e.type for e in events}

    await set_available(workflow_env, routed, left, True)
    await scene.escalation().execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(offer_id=second.offer_id, specialist_id=other, reason="on a call"),
    )
    [third] = await scene.open_offers()
    assert third.specialist_id == left


async def test_a_withdrawal_with_nobody_else_gives_the_queue_no_more_time(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    """With nobody else to offer it to, the queue moves along its chain when the withdrawn offer
    would have expired (as it would have without the withdrawal), not `accept_within` after."""
    await unavailable(workflow_env, routed, "vol-aoife", "staff-ren", "staff-nia", "staff-luis")
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    assert offer.queue == "listening"  # accept_within 3m

    async def skip_until(moment: datetime, step: timedelta) -> None:
        while await workflow_env.get_current_time() < moment:
            await workflow_env.sleep(step)
            await asyncio.sleep(0.05)

    await skip_until(offer.created_at + timedelta(minutes=2), timedelta(seconds=10))
    await set_available(workflow_env, routed, offer.specialist_id, False)
    await scene.escalation().execute_update(
        EscalationWorkflow.withdraw,
        WithdrawRequest(
            offer_id=offer.offer_id, specialist_id=offer.specialist_id, reason="on a break"
        ),
    )
    await skip_until(offer.expires_at + timedelta(seconds=5), timedelta(seconds=5))

    view = await scene.escalation_view()
    assert (view.reroutes, view.queue) == (1, "listening-priority")


async def test_a_break_takes_back_the_offer_open_to_the_specialist(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """The wellness workflow's sync withdraws the offers of a specialist who goes on a break,
    once the roster reads the break and so makes them no new ones."""
    await unavailable(workflow_env, routed, "staff-ren", "staff-nia", "staff-luis")
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [first] = await scene.open_offers()
    resting = first.specialist_id

    await take_a_break(workflow_env, routed, resting)

    [second] = await scene.open_offers()
    assert second.specialist_id != resting
    assert routed.live_view.offers_for(resting) == []
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    withdrawn = next(e for e in events if e.type == EventType.OFFER_WITHDRAWN)
    assert (withdrawn.data["offer_id"], withdrawn.data["reason"]) == (first.offer_id, "on a break")


async def test_an_expired_offer_breaches_the_sla_and_moves_along_the_chain(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()

    async def rerouted() -> EscalationView | None:
        view = await scene.escalation_view()
        return view if view.queue == "listening-priority" else None

    view = await eventually(
        rerouted, "the reroute", skipping=workflow_env, step=timedelta(seconds=10)
    )
    assert view.sla_breaches == 1
    assert next(o for o in view.offers if o.offer_id == offer.offer_id).status == (
        OfferStatus.EXPIRED
    )
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.accept(offer)
    kind, message = rejection(caught)
    assert kind == "FailedPrecondition"
    assert "expired" in message
    events = await event_log.wait_for(scene.conversation, until=EventType.ESCALATION_REROUTED)
    reroute = next(e for e in events if e.type == EventType.ESCALATION_REROUTED)
    assert reroute.data == {
        "from_queue": "listening",
        "to_queue": "listening-priority",
        "reason": "sla_missed",
    }
    assert any(e.type == EventType.OFFER_EXPIRED for e in events)


async def test_a_crisis_is_offered_to_three_at_once_and_the_first_accept_wins(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    offers = await scene.open_offers(count=3)
    assert {o.specialist_id for o in offers} == {"staff-ren", "staff-nia", "staff-luis"}
    assert all(o.crisis and o.queue == "crisis" for o in offers)
    winner, loser = offers[0], offers[1]
    await scene.accept(winner)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.accept(loser)
    assert rejection(caught) == ("FailedPrecondition", "the conversation was already accepted")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(
            EscalationWorkflow.accept,
            AcceptRequest(offer_id=loser.offer_id, specialist_id=winner.specialist_id),
        )
    assert rejection(caught)[0] == "PermissionDenied"

    await scene.owned_by(winner.specialist_id)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.handoff is not None
    assert view.handoff.requires_acknowledgement
    assert "Samaritans" in view.handoff.rendered
    reply = SpecialistReply(specialist_id=winner.specialist_id, message_id="s1", text="Hi.")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.handle.execute_update(ConversationWorkflow.specialist_reply, reply)
    kind, message = rejection(caught)
    assert kind == "FailedPrecondition"
    assert "acknowledge the risk flags" in message
    await scene.handle.execute_update(
        ConversationWorkflow.acknowledge_risk,
        SpecialistAction(specialist_id=winner.specialist_id),
    )
    await scene.handle.execute_update(ConversationWorkflow.specialist_reply, reply)

    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    withdrawn = {e.data["specialist"] for e in events if e.type == EventType.OFFER_WITHDRAWN}
    assert withdrawn == {o.specialist_id for o in offers} - {winner.specialist_id}
    assert scene.conversation in [
        c
        for m in (await roster_view(workflow_env, routed)).members
        if m.member.id == winner.specialist_id
        for c in m.state.conversations
    ]


async def roster_view(env: WorkflowEnvironment, deployment: RoutedDeployment) -> RosterView:
    assert deployment.policy.routing is not None
    roster = env.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )
    return await roster.query(RosterWorkflow.view)


async def test_an_unanswered_crisis_pages_the_supervisor_and_sends_referrals(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start(country="US", widen_after=timedelta(0))
    await scene.say(CRISIS)
    await scene.open_offers(count=3)

    async def referred() -> bool | None:
        return (await scene.escalation_view()).referrals_sent or None

    await eventually(referred, "the referrals", skipping=workflow_env)
    events = await event_log.wait_for(scene.conversation, until=EventType.REFERRALS_SENT)
    paged = next(e for e in events if e.type == EventType.SUPERVISOR_PAGED)
    assert paged.data["supervisor"] == "sup-night"
    referrals = next(e for e in events if e.type == EventType.REFERRALS_SENT)
    assert [r["name"] for r in referrals.data["referrals"]] == ["988 Suicide & Crisis Lifeline"]
    assert sum(e.type == EventType.OFFER_EXPIRED for e in events) == 3
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.turns[-1].role == Role.SYSTEM
    assert "988" in view.turns[-1].text
    # The lane keeps looking: fresh offers go out after the page.
    offers = await scene.open_offers(count=1, skip_time=True)
    assert all(o.crisis for o in offers)


WIDEN = timedelta(seconds=8)
"""The peer-support example's `widen_after`."""


async def crisis_ranking(env: WorkflowEnvironment, deployment: RoutedDeployment) -> list[str]:
    """The crisis-trained specialists in the order the roster's strategy ranks them now."""
    members = (await roster_view(env, deployment)).members
    strategy = roster_settings(load_config(PEER_SUPPORT, resolve_secrets=False)).strategy
    request = RoutingRequest(skills=frozenset({"crisis"}), crisis=True, intense=True)
    ranked = candidates(
        request,
        [m.routing_state for m in members],
        strategy_named(strategy),
        admits=admission_named(strategy),
    )
    return [s.id for s in ranked]


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Skip time in one-second steps (one long skip is fragile under load) up to `moment`."""
    while await env.get_current_time() < moment:
        await env.sleep(timedelta(seconds=1))
        await asyncio.sleep(0.05)


def opened(view: EscalationView) -> list[Offer]:
    return [o for o in view.offers if o.status is OfferStatus.OPEN]


async def test_a_staggered_crisis_is_offered_to_the_first_choice_then_widens(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    assert routed.policy.routing is not None
    assert routed.policy.routing.crisis.widen_after == WIDEN
    ranking = await crisis_ranking(workflow_env, routed)
    assert len(ranking) == 3
    scene = await Scene(workflow_env, routed).start()
    await scene.say(CRISIS)
    [first] = await scene.open_offers()
    assert first.specialist_id == ranking[0]
    entered = (await scene.escalation_view()).entered_queue_at
    assert first.expires_at == entered + timedelta(seconds=20)

    await skip_to(workflow_env, entered + WIDEN - timedelta(seconds=2))
    view = await scene.escalation_view()
    assert await workflow_env.get_current_time() < entered + WIDEN
    assert [o.offer_id for o in opened(view)] == [first.offer_id]
    assert len(view.offers) == 1

    offers = await scene.open_offers(count=3, skip_time=True)
    assert {o.specialist_id for o in offers} == set(ranking)
    assert first.offer_id in {o.offer_id for o in offers}
    assert all(o.expires_at == first.expires_at for o in offers)
    assert all(o.created_at >= entered + WIDEN for o in offers if o.offer_id != first.offer_id)
    assert await workflow_env.get_current_time() < first.expires_at

    await scene.accept(first)
    await scene.owned_by(first.specialist_id)
    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_ACCEPTED)
    created = [e.data["specialist"] for e in events if e.type == EventType.OFFER_CREATED]
    assert created[0] == first.specialist_id
    assert sorted(created) == sorted(ranking)
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    withdrawn = {e.data["specialist"] for e in events if e.type == EventType.OFFER_WITHDRAWN}
    assert withdrawn == set(ranking) - {first.specialist_id}
    assert not any(e.type == EventType.SUPERVISOR_PAGED for e in events)


async def test_an_accept_before_the_widening_makes_no_further_offers(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(CRISIS)
    [first] = await scene.open_offers()
    entered = (await scene.escalation_view()).entered_queue_at
    await skip_to(workflow_env, entered + timedelta(seconds=3))
    await scene.accept(first)
    await scene.owned_by(first.specialist_id)
    await skip_to(workflow_env, entered + WIDEN + timedelta(seconds=2))
    view = await scene.escalation_view()
    assert [(o.offer_id, o.status) for o in view.offers] == [(first.offer_id, OfferStatus.ACCEPTED)]
    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_ACCEPTED)
    assert [e.data["specialist"] for e in events if e.type == EventType.OFFER_CREATED] == [
        first.specialist_id
    ]


async def test_a_decline_before_the_widening_goes_to_the_next_ranked_alone(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    ranking = await crisis_ranking(workflow_env, routed)
    scene = await Scene(workflow_env, routed).start()
    await scene.say(CRISIS)
    [first] = await scene.open_offers()
    assert first.specialist_id == ranking[0]
    entered = (await scene.escalation_view()).entered_queue_at
    await scene.escalation().execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(offer_id=first.offer_id, specialist_id=first.specialist_id, reason="busy"),
    )

    async def next_offer() -> list[Offer] | None:
        offers = opened(await scene.escalation_view())
        return offers or None

    [second] = await eventually(next_offer, "the next-ranked offer")
    assert second.specialist_id == ranking[1]
    await skip_to(workflow_env, entered + WIDEN - timedelta(seconds=2))
    assert [o.offer_id for o in opened(await scene.escalation_view())] == [second.offer_id]

    # The widening tops up to offer_to among those who have not declined.
    await skip_to(workflow_env, entered + WIDEN + timedelta(seconds=1))

    async def widened() -> list[Offer] | None:
        offers = opened(await scene.escalation_view())
        return offers if len(offers) == 2 else None

    offers = await eventually(widened, "the widened offers")
    assert {o.specialist_id for o in offers} == set(ranking[1:])
    assert second.offer_id in {o.offer_id for o in offers}


async def test_nobody_available_moves_along_the_chain_then_pages(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    await unavailable(
        workflow_env, routed, "vol-aoife", "vol-marcus", "staff-ren", "staff-nia", "staff-luis"
    )
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)

    async def paged() -> str | None:
        return (await scene.escalation_view()).paged_supervisor

    page = await eventually(paged, "the page", skipping=workflow_env, step=timedelta(seconds=10))
    assert page == "sup-night"
    events = await event_log.wait_for(scene.conversation, until=EventType.SUPERVISOR_PAGED)
    reroutes = [
        (e.data["from_queue"], e.data["to_queue"])
        for e in events
        if e.type == EventType.ESCALATION_REROUTED
    ]
    assert reroutes == [("listening", "listening-priority"), ("listening-priority", "crisis")]
    paged_event = next(e for e in events if e.type == EventType.SUPERVISOR_PAGED)
    assert paged_event.data["supervisor"] == "sup-night"
    assert not any(e.type == EventType.OFFER_CREATED for e in events)

    await set_available(workflow_env, routed, "staff-nia", True)
    [offer] = await scene.open_offers(skip_time=True)
    assert offer.specialist_id == "staff-nia"


async def test_transfer_keeps_the_context_and_hand_back_resumes_the_ai(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start()
    offer = await scene.handed_off(GRIEF, message_id="m1")
    await scene.handle.execute_update(
        ConversationWorkflow.transfer,
        TransferRequest(
            specialist_id=offer.specialist_id, queue="crisis", note="mentions not eating"
        ),
    )
    crisis_offers = await scene.open_offers(sequence=2)
    assert offer.specialist_id not in {o.specialist_id for o in crisis_offers}
    assert all(o.queue == "crisis" and o.crisis for o in crisis_offers)
    second = crisis_offers[0]
    await scene.accept(second, sequence=2)
    await scene.owned_by(second.specialist_id)
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.handoff is not None
    assert GRIEF in view.handoff.rendered
    assert view.escalations == 2

    correction = await scene.handle.execute_update(
        ConversationWorkflow.correct_triage,
        TriageCorrection(specialist_id=second.specialist_id, labels=["grief"], note="not anger"),
    )
    assert correction.message_id == "m1"
    await scene.handle.execute_update(
        ConversationWorkflow.hand_back,
        HandBackRequest(specialist_id=second.specialist_id, note="She is calmer; be gentle."),
    )
    view = await scene.handle.query(ConversationWorkflow.view)
    assert view.status == Status.OPEN
    assert view.owner is None
    assert "be gentle" in view.turns[-1].text
    await scene.handle.execute_update(
        ConversationWorkflow.record_reply, AIReply(message_id="ai1", text="I'm still here.")
    )
    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_RETURNED)
    rerouted = next(e for e in events if e.type == EventType.ESCALATION_REROUTED)
    assert (rerouted.data["from_queue"], rerouted.data["to_queue"]) == ("listening", "crisis")
    corrected = next(e for e in events if e.type == EventType.TRIAGE_CORRECTED)
    assert corrected.data["labels"] == ["grief"]
    assert corrected.data["ai_labels"]


async def test_only_the_owner_may_act_and_bad_requests_are_refused(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(
            EscalationWorkflow.accept,
            AcceptRequest(offer_id=offer.offer_id + "9", specialist_id=offer.specialist_id),
        )
    assert rejection(caught)[0] == "NotFound"
    await scene.accept(offer)
    await scene.owned_by(offer.specialist_id)
    someone_else = "vol-marcus" if offer.specialist_id != "vol-marcus" else "vol-aoife"
    # Each update takes its own request type, so the argument is Any to the handle.
    cases: list[tuple[UpdateMethodMultiParam[[ConversationWorkflow, Any], object], object, str]] = [
        (
            ConversationWorkflow.complete,
            CompleteRequest(specialist_id=someone_else, outcome="resolved"),
            "PermissionDenied",
        ),
        (
            ConversationWorkflow.transfer,
            TransferRequest(specialist_id=offer.specialist_id, queue="nowhere"),
            "InvalidArgument",
        ),
        (
            ConversationWorkflow.correct_triage,
            TriageCorrection(specialist_id=offer.specialist_id, labels=["hangry"]),
            "InvalidArgument",
        ),
        (
            ConversationWorkflow.specialist_reply,
            SpecialistReply(specialist_id=offer.specialist_id, message_id="s", text="  "),
            "InvalidArgument",
        ),
        (
            ConversationWorkflow.rate,
            SatisfactionRating(score=5),
            "FailedPrecondition",
        ),
    ]
    for update, argument, expected in cases:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await scene.handle.execute_update(update, argument)
        assert rejection(caught)[0] == expected, (update, rejection(caught))
    assert (await scene.handle.query(ConversationWorkflow.view)).owner == offer.specialist_id


async def test_the_satisfaction_score_is_recorded_with_the_outcome(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await Scene(workflow_env, routed).start(survey=True)
    offer = await scene.handed_off(GRIEF)
    await scene.handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    assert (await scene.handle.query(ConversationWorkflow.view)).status == Status.SURVEY
    await scene.handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=4))
    outcome = await scene.handle.result()
    assert (outcome.handoff_outcome, outcome.satisfaction) == ("resolved", 4)
    closed = (await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED))[-1]
    assert closed.data["satisfaction"] == 4


async def test_capacity_holds_across_conversations(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    await unavailable(workflow_env, routed, "vol-marcus", "staff-ren", "staff-nia", "staff-luis")
    first = await Scene(workflow_env, routed).start()
    await first.say(GRIEF)
    [offer] = await first.open_offers()
    assert offer.specialist_id == "vol-aoife"
    second = await Scene(workflow_env, routed).start()
    await second.say(GRIEF)
    await second.acted_on("roster_reserve")
    view = await second.escalation_view()
    assert view.offers == [], "vol-aoife has capacity 1 and already holds an offer"
    await first.accept(offer)
    await first.owned_by("vol-aoife")
    await first.handle.execute_update(
        ConversationWorkflow.complete, CompleteRequest(specialist_id="vol-aoife", outcome="ok")
    )
    [freed] = await second.open_offers(skip_time=True)
    assert freed.specialist_id == "vol-aoife"


async def lone_escalation_offered(
    env: WorkflowEnvironment, routed: RoutedDeployment
) -> tuple[WorkflowHandle[EscalationWorkflow, EscalationOutcome], str, Offer]:
    """A grief escalation with no conversation behind it (`lone_grief_escalation`), once its
    first offer is open: the handle, the conversation id and the offer."""
    assert routed.policy.routing is not None
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        EscalationWorkflow.run,
        lone_grief_escalation(routed.policy.routing, conversation),
        id=escalation_workflow_id("open-door", conversation, 1),
        task_queue=routed.task_queue,
    )
    routed.started.append(handle.id)

    async def offer() -> Offer | None:
        view = await handle.query(EscalationWorkflow.view)
        return next((o for o in view.offers if o.status is OfferStatus.OPEN), None)

    return handle, conversation, await eventually(offer, "an offer")


async def test_an_accept_after_the_conversation_ended_frees_the_specialist(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """The customer leaves (the inactivity timeout) in the moment a specialist accepts: the
    conversation can no longer take the assignment, so the escalation must hand the roster slot
    back, or the specialist would look busy for the rest of the shift."""
    handle, conversation, made = await lone_escalation_offered(workflow_env, routed)
    await handle.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=made.offer_id, specialist_id=made.specialist_id),
    )
    outcome = await handle.result()
    assert outcome.status is EscalationStatus.CANCELLED
    assert outcome.accepted_by == made.specialist_id
    member = next(
        m
        for m in (await roster_view(workflow_env, routed)).members
        if m.member.id == made.specialist_id
    )
    assert conversation not in member.state.conversations
    assert member.reserved == 0
    events = await event_log.wait_for(conversation, until=EventType.OFFER_WITHDRAWN)
    assert [e.type for e in events] == [EventType.OFFER_CREATED, EventType.OFFER_WITHDRAWN]
    assert events[-1].data["reason"] == "conversation closed"


async def test_a_customer_who_leaves_takes_the_offers_with_them(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """The customer leaves while the escalation still looks for someone: the conversation calls
    the escalation off before it ends, so no specialist is offered (or holds a reservation for)
    a customer who is gone."""
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    closed = await scene.handle.result()
    assert closed.closed_reason == "customer_left"

    outcome = await scene.escalation().result()
    assert outcome.status is EscalationStatus.CANCELLED
    assert outcome.accepted_by is None
    member = next(
        m
        for m in (await roster_view(workflow_env, routed)).members
        if m.member.id == offer.specialist_id
    )
    assert member.reserved == 0
    events = await event_log.wait_for(scene.conversation, until=EventType.CONVERSATION_CLOSED)
    kinds = [e.type for e in events]
    withdrawn = kinds.index(EventType.OFFER_WITHDRAWN)
    assert withdrawn < kinds.index(EventType.CONVERSATION_CLOSED)
    assert events[withdrawn].data["reason"] == "conversation closed"


async def crisis_nobody_may_take(env: WorkflowEnvironment, deployment: RoutedDeployment) -> Scene:
    """A crisis the wellness filter leaves with nobody: staff-nia is at the consecutive-crisis
    cap, staff-luis on a break, staff-ren's one slot is taken (the volunteers are not
    crisis-trained). The lane offers nothing and, after its deadline, pages sup-night."""
    now = await env.get_current_time()
    deployment.wellness.write(
        WorkerWellness(
            worker_id="staff-nia", consecutive_crisis=3, crisis_blocked=True, updated_at=now
        )
    )
    deployment.wellness.write(
        WorkerWellness(
            worker_id="staff-luis",
            on_break=True,
            break_until=now + timedelta(hours=1),
            updated_at=now,
        )
    )
    assert deployment.policy.routing is not None
    roster = env.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )
    elsewhere = await roster.execute_update(
        RosterWorkflow.assign_to,
        AssignToRequest(
            conversation_id="elsewhere", offer_id="elsewhere/offer/1", specialist_id="staff-ren"
        ),
    )
    assert elsewhere.reservation is not None
    scene = await Scene(env, deployment).start(country="US")
    await scene.say(CRISIS)
    return scene


async def paged(scene: Scene) -> str:
    """The supervisor the escalation of `scene` paged, skipping time until it has."""

    async def probe() -> str | None:
        try:
            return (await scene.escalation_view()).paged_supervisor
        except Exception:  # noqa: BLE001 - the child may not have started yet
            return None

    return await eventually(probe, "the page", skipping=scene.env)


def by_supervisor(specialist: str, reason: str = "") -> AssignRequest:
    return AssignRequest(supervisor_id="sup-night", specialist_id=specialist, reason=reason)


async def test_a_paged_supervisor_assigns_someone_the_wellness_filter_left_out(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await crisis_nobody_may_take(workflow_env, routed)

    async def started() -> EscalationView | None:
        try:
            return await scene.escalation_view()
        except Exception:  # noqa: BLE001 - the child may not have started yet
            return None

    await eventually(started, "the escalation")
    # Not paged yet: the routing is still looking.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(
            EscalationWorkflow.assign, by_supervisor("staff-nia")
        )
    assert rejection(caught) == (
        "FailedPrecondition",
        "the escalation has not paged a supervisor; the routing is still finding someone",
    )

    async def paged() -> str | None:
        return (await scene.escalation_view()).paged_supervisor

    assert await eventually(paged, "the page", skipping=workflow_env) == "sup-night"
    assert not (await scene.escalation_view()).offers

    refusals = {
        "nobody": ("NotFound", "'nobody' is not on the roster"),
        "vol-marcus": ("FailedPrecondition", "vol-marcus lacks the queue's skills: crisis"),
        "staff-luis": (
            "FailedPrecondition",
            "staff-luis is on a break, and a break is never overridden",
        ),
        "staff-ren": ("FailedPrecondition", "staff-ren has no free slot (1 of 1 in use)"),
    }
    for specialist, expected in refusals.items():
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await scene.escalation().execute_update(
                EscalationWorkflow.assign, by_supervisor(specialist)
            )
        assert rejection(caught) == expected, specialist

    offer = await scene.escalation().execute_update(
        EscalationWorkflow.assign, by_supervisor("staff-nia", "she knows this caller")
    )
    assert offer.specialist_id == "staff-nia"
    assert offer.assigned_by == "sup-night"
    assert offer.expires_at - offer.created_at == routed.policy.routing.crisis.accept_within  # type: ignore[union-attr]  # routed always has routing
    await scene.accept(offer)
    await scene.owned_by("staff-nia")

    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_ACCEPTED)
    assigned = next(e for e in events if e.type == EventType.ESCALATION_ASSIGNED)
    assert assigned.data == {
        "supervisor_id": "sup-night",
        "specialist_id": "staff-nia",
        "queue": "crisis",
        "reason": "she knows this caller",
        "offer_id": offer.offer_id,
    }
    created = [e for e in events if e.type == EventType.OFFER_CREATED]
    assert [e.data.get("assigned_by") for e in created] == ["sup-night"]
    accepted = next(e for e in events if e.type == EventType.HANDOFF_ACCEPTED)
    assert accepted.data["specialist"] == "staff-nia"
    roster = await roster_view(workflow_env, routed)
    nia = next(m for m in roster.members if m.member.id == "staff-nia")
    assert nia.state.conversations == [scene.conversation]
    outcome = await scene.escalation().result()
    assert isinstance(outcome, EscalationOutcome)
    assert (outcome.status, outcome.accepted_by) == (EscalationStatus.ACCEPTED, "staff-nia")


async def test_an_assigned_offer_held_past_the_nobody_clock_does_not_poll_the_roster(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    # After the page the queue counts how long nobody could be offered the crisis (the lane's
    # 20 s). A supervisor's offer made within that time is somebody: the roster is asked again
    # on the usual backoff, not on 1 ms timers once those 20 s have passed.
    scene = await crisis_nobody_may_take(workflow_env, routed)
    await paged(scene)
    await workflow_env.sleep(timedelta(seconds=15))
    offer = await scene.escalation().execute_update(
        EscalationWorkflow.assign, by_supervisor("staff-nia")
    )
    await workflow_env.sleep(timedelta(seconds=8))  # past the page's 20 s, within the offer's
    await scene.accept(offer)
    await scene.owned_by("staff-nia")

    history = await scene.escalation().fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    asks_while_assigned = scheduled[scheduled.index("roster_assign_to") :].count("roster_reserve")
    assert asks_while_assigned <= 2, f"{asks_while_assigned} roster asks while the offer was open"


async def test_an_assigned_offer_that_expires_leaves_the_escalation_paged_and_offering(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    scene = await crisis_nobody_may_take(workflow_env, routed)
    await paged(scene)
    offer = await scene.escalation().execute_update(
        EscalationWorkflow.assign, by_supervisor("staff-nia")
    )

    async def expired() -> EscalationView | None:
        view = await scene.escalation_view()
        return view if view.offers[0].status is OfferStatus.EXPIRED else None

    view = await eventually(expired, "the assigned offer's expiry", skipping=workflow_env)
    assert [o.offer_id for o in view.offers] == [offer.offer_id]
    assert view.status is EscalationStatus.WAITING
    # The slot is free again, and the routing goes on: staff-luis back from his break gets it.
    routed.wellness.write(WorkerWellness(worker_id="staff-luis"))
    [fresh] = await scene.open_offers(skip_time=True)
    assert fresh.specialist_id == "staff-luis"
    assert fresh.assigned_by is None
