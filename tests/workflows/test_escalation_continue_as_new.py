"""A paged escalation nobody accepts continues as new before its history grows too long.

An unaccepted crisis offers to the lane's three round after round: about 10,000 history events an
hour, and every live-view write carries every offer made so far (10 MiB in half an hour), so
Temporal ended such an escalation about an hour after the page. Here the bound is lowered to a
few hundred events: the escalation must continue as new several times, each run under the bound,
and then be accepted as if it had been one run: one page, referrals once, offer and event ids
unique across the runs, `waited_ms` counted from the first run's start.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import CRISIS, Scene, eventually, rejection
from warmline.conversation import (
    CloseRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.escalation import (
    AcceptRequest,
    DeclineRequest,
    Escalation,
    EscalationInput,
    EscalationOutcome,
    EscalationStatus,
    Offer,
    OfferStatus,
    Rejection,
    escalation_workflow_id,
    offer_id,
)
from warmline.events import DomainEvent, EventType
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

BOUND = 600
"""The lowered `history_events_per_run`: a round of the paged lane adds about 60 events."""
ROUND_EVENTS = 200
"""How far past the bound a run may go: it continues as new at the end of a round, not mid-way."""
RUNS = 3
"""Runs to see before the accept (the first, and two continued as new)."""

Escalations = WorkflowHandle[EscalationWorkflow, EscalationOutcome]


async def start_crisis(
    env: WorkflowEnvironment, policy: EscalationPolicy, task_queue: str
) -> tuple[WorkflowHandle[ConversationWorkflow, ConversationOutcome], Escalations]:
    """A conversation whose crisis escalates (its policy routes nothing, so it starts no child),
    and the crisis lane's escalation for it, started by id with `policy`'s routing: it has no
    parent, so a cancel by id reaches whichever run is current."""
    routing = lowered(policy).routing
    assert routing is not None
    lane = routing.crisis
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="open-door",
            conversation_id=conversation,
            country="GB",
            policy=policy.model_copy(update={"routing": None}),
        ),
        id=workflow_id("open-door", conversation),
        task_queue=task_queue,
    )
    answer = await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=CRISIS)
    )
    assert answer.escalated
    escalation = await env.client.start_workflow(
        EscalationWorkflow.run,
        EscalationInput(
            tenant_id="open-door",
            conversation_id=conversation,
            sequence=1,
            escalation=Escalation(
                queue=lane.queue,
                reason="Crisis screen raised suicidal_ideation.",
                priority=100,
                rule="crisis",
                crisis=True,
                message_id="m1",
            ),
            routing=routing,
            country="GB",
            conversation_workflow_id=handle.id,
        ),
        id=escalation_workflow_id("open-door", conversation, 1),
        task_queue=task_queue,
    )
    return handle, escalation


async def runs_of(env: WorkflowEnvironment, escalation: Escalations) -> list[WorkflowHistory]:
    """The histories of the escalation's runs, first to current (each run names the one it
    continued)."""
    runs: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        handle = env.client.get_workflow_handle(escalation.id, run_id=run_id)
        history = await handle.fetch_history()
        runs.insert(0, history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        if not run_id:
            return runs


async def continued(env: WorkflowEnvironment, escalation: Escalations, times: int) -> None:
    """Skip time until the escalation has continued as new `times` times."""

    async def probe() -> bool | None:
        return True if len(await runs_of(env, escalation)) > times else None

    await eventually(
        probe, f"{times} continues-as-new", skipping=env, step=timedelta(seconds=10), polls=300
    )


async def open_offers(escalation: Escalations) -> list[Offer]:
    async def probe() -> list[Offer] | None:
        view = await escalation.query(EscalationWorkflow.view)
        offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
        return offers or None

    return await eventually(probe, "an open offer")


def accepted_at(events: Sequence[HistoryEvent]) -> datetime:
    return next(
        e.event_time.ToDatetime()
        for e in events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )


def no_two_events_share_an_id(events: list[DomainEvent]) -> None:
    """A publish retried re-sends the same event; two different events must never share an id."""
    by_id: dict[str, DomainEvent] = {}
    for event in events:
        first = by_id.setdefault(event.id, event)
        assert (first.type, first.data) == (event.type, event.data), (first, event)


async def test_an_unaccepted_crisis_continues_as_new_and_is_accepted_as_one_escalation(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    conversation, escalation = await start_crisis(workflow_env, routed.policy, routed.task_queue)
    routed.started += [conversation.id, escalation.id]
    await continued(workflow_env, escalation, RUNS - 1)
    [offer, *_] = await open_offers(escalation)
    assert routed.live_view.offer(offer.offer_id) is not None, "the new run's view is not applied"
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
    )
    outcome = await escalation.result()
    assert (outcome.status, outcome.accepted_by) == (EscalationStatus.ACCEPTED, offer.specialist_id)
    assert outcome.sla_breaches == 1

    async def handed_off() -> bool | None:
        view = await conversation.query(ConversationWorkflow.view)
        return True if view.owner == offer.specialist_id and view.handoff is not None else None

    await eventually(handed_off, f"the handoff to {offer.specialist_id}")

    runs = [history.events for history in await runs_of(workflow_env, escalation)]
    assert len(runs) >= RUNS
    for events in runs:
        assert len(events) < BOUND + ROUND_EVENTS, f"a run of {len(events)} events"
    for events in runs[:-1]:
        assert events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    view = await escalation.query(EscalationWorkflow.view)
    assert view.paged_supervisor == "sup-night"
    assert view.referrals_sent

    published = await event_log.wait_for(
        view.conversation_id, until=EventType.HANDOFF_ACCEPTED, timeout_s=60
    )
    no_two_events_share_an_id(published)
    kinds = {e.id: e.type for e in published}
    assert list(kinds.values()).count(EventType.SUPERVISOR_PAGED) == 1
    created = {e.id: e.data["offer_id"] for e in published if e.type == EventType.OFFER_CREATED}
    assert len(set(created.values())) == len(created), "an offer id made twice"
    assert offer.offer_id in created.values()
    # The accepted offer was made in the last run, numbered on from the runs before it.
    first_run_offers = sum(
        1
        for e in runs[0]
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "reserve"
    )
    assert int(offer.offer_id.rsplit("/", 1)[-1]) > first_run_offers

    [accepted] = [e for e in published if e.type == EventType.HANDOFF_ACCEPTED]
    waited = timedelta(milliseconds=accepted.data["waited_ms"])
    since_the_start = accepted_at(runs[-1]) - runs[0][0].event_time.ToDatetime()
    assert abs(waited - since_the_start) < timedelta(seconds=2), (waited, since_the_start)


async def test_a_cancel_by_id_after_a_continue_as_new_withdraws_the_new_runs_offers(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    conversation, escalation = await start_crisis(workflow_env, routed.policy, routed.task_queue)
    routed.started += [conversation.id, escalation.id]
    await continued(workflow_env, escalation, 1)
    offers = await open_offers(escalation)
    # A late answer to an offer of the first run is refused as closed, not as unknown.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await escalation.execute_update(
            EscalationWorkflow.decline,
            DeclineRequest(offer_id=offer_id(escalation.id, 1), specialist_id="staff-ren"),
        )
    assert rejection(caught)[0] == Rejection.FAILED_PRECONDITION
    await escalation.cancel()
    outcome = await escalation.result()
    assert outcome.status is EscalationStatus.CANCELLED
    assert all(routed.live_view.offer(o.offer_id) is None for o in offers)
    view = await escalation.query(EscalationWorkflow.view)
    published = await event_log.wait_for(
        view.conversation_id, until=EventType.OFFER_WITHDRAWN, count=len(offers), timeout_s=60
    )
    withdrawn = {e.data["offer_id"] for e in published if e.type == EventType.OFFER_WITHDRAWN}
    assert {o.offer_id for o in offers} <= withdrawn


def lowered(policy: EscalationPolicy) -> EscalationPolicy:
    """`policy` with the history bound lowered to `BOUND` and the crisis lane never widened."""
    routing = policy.routing
    assert routing is not None
    lane = routing.crisis.model_copy(update={"widen_after": timedelta(0)})
    return policy.model_copy(
        update={
            "routing": routing.model_copy(update={"history_events_per_run": BOUND, "crisis": lane})
        }
    )


def cancels_by_id(conversation: WorkflowHistory, escalation_id: str) -> bool:
    """Whether the conversation cancelled its escalation by workflow id alone: a cancel naming a
    run (as a child handle's does, the first run's) never reaches a run that continued as new on
    Temporal's server (the time-skipping server forwards it)."""
    requests = [
        e.request_cancel_external_workflow_execution_initiated_event_attributes.workflow_execution
        for e in conversation.events
        if e.HasField("request_cancel_external_workflow_execution_initiated_event_attributes")
    ]
    return bool(requests) and all(
        (r.workflow_id, r.run_id) == (escalation_id, "") for r in requests
    )


async def test_a_customer_who_leaves_calls_off_the_escalation_after_it_continued_as_new(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment, event_log: EventLog
) -> None:
    """The conversation's own escalation continues as new, and the customer then leaves: the
    conversation cancels it by workflow id, so the current run withdraws its offers and ends."""
    scene = await Scene(workflow_env, replace(routed, policy=lowered(routed.policy))).start()
    await scene.say(CRISIS)
    escalation = scene.escalation()
    await continued(workflow_env, escalation, 1)
    offers = await open_offers(escalation)
    await scene.handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    outcome = await scene.handle.result()
    assert outcome.closed_reason == "customer_left"
    assert (await escalation.result()).status is EscalationStatus.CANCELLED
    assert all(routed.live_view.offer(o.offer_id) is None for o in offers)
    assert cancels_by_id(await scene.handle.fetch_history(), escalation.id)
    published = await event_log.wait_for(
        scene.conversation, until=EventType.OFFER_WITHDRAWN, count=len(offers), timeout_s=60
    )
    withdrawn = {e.data["offer_id"] for e in published if e.type == EventType.OFFER_WITHDRAWN}
    assert {o.offer_id for o in offers} <= withdrawn
