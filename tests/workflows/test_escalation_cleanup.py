"""An escalation cleans up whatever moment the conversation ends in, and its accepts hold up.

The customer leaves while the escalation's roster call or live-view update is under way, a decline
lands with the winning accept, an accept lands while the escalation withdraws its offers, an accept
is retried, a chain reroutes into the crisis lane. A gate holds one activity of the worker open
(the test releases it), so the moment is the same on every run.
"""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

import pytest
from temporalio import activity
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.testing import WorkflowEnvironment

from activities.liveview import LiveViewActivities
from activities.routing import OccupyCall, ReleaseCall, ReserveCall, RosterActivities
from tests.outages import RestartableRedis
from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import (
    CRISIS,
    GRIEF,
    Scene,
    lone_escalation_offered,
    rejection,
    roster_view,
)
from warmline.conversation import CloseRequest, ConversationOutcome
from warmline.escalation import (
    AcceptRequest,
    DeclineRequest,
    EscalationOutcome,
    EscalationStatus,
    EscalationView,
    OfferStatus,
)
from warmline.events import EventType
from warmline.roster import ReserveResult
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

GATE_WAIT_S = 20.0
"""Longest a gated activity waits for the test to open the gate (a failed test must not hang)."""
TEAM = ("vol-aoife", "vol-marcus", "staff-ren", "staff-nia", "staff-luis")
CRISIS_STAFF = ("staff-ren", "staff-nia", "staff-luis")


@dataclass
class Gate:
    """Holds the next call of one activity open until the test opens the gate."""

    armed: bool = True
    entered: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def hold(self) -> bool:
        """Called by the activity: True if this call is the one to hold (the first while armed)."""
        if not self.armed:
            return False
        self.armed = False
        self.entered.set()
        return True

    async def reached(self) -> None:
        """Wait (real time) until the gated call has started."""
        if not await asyncio.to_thread(self.entered.wait, GATE_WAIT_S):
            raise AssertionError("the gated activity never ran")

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Gate]]:
    """Gates on the worker's reserve, occupy, release and live-view update; a test arms the one it
    needs by adding it. Request this before `routed`, which builds the worker from the methods."""
    armed: dict[str, Gate] = {}
    reserve, occupy, release = (
        RosterActivities.reserve,
        RosterActivities.occupy,
        RosterActivities.release,
    )
    sync = LiveViewActivities.sync_live_view

    async def held(name: str) -> None:
        gate = armed.get(name)
        if gate is not None and gate.hold():
            await asyncio.to_thread(gate.opened.wait, GATE_WAIT_S)

    # Methods of a class, so the worker skips `self` (unannotated) when it reads the argument
    # types; at run time `self` is the worker's `RosterActivities` or `LiveViewActivities`.
    class Gated:
        @activity.defn(name="roster_reserve")
        async def reserve(self, call: ReserveCall) -> ReserveResult:
            result = await reserve(cast(RosterActivities, self), call)
            await held("reserve")
            return result

        @activity.defn(name="roster_occupy")
        async def occupy(self, call: OccupyCall) -> None:
            await occupy(cast(RosterActivities, self), call)
            await held("occupy")

        @activity.defn(name="roster_release")
        async def release(self, call: ReleaseCall) -> None:
            await held("release")
            await release(cast(RosterActivities, self), call)

        @activity.defn(name="sync_live_view")
        def sync_live_view(self, escalation: EscalationView) -> None:
            gate = armed.get("sync")
            if gate is not None and gate.hold():
                gate.opened.wait(GATE_WAIT_S)
            sync(cast(LiveViewActivities, self), escalation)

    monkeypatch.setattr(RosterActivities, "reserve", Gated.reserve)
    monkeypatch.setattr(RosterActivities, "occupy", Gated.occupy)
    monkeypatch.setattr(RosterActivities, "release", Gated.release)
    monkeypatch.setattr(LiveViewActivities, "sync_live_view", Gated.sync_live_view)
    yield armed
    for gate in armed.values():
        gate.open()


SYNC_LIVE_VIEW = "sync_live_view"


async def final_view_refused(
    escalation: WorkflowHandle[EscalationWorkflow, EscalationOutcome],
) -> bool:
    """Wait until the escalation's final, retried-until-done live-view write (the one with no
    attempt limit) has been refused at least once (True), or the escalation has ended without
    one (False)."""
    for _ in range(300):
        description = await escalation.describe()
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return False
        for pending in description.raw_description.pending_activities:
            if (
                pending.activity_type.name == SYNC_LIVE_VIEW
                and pending.maximum_attempts == 0
                and pending.attempt >= 2
            ):
                return True
        await asyncio.sleep(0.1)
    raise AssertionError("the escalation's final live-view write was never refused")


def refused_writes(history: WorkflowHistory) -> int:
    """How many of the escalation's live-view writes failed for good. (Which attempt of the final
    write succeeded is read while the escalation runs, `final_view_refused`: the test server does
    not always keep the started event of an activity that was retried, which carries it.)"""
    events = history.events
    writes = {
        e.event_id
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == SYNC_LIVE_VIEW
    }
    return sum(
        e.activity_task_failed_event_attributes.scheduled_event_id in writes
        for e in events
        if e.HasField("activity_task_failed_event_attributes")
    )


async def left_while_gated(scene: Scene, gate: Gate) -> ConversationOutcome:
    """The customer leaves while the gated call runs; the gate opens once the close is in."""
    await gate.reached()
    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await asyncio.sleep(0.5)
    gate.open()
    return await asyncio.wait_for(scene.handle.result(), timeout=30)


async def nothing_held_for(scene: Scene, deployment: RoutedDeployment) -> None:
    """The roster keeps no reservation and no occupied slot for the scene's conversation."""
    roster = await roster_view(scene.env, deployment)
    assert [r for r in roster.reservations if r.conversation_id == scene.conversation] == []
    assert [
        m.member.id for m in roster.members if scene.conversation in m.state.conversations
    ] == []


async def cancelled(scene: Scene) -> EscalationOutcome:
    outcome = await asyncio.wait_for(scene.escalation().result(), timeout=30)
    assert isinstance(outcome, EscalationOutcome)
    assert outcome.status is EscalationStatus.CANCELLED
    return outcome


async def test_a_customer_who_leaves_during_the_roster_reserve_leaves_no_reservation(
    gates: dict[str, Gate], workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    gate = gates.setdefault("reserve", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    await left_while_gated(scene, gate)
    await cancelled(scene)
    await nothing_held_for(scene, routed)


async def test_a_customer_who_leaves_during_the_occupy_gets_the_slot_freed(
    gates: dict[str, Gate], workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    gate = gates.setdefault("occupy", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    await scene.accept(offer)
    closed = await left_while_gated(scene, gate)
    assert closed.closed_reason == "customer_left"
    outcome = await cancelled(scene)
    assert outcome.accepted_by == offer.specialist_id
    await nothing_held_for(scene, routed)
    member = next(
        m
        for m in (await roster_view(scene.env, routed)).members
        if m.member.id == offer.specialist_id
    )
    assert (member.reserved, member.state.conversations) == (0, [])


async def test_a_customer_who_leaves_during_the_live_view_update_ends_the_search(
    gates: dict[str, Gate],
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
) -> None:
    # The first live-view update is the one after the first offer is made.
    gate = gates.setdefault("sync", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    closed = await left_while_gated(scene, gate)
    assert closed.closed_reason == "customer_left"
    await cancelled(scene)
    view = await scene.escalation_view()
    assert [o.status for o in view.offers] == [OfferStatus.WITHDRAWN]
    await nothing_held_for(scene, routed)
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_WITHDRAWN)
    assert not any(e.type == EventType.ESCALATION_REROUTED for e in events)


async def test_a_decline_that_lands_with_the_accept_is_released_and_published(
    gates: dict[str, Gate],
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
) -> None:
    # The loop is busy updating the live view while both land: it sees the accept first.
    gate = gates.setdefault("sync", Gate())
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    await gate.reached()
    winner, decliner, _ = await scene.open_offers(count=3)
    await scene.escalation().execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(
            offer_id=decliner.offer_id, specialist_id=decliner.specialist_id, reason="on a call"
        ),
    )
    await scene.accept(winner)
    gate.open()
    await scene.owned_by(winner.specialist_id)
    roster = await roster_view(scene.env, routed)
    assert [r for r in roster.reservations if r.conversation_id == scene.conversation] == []
    member = next(m for m in roster.members if m.member.id == decliner.specialist_id)
    assert member.reserved == 0
    events = await event_log.wait_for(scene.conversation, until=EventType.OFFER_DECLINED)
    declined = next(e for e in events if e.type == EventType.OFFER_DECLINED)
    assert (declined.data["specialist"], declined.data["reason"]) == (
        decliner.specialist_id,
        "on a call",
    )


async def test_an_accept_while_the_escalation_withdraws_its_offers_is_refused(
    gates: dict[str, Gate], workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    gate = gates.setdefault("release", Gate())
    scene = await Scene(workflow_env, routed).start(widen_after=timedelta(0))
    await scene.say(CRISIS)
    offers = await scene.open_offers(count=3)
    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await gate.reached()  # withdrawing the first offer
    late = offers[-1]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.accept(late)
    assert rejection(caught) == (
        "FailedPrecondition",
        "the escalation has ended (the conversation closed)",
    )
    gate.open()
    outcome = await cancelled(scene)
    assert outcome.accepted_by is None
    view = await scene.escalation_view()
    assert {o.status for o in view.offers} == {OfferStatus.WITHDRAWN}


async def test_a_retried_accept_is_answered_as_the_first(
    gates: dict[str, Gate], workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    # The escalation is still occupying the slot when the retry arrives.
    gate = gates.setdefault("occupy", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    request = AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id)
    first = await scene.escalation().execute_update(EscalationWorkflow.accept, request)
    await gate.reached()
    again = await scene.escalation().execute_update(EscalationWorkflow.accept, request)
    assert again == first
    someone_else = AcceptRequest(offer_id=offer.offer_id, specialist_id="vol-nobody")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await scene.escalation().execute_update(EscalationWorkflow.accept, someone_else)
    assert rejection(caught)[0] == "PermissionDenied"
    gate.open()
    await scene.owned_by(offer.specialist_id)


async def test_an_accept_after_the_conversation_ended_releases_the_desk_claim(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    handle, conversation, made = await lone_escalation_offered(workflow_env, routed)
    # The desk claims the conversation for whoever accepts, before the accept update.
    assert routed.live_view.claim("open-door", conversation, made.specialist_id) == (
        made.specialist_id
    )
    await handle.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=made.offer_id, specialist_id=made.specialist_id),
    )
    outcome = await handle.result()
    assert outcome.status is EscalationStatus.CANCELLED
    assert routed.live_view.claim_holder("open-door", conversation) is None


class TestARedisOfItsOwn:
    """The deployment's Redis (live view and wellness view) is this test's own, so it can go away
    and come back without taking the session's Redis, which other tests use, with it."""

    @pytest.fixture
    def redis_url(self, restartable_redis: RestartableRedis) -> str:
        """`routed` builds its live view on the restartable Redis instead of the session's."""
        return restartable_redis.url

    async def test_a_last_view_redis_missed_is_written_once_it_is_back(
        self,
        workflow_env: WorkflowEnvironment,
        routed: RoutedDeployment,
        restartable_redis: RestartableRedis,
    ) -> None:
        """Redis is down while the accepted escalation writes its views (each change's three quick
        attempts are refused): the escalation writes its final view again until Redis, back with
        what it held, takes it, so supervisors and specialists do not see an accepted escalation
        still waiting."""
        scene = await Scene(workflow_env, routed).start()
        await scene.say(GRIEF)
        [offer] = await scene.open_offers()
        assert [v.status for v in routed.live_view.waiting("open-door", "listening")] == [
            EscalationStatus.WAITING
        ]
        restartable_redis.go_down()
        await scene.accept(offer)
        refused_at_first = await final_view_refused(scene.escalation())
        restartable_redis.come_back()
        outcome = await asyncio.wait_for(scene.escalation().result(), timeout=60)

        assert outcome.status is EscalationStatus.ACCEPTED
        assert routed.live_view.waiting("open-door", "listening") == []
        assert routed.live_view.offers_for(offer.specialist_id) == []
        history = await scene.escalation().fetch_history()
        assert refused_writes(history) == 2, "each change of the accept had its attempts refused"
        assert refused_at_first, "the final view was written once Redis was back, not at once"
