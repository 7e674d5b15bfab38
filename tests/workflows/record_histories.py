"""Record workflow histories into tests/histories/ for the replay tests.

Run after a deliberate, versioned change to a workflow (old histories stay as they are):

    .venv/bin/python -m tests.workflows.record_histories all      # everything (overwrites all)
    .venv/bin/python -m tests.workflows.record_histories newest   # only the newest path
    .venv/bin/python -m tests.workflows.record_histories wellness # only the wellness recordings
    .venv/bin/python -m tests.workflows.record_histories wellness-policy # a policy handed over
    .venv/bin/python -m tests.workflows.record_histories stagger  # only the staggered crisis lane
    .venv/bin/python -m tests.workflows.record_histories orphan   # only the orphaned escalation
    .venv/bin/python -m tests.workflows.record_histories departure # only the customer who leaves
    .venv/bin/python -m tests.workflows.record_histories repeated-reply # a reply sent twice
    .venv/bin/python -m tests.workflows.record_histories cover    # only the evening-cover ranking
    .venv/bin/python -m tests.workflows.record_histories responder # only the held crisis responder
    .venv/bin/python -m tests.workflows.record_histories assigned  # only a supervisor's assignment
    .venv/bin/python -m tests.workflows.record_histories late-assigned # only a late assignment
    .venv/bin/python -m tests.workflows.record_histories late-departure # leaves after a decline
    .venv/bin/python -m tests.workflows.record_histories tenants  # two tenants, one conversation id
    .venv/bin/python -m tests.workflows.record_histories withdrawn # an offer taken back
    .venv/bin/python -m tests.workflows.record_histories view-behind # Redis misses the last view
    .venv/bin/python -m tests.workflows.record_histories rechecked # an offer shown too late
    .venv/bin/python -m tests.workflows.record_histories retried  # a client's retries, no routing
    .venv/bin/python -m tests.workflows.record_histories crisis-upgrade # a crisis while waiting
    .venv/bin/python -m tests.workflows.record_histories long-transcript # over the text budget
    .venv/bin/python -m tests.workflows.record_histories retried-ends # ends of handoffs sent twice
    .venv/bin/python -m tests.workflows.record_histories crisis-called-off # the upgrade says why
    .venv/bin/python -m tests.workflows.record_histories quiet-spell # a late reply restarts it
    .venv/bin/python -m tests.workflows.record_histories rating-after-close # rated as they left
    .venv/bin/python -m tests.workflows.record_histories declined-departure # leaves as it closes
    .venv/bin/python -m tests.workflows.record_histories paged-again # offered again with the page
    .venv/bin/python -m tests.workflows.record_histories live-view-open-offers # writes: open only
    .venv/bin/python -m tests.workflows.record_histories waited # waited_ms ends at the accept
    .venv/bin/python -m tests.workflows.record_histories continued # a paged crisis goes on anew
    .venv/bin/python -m tests.workflows.record_histories continued-left # called off by id
    .venv/bin/python -m tests.workflows.record_histories completed-as-the-run-ends # no carry-over
    .venv/bin/python -m tests.workflows.record_histories rule-crisis-flags # `not crisis` for abuse
    .venv/bin/python -m tests.workflows.record_histories replayed-package # acted on as it rendered
    .venv/bin/python -m tests.workflows.record_histories wellness-retried # sent twice
    .venv/bin/python -m tests.workflows.record_histories wellness-stand-in # HR's shift takes over
    .venv/bin/python -m tests.workflows.record_histories wellness-sent-again # a shift re-sent
    .venv/bin/python -m tests.workflows.record_histories wellness-off-and-on # break kept
    .venv/bin/python -m tests.workflows.record_histories wellness-missed-checkin # next shift asks
    .venv/bin/python -m tests.workflows.record_histories wellness-break-past-end # break kept
    .venv/bin/python -m tests.workflows.record_histories wellness-late-work # counted in its shift
    .venv/bin/python -m tests.workflows.record_histories wellness-versioned-view # numbered views

`conversation-*` are single conversations without routing; `routed-*` are a whole escalation: the
conversation, its escalation and the roster, each saved under its own workflow type. The newest
path is `conversation-local-*` and `routed-local-*`: triage and event publishes as local
activities. `wellness-*` are a worker's WellnessWorkflow through a shift, and `routed-wellness-*`
an escalation whose roster ranks with the wellness-aware strategy and the workers' wellness views.
`wellness-policy-changed` is the first run of a worker's WellnessWorkflow that is handed a new
policy mid-shift (`set_policy`: a 1-10 scale, a lowered budget, a shorter cadence, longer breaks),
takes a check-in and a break under it and continues as new carrying it.
`wellness-retried` is a shift in which a check-in that asks for a break, and then a longer
"I need a break now", are each sent again 30 s later, as a client retries after a lost answer:
each retry is answered with the state as it is (the
`a-retried-check-in-or-break-now-is-applied-once` patch), and the worker ends the break.
`wellness-stand-in` is a worker who becomes available a minute before HR's shift and works: the
stand-in shift gives way to HR's at its start (the
`an-hr-shift-replaces-the-stand-in-shift-running-at-its-start` patch), which runs to its end.
`wellness-shift-sent-again` is a worker who goes unavailable mid-shift and whose shift HR sends
again half an hour later: it carries on with what it counted (the
`a-shift-sent-again-after-it-ended-carries-on` patch).
`wellness-off-and-on` is a worker who goes unavailable and available again during the break after
a crisis: the break runs to its end (the
`a-mandatory-break-outlasts-the-worker-going-unavailable` patch).
`wellness-missed-checkin` is a worker who leaves the end-of-shift check-in unanswered and starts
the next shift an hour later: the missed check-in lapses and the new shift's cadence check-in is
asked (the `a-missed-check-in-lapses-when-a-new-shift-starts` patch).
`wellness-break-past-end` is a crisis ten minutes before the shift's end: its break runs five
minutes past the end (the `a-mandatory-break-outlasts-the-shift-s-end` patch).
`wellness-late-work` is a conversation finished ten minutes after the shift's end: it counts in
that shift, and no stand-in shift starts (the `work-begun-in-a-shift-counts-in-it-after-its-end`
patch).
`wellness-versioned-view` is a worker's break and its end: every view the sync writes carries a
version above the last (the `a-late-view-write-never-replaces-a-newer-one` patch).
`wellness-policy-unhandled` is not recorded here: the WellnessWorkflow from before `set_policy`
(commit c0b52be) was sent a `set_policy` signal, as a new worker does at start while an old one
still polls, and left it unhandled; today's workflow must replay it the same way (the
`wellness-set-policy` patch).
`routed-stagger-*` is a crisis in a lane with `widen_after`: the first choice declines, the next
one is offered it alone, the lane widens, and the second accepts after the widening.
`routed-orphan-escalation` is an accept that lands after its conversation ended: the escalation
hands the roster slot back. `routed-departure-*` is a customer who leaves while the escalation
still offers: the conversation calls the escalation off and waits for it to withdraw its offer.
`routed-cover-*` is the wellness-aware roster since it ranks a crisis by each shift's outlook and
holds the evening's crisis cover in reserve for ordinary work (the team's shifts end at different
times). `routed-responder-*` is the same team since the roster counts the work in each person's
hands and holds the next crisis responder back from ordinary work instead. `routed-assigned-*` is
a crisis the wellness filter leaves with nobody (staff-nia at the consecutive-crisis cap, the other
crisis staff on a break): the lane pages sup-night, who assigns it to staff-luis (refused: on a
break) and then to staff-nia, who accepts; the roster's history holds its `assign_to`.
`routed-late-assigned-*` is the same crisis assigned to staff-nia 15 s after the page, accepted 8 s
later: since an open offer restarts the escalation's nobody clock, it asks the roster once while the
offer is open, where before it polled on 1 ms timers from the page's 20 s on.
`routed-tenants-*` is two tenants' conversations of one id, both taken by vol-marcus (capacity 2,
the rest of the team unavailable): since the roster keys a conversation by tenant and id, he is
offered the second, holds both and is freed of each in turn. Only the roster's history is saved
(the conversations and escalations take the routed path recorded above).
`routed-late-departure-*` is a customer who leaves after a decline, while
the next offer is open, since the escalation's roster calls and publishes go on through a cancel.
`routed-withdrawn-*` is a grief whose first offer is withdrawn (its specialist marked themselves
unavailable) and whose next offer is accepted and completed. `routed-view-behind-*` is a grief
whose accepted view Redis refuses (every quick attempt) until the escalation's final, durable write.
`routed-rechecked-*` is a grief whose first offer reaches the live view only after its specialist
marked themselves unavailable and the withdrawal read the live view: the escalation rechecks the
offer once shown (`recheck_offers`), withdraws it itself, and the next offer is accepted.
`routed-crisis-upgrade-*` is a grief still waiting for an accept when the customer writes a
crisis: the conversation calls the `listening` escalation off (its offer withdrawn) and escalates
to the crisis lane, whose first offer is accepted and completed (patch marker
`crisis-upgrades-a-waiting-escalation`); the escalation saved is the crisis lane's, the second.
`routed-crisis-called-off-*` is the same upgrade since the conversation tells the `listening`
escalation why before cancelling it (patch marker `a-crisis-upgrade-tells-the-escalation-why`): the
escalation saved is the called-off one, the first, whose withdrawn offer says `moved to the crisis
lane`.
`routed-retried-ends-conversation` is a grief whose specialist's client sends its transfer to the
crisis lane twice, and whose crisis specialist's sends its completion twice before the customer
rates it (satisfaction survey on); `routed-retried-hand-back-conversation` a grief handed back to
the AI twice, then closed: each retry is answered as the first and does nothing (patch marker
`a-retried-end-of-a-handoff-gets-the-first-answer`).
`conversation-retried` and `-continued` are a client's retries (a message sent twice, its id
signalled with other text, an id too long, an AI reply sent twice) and the first message once
more after a continue-as-new, without routing: the runs before and after it.
`conversation-long-transcript` is AI replies of 20,000 characters adding up to over the
transcript's character budget, then a continue-as-new that carries only the newest turns within it
(patch marker `transcript-kept-within-a-size-budget`): the run before it (the next run, carrying
text within the budget, takes no new path).
`conversation-quiet-spell` is an AI reply 25 minutes into a 30-minute quiet spell, and
`routed-quiet-spell-conversation` a specialist's reply 5 minutes before the peer-support
deployment's inactivity timeout: each conversation closes for inactivity a whole timeout after the
reply (patch marker `a-reply-restarts-the-quiet-spell`).
`routed-rating-after-close-conversation` is a grief completed with the survey on, whose customer
thanks the specialist, rates while that message is triaged and leaves (`close`) before the triage
is done: the rating, accepted and waiting for the message's turn, is refused once it runs (patch
marker `a-rating-after-the-survey-is-refused`), and `conversation.closed` has no satisfaction.
`conversation-replayed-acknowledgement` and `conversation-replayed-reply` are handoffs without
routing (the specialist assigned by a signal) on a worker that caches no run, so an update sent
just after the `view` shows the package reaches the workflow with the render's result: the grief's
acknowledgement waits for the package and goes through, then a reply; the crisis's reply, let
through while the package was prepared, is refused once it is there (the package asks for the risk
to be acknowledged first), then acknowledged and replied to (patch marker
`an-action-during-the-render-waits-for-the-package`). The completion closes each.
`routed-declined-departure-escalation` is a grief whose first offer is declined, and whose
customer leaves while the escalation releases that offer on the roster: the cleanup publishes the
`offer.declined` the cancel interrupted (patch marker
`an-offer-closed-as-the-customer-leaves-is-published`). Only the escalation's history is saved.
`routed-paged-again-escalation` is a crisis nobody accepts by the lane's deadline: the lane pages
sup-night and offers it to the same three again with the page (patch marker
`a-page-offers-to-everyone-again-at-once`), and one of them accepts.
`routed-live-view-open-offers-escalation` is the same crisis since each live-view write carries only
the open offers (patch marker `a-live-view-write-carries-only-the-open-offers`): the writes after
the first round's offers expired leave them out.
`routed-waited-escalation` is a grief whose first offer is accepted: `handoff.accepted`'s
`waited_ms` and the assignment's `accepted_at` are the accept's moment (patch marker
`waited-ends-at-the-accept`).
`routed-completed-as-the-run-ends-conversation` is a grief handed off in a run of two messages: the
specialist completes while the customer's thanks, the run's last message, is triaged, and the
conversation closes `completed` instead of continuing as new (patch marker
`a-close-or-transfer-meanwhile-stops-the-continue-as-new`).
`conversation-rule-crisis-flags` is an abuse message in a deployment whose crisis flags leave
`abuse` out: the rule `distress >= 0.8 and not crisis` escalates it to `care` (patch marker
`rules-read-the-configured-crisis-flags`).
`routed-continued-escalation` is a crisis lane escalation (started by id, its history bound lowered
to 600 events) that nobody accepts: paged, it continues as new between two rounds (patch marker
`a-paged-escalation-continues-as-new-when-its-history-is-long`); `routed-continued-accepted-*` is
its next run, carried over paged, whose offer is accepted.
`routed-continued-left-conversation` is a crisis whose escalation, started by the conversation with
its history bound lowered, continues as new; then the customer leaves, and the conversation cancels
the escalation by its workflow id (patch marker `cancel-the-escalation-by-its-workflow-id`), which
reaches the run it continued as.
Older recordings stay as they are, so the replay tests keep covering every path a running workflow
may still be on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster, set_availability
from tests.workflows.conftest import PEER_SUPPORT, lone_grief_escalation
from tests.workflows.test_conversation import POLICY
from warmline.config.loader import load_config
from warmline.conversation import (
    AIReply,
    CloseRequest,
    CompleteRequest,
    ConversationInput,
    CustomerMessage,
    EscalationPolicy,
    SpecialistAction,
    SpecialistReply,
    TriageCorrection,
    workflow_id,
)
from warmline.escalation import (
    AcceptRequest,
    EscalationStatus,
    EscalationView,
    Offer,
    OfferStatus,
    WithdrawRequest,
    escalation_workflow_id,
)
from warmline.events import EventPublisher
from warmline.handoff import HandoffRenderer, renderer_from_config
from warmline.liveview import LiveView
from warmline.roster import AvailabilityRequest
from warmline.runtime import escalation_policy, roster_settings
from warmline.services import LocalServices, ServiceName, temporal_test_server_path
from warmline.triage.lexicon import LexiconProvider
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
SCRIPTS: dict[str, tuple[list[str], bool]] = {
    "conversation-routine": (["Where is my parcel?", "Thanks, that helps"], True),
    "conversation-bereavement": (["I need to close an account", "My wife passed away"], True),
    "conversation-crisis": (["nobody would miss me, I want to end it all"], True),
    "conversation-inactivity": (["hello?"], False),
    "conversation-continue-as-new": (["one", "two", "three", "four", "I am so scared"], True),
    "conversation-lean-routine": (["Where is my parcel?", "Thanks, that helps"], True),
    "conversation-lean-inactivity": (["hello?", "anyone there?"], False),
    "conversation-local-routine": (["Where is my parcel?", "Thanks, that helps"], True),
    "conversation-local-crisis": (["hello", "nobody would miss me, I want to end it all"], True),
    "conversation-local-inactivity": (["hello?", "anyone there?"], False),
}
NEWEST = "-local-"
"""The marker in the names of the newest path's recordings."""
ROUTED: dict[str, str] = {
    "grief": "My husband passed away yesterday and I don't know what to do",
    "crisis": "I want to end it all, nobody would miss me",
}


async def save(client: Client, workflow: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def start_acme(
    client: Client, task_queue: str, name: str, policy: EscalationPolicy = POLICY
) -> WorkflowHandle[Any, Any]:
    """An `acme` conversation without routing, its id `name` and a random suffix."""
    conversation = f"{name}-{uuid.uuid4().hex[:6]}"
    return await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id="acme", conversation_id=conversation, policy=policy),
        id=workflow_id("acme", conversation),
        task_queue=task_queue,
    )


async def record(
    client: Client, task_queue: str, scripts: dict[str, tuple[list[str], bool]]
) -> None:
    for name, (texts, close) in scripts.items():
        policy = POLICY
        if name.endswith("continue-as-new"):
            policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 3})
        if NEWEST in name:
            policy = POLICY.model_copy(update={"triage_as_local_activity": True})
        handle = await start_acme(client, task_queue, name, policy)
        for n, text in enumerate(texts):
            await handle.execute_update(
                ConversationWorkflow.add_message, CustomerMessage(message_id=f"m{n}", text=text)
            )
        if close:
            await handle.signal(ConversationWorkflow.close, CloseRequest())
        await handle.result()
        history = await client.get_workflow_handle(
            handle.id, run_id=handle.result_run_id
        ).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")


async def first_open_offer(escalation: WorkflowHandle[Any, Any]) -> Offer:
    """Wait (real time) for the escalation's first open offer."""
    while True:
        view = await escalation.query(EscalationWorkflow.view)
        offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
        if offers:
            return offers[0]
        await asyncio.sleep(0.2)


def peer_support_policy(task_queue: str, roster_id: str) -> EscalationPolicy:
    """The peer-support example's escalation policy, routed through the roster `roster_id`."""
    config = load_config(PEER_SUPPORT, resolve_secrets=False)
    policy = escalation_policy(config, task_queue=task_queue)
    assert policy.routing is not None
    return policy.model_copy(
        update={"routing": policy.routing.model_copy(update={"roster_id": roster_id})}
    )


async def complete_and_save(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    escalation: WorkflowHandle[Any, Any],
    specialist: str,
    name: str,
) -> None:
    """`specialist` completes the conversation; save it and its escalation as `name`-*."""
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=specialist, outcome="resolved"),
    )
    await handle.result()
    await save_routed(client, handle, escalation, name)


async def save_routed(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    escalation: WorkflowHandle[Any, Any],
    name: str,
) -> None:
    """Save a finished conversation and its escalation as `name`-conversation and -escalation."""
    await save(client, handle.id, f"{name}-conversation")
    await save(client, escalation.id, f"{name}-escalation")


async def open_conversation(
    client: Client, task_queue: str, policy: EscalationPolicy, name: str, text: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowHandle[Any, Any]]:
    """A conversation of the `open-door` tenant named after `name`, with its first message, and
    the handle of the escalation that message is expected to start."""
    conversation = f"{name}-{uuid.uuid4().hex[:6]}"
    handle = await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="open-door", conversation_id=conversation, country="GB", policy=policy
        ),
        id=workflow_id("open-door", conversation),
        task_queue=task_queue,
    )
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text=text)
    )
    escalation = client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("open-door", conversation, 1)
    )
    return handle, escalation


async def accept_crisis(
    handle: WorkflowHandle[Any, Any],
    escalation: WorkflowHandle[Any, Any],
    offer_id: str,
    specialist: str,
) -> None:
    """`specialist` accepts the crisis offer, waits for the handoff card, acknowledges the risk."""
    await escalation.execute_update(
        EscalationWorkflow.accept, AcceptRequest(offer_id=offer_id, specialist_id=specialist)
    )
    await escalation.result()
    while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await handle.execute_update(
        ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=specialist)
    )


async def record_routed(client: Client, task_queue: str, roster_id: str, prefix: str) -> None:
    """A handoff from first message to completion, through the escalation and the roster."""
    policy = peer_support_policy(task_queue, roster_id)
    for case, text in ROUTED.items():
        name = f"{prefix}-{case}"
        handle, escalation = await open_conversation(client, task_queue, policy, name, text)
        offer = await first_open_offer(escalation)
        specialist = offer.specialist_id
        await accept_crisis(handle, escalation, offer.offer_id, specialist)
        await handle.execute_update(
            ConversationWorkflow.specialist_reply,
            SpecialistReply(specialist_id=specialist, message_id="s0", text="I'm here with you."),
        )
        await complete_and_save(client, handle, escalation, specialist, name)
    await save(client, roster_id, f"{prefix}-roster")


async def record_staggered(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A crisis in the peer-support lane (`widen_after: 8s`): decline, a single offer, widening."""
    from warmline.escalation import DeclineRequest

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    assert policy.routing is not None
    assert policy.routing.crisis.widen_after > timedelta(0)
    name = "routed-stagger-crisis"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["crisis"])

    async def open_offers(count: int, *, skip: bool) -> tuple[EscalationView, list[Offer]]:
        while True:
            with contextlib.suppress(RPCError):
                view = await escalation.query(EscalationWorkflow.view)
                offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
                if len(offers) == count:
                    return view, offers
            if skip:
                await env.sleep(timedelta(seconds=1))
            await asyncio.sleep(0.2)

    view, [first] = await open_offers(1, skip=False)
    await escalation.execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(offer_id=first.offer_id, specialist_id=first.specialist_id, reason="busy"),
    )
    _, [second] = await open_offers(1, skip=False)
    assert second.specialist_id != first.specialist_id
    _, widened = await open_offers(2, skip=True)
    assert second.offer_id in {o.offer_id for o in widened}
    assert await env.get_current_time() >= view.entered_queue_at + policy.routing.crisis.widen_after
    specialist = second.specialist_id
    await accept_crisis(handle, escalation, second.offer_id, specialist)
    await complete_and_save(client, handle, escalation, specialist, name)
    await save(client, roster_id, "routed-stagger-roster")


async def record_orphan(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """An escalation whose conversation is gone by the time a specialist accepts."""
    client = env.client
    routing = peer_support_policy(task_queue, roster_id).routing
    assert routing is not None
    conversation = f"orphan-{uuid.uuid4().hex[:6]}"
    escalation = await client.start_workflow(
        EscalationWorkflow.run,
        lone_grief_escalation(routing, conversation),
        id=escalation_workflow_id("open-door", conversation, 1),
        task_queue=task_queue,
    )
    offer = await first_open_offer(escalation)
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
    )
    await escalation.result()
    await save(client, escalation.id, "routed-orphan-escalation")


async def record_departure(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A customer who leaves while their escalation still waits for an accept."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    handle, escalation = await open_conversation(
        client, task_queue, policy, "departure", ROUTED["grief"]
    )
    await first_open_offer(escalation)
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await handle.result()
    await escalation.result()
    await save_routed(client, handle, escalation, "routed-departure")


async def record_repeated_reply(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A specialist's client sends its reply and a triage correction twice (retries), then the
    customer leaves while the specialist still holds the conversation."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    handle, escalation = await open_conversation(
        client, task_queue, policy, "repeated-reply", ROUTED["grief"]
    )
    offer = await first_open_offer(escalation)
    specialist = offer.specialist_id
    await accept_crisis(handle, escalation, offer.offer_id, specialist)
    reply = SpecialistReply(specialist_id=specialist, message_id="s0", text="I'm here with you.")
    correction = TriageCorrection(specialist_id=specialist, labels=["grief"], note="not anger")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
        await handle.execute_update(ConversationWorkflow.correct_triage, correction)
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await handle.result()
    await save_routed(client, handle, escalation, "routed-repeated-reply")


async def record_retried(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A client's retries: a customer message sent twice, its id signalled again with other text,
    a signalled id too long to keep, an AI reply recorded twice, then a continue-as-new and the
    first message once more; no routing (`roster_id` is unused)."""
    client = env.client
    policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 2})
    handle = await start_acme(client, task_queue, "retried", policy)
    first = CustomerMessage(message_id="m0", text="Where is my parcel?")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.add_message, first)
    for message in (
        CustomerMessage(message_id="m0", text="other text"),
        CustomerMessage(message_id="x" * 300, text="hello"),
    ):
        await handle.signal(ConversationWorkflow.receive_message, message)
    reply = AIReply(message_id="ai0", text="It left our depot this morning.")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.record_reply, reply)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text="thank you")
    )
    latest = client.get_workflow_handle_for(ConversationWorkflow.run, handle.id)
    await latest.execute_update(ConversationWorkflow.add_message, first)
    await latest.signal(ConversationWorkflow.close, CloseRequest())
    await latest.result()
    for name, run_id in (
        ("conversation-retried", handle.first_execution_run_id),
        ("conversation-retried-continued", latest.result_run_id),
    ):
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")


async def record_long_transcript(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """AI replies of `MAX_MESSAGE_CHARS` over the transcript's character budget, then a
    continue-as-new carrying the newest turns within it; no routing (`roster_id` is unused)."""
    from warmline.conversation import MAX_MESSAGE_CHARS
    from workflows.conversation import TRANSCRIPT_CHARS_KEPT

    client = env.client
    policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 2})
    handle = await start_acme(client, task_queue, "long", policy)
    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m0", text="Where is my parcel?"),
    )
    for n in range(TRANSCRIPT_CHARS_KEPT // MAX_MESSAGE_CHARS + 1):
        reply = AIReply(message_id=f"ai{n}", text="x" * MAX_MESSAGE_CHARS)
        await handle.execute_update(ConversationWorkflow.record_reply, reply)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text="thank you")
    )
    latest = client.get_workflow_handle_for(ConversationWorkflow.run, handle.id)
    await latest.signal(ConversationWorkflow.close, CloseRequest())
    await latest.result()
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first.fetch_history()
    (HISTORIES / "conversation-long-transcript.json").write_text(history.to_json())
    print(f"recorded conversation-long-transcript: {len(history.events)} events")


async def record_assigned(
    env: WorkflowEnvironment, task_queue: str, roster_id: str, *, late: bool = False
) -> None:
    """A paged crisis a supervisor assigns to someone the wellness filter left out; `late`: 15 s
    after the page, and accepted 8 s after the assignment."""
    from temporalio.client import WorkflowUpdateFailedError

    from warmline.escalation import AssignRequest

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-late-assigned" if late else "routed-assigned"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["crisis"])
    while True:
        with contextlib.suppress(RPCError):
            if (await escalation.query(EscalationWorkflow.view)).paged_supervisor:
                break
        await env.sleep(timedelta(seconds=1))
        await asyncio.sleep(0.2)
    if late:
        await env.sleep(timedelta(seconds=15))
    with contextlib.suppress(WorkflowUpdateFailedError):
        await escalation.execute_update(
            EscalationWorkflow.assign,
            AssignRequest(supervisor_id="sup-night", specialist_id="staff-luis"),
        )
        raise AssertionError("staff-luis is on a break: the assignment must be refused")
    offer = await escalation.execute_update(
        EscalationWorkflow.assign,
        AssignRequest(
            supervisor_id="sup-night", specialist_id="staff-nia", reason="knows the caller"
        ),
    )
    if late:
        await env.sleep(timedelta(seconds=8))
    await accept_crisis(handle, escalation, offer.offer_id, "staff-nia")
    await complete_and_save(client, handle, escalation, "staff-nia", name)
    await save(client, roster_id, f"{name}-roster")


async def record_tenants(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """Two tenants' conversations of one id, both accepted and completed by vol-marcus."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    for person in ("vol-aoife", "staff-ren", "staff-nia", "staff-luis"):
        await set_availability(
            client, roster_id, AvailabilityRequest(specialist_id=person, available=False)
        )
    shared = f"tenants-{uuid.uuid4().hex[:6]}"
    handles = []
    for tenant in ("open-door", "other-door"):
        handle = await client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=tenant, conversation_id=shared, country="GB", policy=policy
            ),
            id=workflow_id(tenant, shared),
            task_queue=task_queue,
        )
        await handle.execute_update(
            ConversationWorkflow.add_message,
            CustomerMessage(message_id="m0", text=ROUTED["grief"]),
        )
        escalation = client.get_workflow_handle_for(
            EscalationWorkflow.run, escalation_workflow_id(tenant, shared, 1)
        )
        offer = await first_open_offer(escalation)
        assert offer.specialist_id == "vol-marcus", offer
        await accept_crisis(handle, escalation, offer.offer_id, offer.specialist_id)
        handles.append(handle)
    for handle in handles:
        await handle.execute_update(
            ConversationWorkflow.complete,
            CompleteRequest(specialist_id="vol-marcus", outcome="resolved"),
        )
        await handle.result()
    await save(client, roster_id, "routed-tenants-roster")


async def record_survey_crisis(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A grief handoff completed with the satisfaction survey on; during the survey the customer
    writes a crisis, which escalates again (patch marker `a-completion-ends-the-escalation`) and
    closes the survey. The crisis is accepted and completed, and the customer rates it. Only the
    conversation is saved (its escalations take the routed path recorded above)."""
    from warmline.conversation import SatisfactionRating

    client = env.client
    policy = peer_support_policy(task_queue, roster_id).model_copy(
        update={"satisfaction_survey": True}
    )
    name = "routed-survey-crisis"
    handle, grief = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(grief)
    await accept_crisis(handle, grief, offer.offer_id, offer.specialist_id)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=ROUTED["crisis"])
    )
    conversation = handle.id.rsplit("/", 1)[-1]
    crisis = client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("open-door", conversation, 2)
    )
    offer = await first_open_offer(crisis)
    await accept_crisis(handle, crisis, offer.offer_id, offer.specialist_id)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="referred"),
    )
    await handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=4))
    await handle.result()
    await save(client, handle.id, f"{name}-conversation")


async def start_shift(
    env: WorkflowEnvironment, task_queue: str, **changes: object
) -> WorkflowHandle[Any, Any]:
    """A new worker's wellness workflow with a three-hour shift starting in a minute, on the
    wellness tests' policy; `changes` go into its input."""
    from tests.wellness.test_shift import POLICY as SHIFT_POLICY
    from warmline.wellness.policy import Shift
    from warmline.wellness.types import WellnessInput, wellness_workflow_id
    from workflows.wellness import WellnessWorkflow

    start = (await env.get_current_time()).replace(microsecond=0) + timedelta(minutes=1)
    worker = f"sp-{uuid.uuid4().hex[:6]}"
    shift = Shift(shift_id="s-1", starts_at=start, ends_at=start + timedelta(hours=3))
    params = WellnessInput(
        deployment="recordings", worker_id=worker, policy=SHIFT_POLICY, shifts=[shift]
    )
    return await env.client.start_workflow(
        WellnessWorkflow.run,
        params.model_copy(update=changes),
        id=wellness_workflow_id("recordings", worker),
        task_queue=task_queue,
    )


async def record_wellness(env: WorkflowEnvironment, task_queue: str) -> None:
    """One worker's shift: work with a crisis and a hostile customer, check-ins, breaks, nudges."""
    from tests.wellness.test_shift import conversation
    from warmline.wellness.types import (
        BreakRequest,
        CheckInRequest,
        EndBreakRequest,
    )
    from workflows.wellness import WellnessWorkflow

    client = env.client
    handle = await start_shift(env, task_queue)
    minute = timedelta(minutes=1)
    await env.sleep(31 * minute)
    await handle.signal(
        WellnessWorkflow.record_exposure, conversation("c-1", 20, crisis=True, queue="crisis")
    )
    await env.sleep(40 * minute)
    await handle.execute_update(
        WellnessWorkflow.submit_checkin, CheckInRequest(mood=3, note="ok", break_now=True)
    )
    await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    await handle.signal(
        WellnessWorkflow.record_exposure,
        conversation("c-2", 90, distress=0.9, hostile=True, queue="grief"),
    )
    await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=5))
    await env.sleep(3 * 60 * minute)
    await save(client, handle.id, "wellness-shift")
    await handle.terminate()


async def record_wellness_policy(env: WorkflowEnvironment, task_queue: str) -> None:
    """A shift whose policy changes under it; the first run, to its continue-as-new, is saved."""
    from tests.wellness.test_shift import POLICY as SHIFT_POLICY
    from tests.wellness.test_shift import conversation
    from warmline.wellness.types import (
        BreakRequest,
        CheckInRequest,
    )
    from workflows.wellness import WellnessWorkflow

    client = env.client
    handle = await start_shift(env, task_queue, continue_as_new_after=5)
    minute = timedelta(minutes=1)
    await env.sleep(11 * minute)
    await handle.signal(
        WellnessWorkflow.record_exposure,
        conversation("c-1", 90, distress=0.5, queue="orders"),
    )
    redeployed = SHIFT_POLICY.model_copy(
        update={
            "scale_max": 10,
            "budget_per_shift": timedelta(hours=1),
            "checkin_cadence": timedelta(minutes=30),
            "break_duration": timedelta(minutes=20),
        }
    )
    await handle.signal(WellnessWorkflow.set_policy, redeployed)
    await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=8))
    await handle.execute_update(WellnessWorkflow.break_now, BreakRequest())
    await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-2", 5, distress=0.2, queue="orders")
    )
    while (await handle.describe()).run_id == handle.first_execution_run_id:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    answered = await handle.execute_update(WellnessWorkflow.submit_checkin, CheckInRequest(mood=10))
    assert answered.budget_minutes == 60, "the next run carries the policy it was handed"
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first.fetch_history()
    (HISTORIES / "wellness-policy-changed.json").write_text(history.to_json())
    print(f"recorded wellness-policy-changed: {len(history.events)} events")
    await handle.terminate()


async def record_wellness_retried(env: WorkflowEnvironment, task_queue: str) -> None:
    """A check-in with a break and a longer break asked for, each sent again 30 s later."""
    from warmline.wellness.types import BreakRequest, CheckInRequest, EndBreakRequest
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    await env.sleep(timedelta(minutes=2))
    retry_after = timedelta(seconds=30)
    answer = CheckInRequest(mood=2, note="a hard call", break_now=True)
    first = await handle.execute_update(WellnessWorkflow.submit_checkin, answer)
    await env.sleep(retry_after)
    retried = await handle.execute_update(WellnessWorkflow.submit_checkin, answer)
    assert retried.break_until == first.break_until, "the retry keeps the break"
    longer = BreakRequest(minutes=20)
    first = await handle.execute_update(WellnessWorkflow.break_now, longer)
    await env.sleep(retry_after)
    retried = await handle.execute_update(WellnessWorkflow.break_now, longer)
    assert retried.break_until == first.break_until, "the retry keeps the break"
    await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    state = await handle.query(WellnessWorkflow.state)
    assert (state.checkins_submitted, state.breaks_taken) == (1, 1)
    await save(env.client, handle.id, "wellness-retried")
    await handle.terminate()


async def record_wellness_stand_in(env: WorkflowEnvironment, task_queue: str) -> None:
    """Available a minute before HR's three-hour shift: the stand-in gives way at its start."""
    from tests.wellness.test_shift import conversation
    from warmline.wellness.types import Availability
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=True))
    await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-early", 20, distress=0.8, queue="grief")
    )
    await env.sleep(timedelta(minutes=30))
    await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-1", 30, distress=0.5, queue="grief")
    )
    await env.sleep(timedelta(hours=3))
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift is None
    assert state.shift_number == 2, "HR's shift ran, once"
    await save(env.client, handle.id, "wellness-stand-in")
    await handle.terminate()


async def record_wellness_sent_again(env: WorkflowEnvironment, task_queue: str) -> None:
    """Unavailable mid-shift, then the same shift from HR again: it carries on."""
    from tests.wellness.test_shift import conversation
    from warmline.wellness.types import Availability
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    await env.sleep(timedelta(minutes=10))
    await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-1", 30, distress=0.5, queue="grief")
    )
    shift = (await handle.query(WellnessWorkflow.state)).shift
    assert shift is not None
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=False))
    await env.sleep(timedelta(minutes=30))
    await handle.signal(WellnessWorkflow.shift_scheduled, shift)
    await env.sleep(timedelta(hours=3))
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift is None
    assert state.shift_number == 1, "the shift carried on, once"
    await save(env.client, handle.id, "wellness-shift-sent-again")
    await handle.terminate()


async def record_wellness_off_and_on(env: WorkflowEnvironment, task_queue: str) -> None:
    """Unavailable and available again during the break after a crisis: the break runs on."""
    from tests.wellness.test_shift import conversation
    from warmline.wellness.types import Availability
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    await env.sleep(timedelta(minutes=2))
    crisis = await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-1", 20, crisis=True, queue="crisis")
    )
    await handle.execute_update(WellnessWorkflow.set_availability, Availability(available=False))
    back = await handle.execute_update(
        WellnessWorkflow.set_availability, Availability(available=True)
    )
    assert back.break_until == crisis.break_until, "the break keeps its end"
    await env.sleep(timedelta(minutes=20))
    assert not (await handle.query(WellnessWorkflow.view)).on_break
    await save(env.client, handle.id, "wellness-off-and-on")
    await handle.terminate()


async def record_wellness_missed_checkin(env: WorkflowEnvironment, task_queue: str) -> None:
    """An end-of-shift check-in missed, then the next shift: its cadence check-in is asked."""
    from warmline.wellness.policy import Shift
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    first = (await handle.query(WellnessWorkflow.state)).upcoming[0]
    nxt = Shift(
        shift_id="s-2",
        starts_at=first.ends_at + timedelta(hours=1),
        ends_at=first.ends_at + timedelta(hours=4),
    )
    await handle.signal(WellnessWorkflow.shift_scheduled, nxt)
    while (left := nxt.starts_at + timedelta(hours=2, minutes=1) - await env.get_current_time()) > (
        timedelta(0)
    ):
        await env.sleep(min(left, timedelta(minutes=10)))
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift == nxt
    assert state.pending is not None
    assert state.pending.reason == "cadence", "the next shift's check-in is asked"
    await save(env.client, handle.id, "wellness-missed-checkin")
    await handle.terminate()


async def record_wellness_break_past_end(env: WorkflowEnvironment, task_queue: str) -> None:
    """A crisis ten minutes before the shift's end: its break runs five minutes past the end."""
    from tests.wellness.test_shift import conversation
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    shift = (await handle.query(WellnessWorkflow.state)).upcoming[0]
    while (left := shift.ends_at - timedelta(minutes=10) - await env.get_current_time()) > (
        timedelta(0)
    ):
        await env.sleep(min(left, timedelta(minutes=10)))
    crisis = await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-1", 20, crisis=True, queue="crisis")
    )
    await env.sleep(timedelta(minutes=12))
    after = await handle.query(WellnessWorkflow.view)
    assert not after.in_shift
    assert after.break_until == crisis.break_until, "the break keeps its end"
    await env.sleep(timedelta(minutes=10))
    assert not (await handle.query(WellnessWorkflow.view)).on_break
    await save(env.client, handle.id, "wellness-break-past-end")
    await handle.terminate()


async def record_wellness_versioned_view(env: WorkflowEnvironment, task_queue: str) -> None:
    """A break asked for and ended in a shift: each view written has a higher version."""
    from warmline.wellness.types import BreakRequest, EndBreakRequest
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    await env.sleep(timedelta(minutes=2))
    on_break = await handle.execute_update(WellnessWorkflow.break_now, BreakRequest(minutes=15))
    assert on_break.on_break
    await env.sleep(timedelta(minutes=1))
    ended = await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())
    assert not ended.on_break
    await save(env.client, handle.id, "wellness-versioned-view")
    await handle.terminate()


async def record_wellness_late_work(env: WorkflowEnvironment, task_queue: str) -> None:
    """A conversation taken twenty minutes before the shift's end and finished ten minutes after
    it: it counts in the shift, and no stand-in shift starts for it."""
    from tests.wellness.test_shift import conversation
    from workflows.wellness import WellnessWorkflow

    handle = await start_shift(env, task_queue)
    shift = (await handle.query(WellnessWorkflow.state)).upcoming[0]
    while (left := shift.ends_at + timedelta(minutes=10) - await env.get_current_time()) > (
        timedelta(0)
    ):
        await env.sleep(min(left, timedelta(minutes=10)))
    late = await handle.execute_update(
        WellnessWorkflow.record_work, conversation("c-1", 30, distress=0.8, queue="grief")
    )
    assert not late.in_shift, "no stand-in shift for it"
    assert late.exposure_minutes == 60
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift_number == 1
    await save(env.client, handle.id, "wellness-late-work")
    await handle.terminate()


async def record_late_departure(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """The first offer is declined, and the customer leaves while the next one is open."""
    from warmline.escalation import DeclineRequest

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-late-departure"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    first = await first_open_offer(escalation)
    await escalation.execute_update(
        EscalationWorkflow.decline,
        DeclineRequest(offer_id=first.offer_id, specialist_id=first.specialist_id, reason="busy"),
    )
    while (await first_open_offer(escalation)).offer_id == first.offer_id:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await handle.result()
    await escalation.result()
    await save_routed(client, handle, escalation, name)


async def record_withdrawn(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """The first offer is withdrawn (its specialist marked themselves unavailable); the next one
    is accepted."""

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-withdrawn"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    first = await first_open_offer(escalation)
    away = AvailabilityRequest(specialist_id=first.specialist_id, available=False)
    await set_availability(client, roster_id, away)
    await escalation.execute_update(
        EscalationWorkflow.withdraw,
        WithdrawRequest(
            offer_id=first.offer_id, specialist_id=first.specialist_id, reason="marked unavailable"
        ),
    )
    while (second := await first_open_offer(escalation)).offer_id == first.offer_id:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=second.offer_id, specialist_id=second.specialist_id),
    )
    await escalation.result()
    await complete_and_save(client, handle, escalation, second.specialist_id, name)


async def record_crisis_upgrade(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A grief waits for an accept; the customer writes a crisis, which moves the conversation to
    the crisis lane, where the first offer is accepted and completed."""
    name = "routed-crisis-upgrade"
    handle, _, crisis, specialist = await upgrade_a_waiting_grief(env, task_queue, roster_id, name)
    await complete_and_save(env.client, handle, crisis, specialist, name)


async def record_crisis_called_off(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """As `record_crisis_upgrade`, now that the conversation tells the `listening` escalation why
    it cancels it: the called-off escalation is the one saved."""
    name = "routed-crisis-called-off"
    handle, grief, _, specialist = await upgrade_a_waiting_grief(env, task_queue, roster_id, name)
    await complete_and_save(env.client, handle, grief, specialist, name)


async def upgrade_a_waiting_grief(
    env: WorkflowEnvironment, task_queue: str, roster_id: str, name: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowHandle[Any, Any], WorkflowHandle[Any, Any], str]:
    """A grief waiting for an accept, then a crisis from the customer: the conversation, its
    `listening` escalation (ended), its crisis lane's escalation, and the crisis-trained
    specialist who accepted that lane's first offer."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    handle, grief = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    await first_open_offer(grief)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=ROUTED["crisis"])
    )
    await grief.result()
    conversation = handle.id.rsplit("/", 1)[-1]
    crisis = client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("open-door", conversation, 2)
    )
    offer = await first_open_offer(crisis)
    await accept_crisis(handle, crisis, offer.offer_id, offer.specialist_id)
    return handle, grief, crisis, offer.specialist_id


async def record_retried_ends(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A transfer and a completion each sent twice (the survey on, so the conversation waits for
    the rating), and in a second conversation a hand-back sent twice."""
    from warmline.conversation import HandBackRequest, SatisfactionRating, TransferRequest

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    surveyed = policy.model_copy(update={"satisfaction_survey": True})
    name = "routed-retried-ends"
    handle, first = await open_conversation(client, task_queue, surveyed, name, ROUTED["grief"])
    offer = await first_open_offer(first)
    await accept_crisis(handle, first, offer.offer_id, offer.specialist_id)
    transfer = TransferRequest(specialist_id=offer.specialist_id, queue="crisis", note="not eating")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.transfer, transfer)
    conversation = handle.id.rsplit("/", 1)[-1]
    crisis = client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("open-door", conversation, 2)
    )
    second = await first_open_offer(crisis)
    await accept_crisis(handle, crisis, second.offer_id, second.specialist_id)
    complete = CompleteRequest(specialist_id=second.specialist_id, outcome="resolved")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.complete, complete)
    await handle.execute_update(ConversationWorkflow.rate, SatisfactionRating(score=5))
    await handle.result()
    await save(client, handle.id, f"{name}-conversation")

    name = "routed-retried-hand-back"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    await accept_crisis(handle, escalation, offer.offer_id, offer.specialist_id)
    hand_back = HandBackRequest(specialist_id=offer.specialist_id, note="calmer now")
    for _ in range(2):
        await handle.execute_update(ConversationWorkflow.hand_back, hand_back)
    await handle.signal(ConversationWorkflow.close, CloseRequest())
    await handle.result()
    await save(client, handle.id, f"{name}-conversation")


async def record_quiet_spell(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """Replies well into a quiet spell restart it: the AI's in a conversation without routing, a
    specialist's in a grief handed off through the roster; each closes for inactivity a whole
    timeout after the reply."""
    client = env.client
    handle = await start_acme(client, task_queue, "quiet")
    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m0", text="Where is my parcel?"),
    )
    await env.sleep(POLICY.inactivity_timeout - timedelta(minutes=5))
    await handle.execute_update(
        ConversationWorkflow.record_reply,
        AIReply(message_id="ai0", text="It left our depot this morning."),
    )
    assert (await handle.result()).closed_reason == "inactivity"
    await save(client, handle.id, "conversation-quiet-spell")

    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-quiet-spell"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    specialist = offer.specialist_id
    await accept_crisis(handle, escalation, offer.offer_id, specialist)
    await env.sleep(policy.inactivity_timeout - timedelta(minutes=5))
    await handle.execute_update(
        ConversationWorkflow.specialist_reply,
        SpecialistReply(specialist_id=specialist, message_id="s0", text="I'm here with you."),
    )
    assert (await handle.result()).closed_reason == "inactivity"
    await save(client, handle.id, f"{name}-conversation")


@contextlib.contextmanager
def triage_held(message_id: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """While inside, the lexicon's triage of `message_id` sets `held` and waits for `released`
    (at most 30 s), so a recording can act while that message is being triaged; leaving releases
    it and puts the lexicon back."""
    from warmline.triage.types import TriageRequest, TriageResult

    triage = LexiconProvider.triage
    held, released = threading.Event(), threading.Event()

    def holding(provider: LexiconProvider, request: TriageRequest) -> TriageResult:
        if request.message_id == message_id:
            held.set()
            released.wait(30)
        return triage(provider, request)

    setattr(LexiconProvider, "triage", holding)  # noqa: B010 - a method swapped for one recording
    try:
        yield held, released
    finally:
        released.set()
        setattr(LexiconProvider, "triage", triage)  # noqa: B010


async def record_rating_after_close(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """A grief completed with the survey on; the customer thanks the specialist and rates while
    that message is triaged, and leaves before the triage is done: the rating, accepted and
    waiting for the message's turn, is refused once it runs, the conversation closed."""

    from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

    from warmline.conversation import SatisfactionRating

    client = env.client
    policy = peer_support_policy(task_queue, roster_id).model_copy(
        update={"satisfaction_survey": True, "triage_as_local_activity": False}
    )
    name = "routed-rating-after-close"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    await accept_crisis(handle, escalation, offer.offer_id, offer.specialist_id)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    thanks = CustomerMessage(message_id="m-thanks", text="Thank you for listening to me")
    with triage_held(thanks.message_id) as (held, released):
        message = asyncio.create_task(
            handle.execute_update(ConversationWorkflow.add_message, thanks)
        )
        assert await asyncio.to_thread(held.wait, 30)
        rating = await handle.start_update(
            ConversationWorkflow.rate,
            SatisfactionRating(score=5),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
        released.set()
        await message
    with pytest.raises(WorkflowUpdateFailedError, match="Workflow update failed") as refused:
        await rating.result()
    assert "the survey is over" in str(refused.value.cause)
    outcome = await handle.result()
    assert (outcome.closed_reason, outcome.satisfaction) == ("customer_left", None)
    await save(client, handle.id, f"{name}-conversation")


async def record_replayed_package(
    env: WorkflowEnvironment, publisher: EventPublisher, renderer: HandoffRenderer
) -> None:
    """A grief acknowledged and a crisis replied to as soon as the view shows the package, on a
    worker that caches no run (the validator runs before the render's result is applied)."""
    from temporalio.client import WorkflowUpdateFailedError

    from tests.workflows.test_conversation import uncached_handoff_worker
    from warmline.escalation import Assignment

    client = env.client
    specialist = "vol-aoife"
    aoife = SpecialistAction(specialist_id=specialist)
    reply = SpecialistReply(specialist_id=specialist, message_id="s0", text="I'm here with you.")
    async with uncached_handoff_worker(client, publisher, renderer, "record-uncached"):
        for case, text, queue in (
            ("acknowledgement", "My father died and I am devastated", "bereavement"),
            ("reply", ROUTED["crisis"], "crisis"),
        ):
            handle = await start_acme(client, "record-uncached", f"replayed-{case}")
            await handle.execute_update(
                ConversationWorkflow.add_message, CustomerMessage(message_id="m0", text=text)
            )
            await handle.signal(
                ConversationWorkflow.assigned,
                Assignment(
                    specialist_id=specialist,
                    queue=queue,
                    offer_id="offer-1",
                    sequence=1,
                    accepted_at=await env.get_current_time(),
                    waited=timedelta(0),
                ),
            )
            while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if case == "acknowledgement":
                await handle.execute_update(ConversationWorkflow.acknowledge_risk, aoife)
            else:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
                assert "before replying" in str(refused.value.cause)
                await handle.execute_update(ConversationWorkflow.acknowledge_risk, aoife)
            await handle.execute_update(ConversationWorkflow.specialist_reply, reply)
            await handle.execute_update(
                ConversationWorkflow.complete,
                CompleteRequest(specialist_id=specialist, outcome="resolved"),
            )
            assert (await handle.result()).closed_reason == "completed"
            await save(client, handle.id, f"conversation-replayed-{case}")


async def record_view_behind(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """Redis refuses every write of the accepted escalation's view (two changes of three quick
    attempts each) and the first attempt of the final write, which the escalation then retries."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-view-behind"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    apply = LiveView.apply
    refusals = 7

    def refusing(live_view: LiveView, view: EscalationView) -> bool:
        nonlocal refusals
        if view.status is not EscalationStatus.WAITING and refusals > 0:
            refusals -= 1
            raise redis.ConnectionError("Redis is restarting (recording)")
        return apply(live_view, view)

    setattr(LiveView, "apply", refusing)  # noqa: B010 - a method swapped for one recording
    try:
        await escalation.execute_update(
            EscalationWorkflow.accept,
            AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
        )
        await escalation.result()
    finally:
        setattr(LiveView, "apply", apply)  # noqa: B010
    assert refusals == 0
    await complete_and_save(client, handle, escalation, offer.specialist_id, name)


async def record_rechecked(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """The live view shows the first offer only after its specialist went unavailable and the
    withdrawal found nothing to take back; the escalation's recheck withdraws it."""

    from activities.offers import MARKED_UNAVAILABLE, withdraw_offers

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-rechecked"
    apply = LiveView.apply
    shown: list[Offer] = []
    views: list[LiveView] = []
    held, opened = threading.Event(), threading.Event()

    def late(live_view: LiveView, view: EscalationView) -> bool:
        offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
        if offers and not held.is_set():
            shown.extend(offers)
            views.append(live_view)
            held.set()
            opened.wait(30)
        return apply(live_view, view)

    setattr(LiveView, "apply", late)  # noqa: B010 - a method swapped for one recording
    try:
        handle, escalation = await open_conversation(
            client, task_queue, policy, name, ROUTED["grief"]
        )
        assert await asyncio.to_thread(held.wait, 30)
        [first] = shown
        away = AvailabilityRequest(specialist_id=first.specialist_id, available=False)
        await set_availability(client, roster_id, away)
        # The withdrawal reads the worker's live view before it shows the offer: nothing to take.
        assert not await withdraw_offers(client, views[0], first.specialist_id, MARKED_UNAVAILABLE)
        opened.set()
        while (second := await first_open_offer(escalation)).offer_id == first.offer_id:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    finally:
        opened.set()
        setattr(LiveView, "apply", apply)  # noqa: B010
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=second.offer_id, specialist_id=second.specialist_id),
    )
    await escalation.result()
    await complete_and_save(client, handle, escalation, second.specialist_id, name)


async def record_declined_departure(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """The first offer is declined, and the customer leaves while its roster release runs."""
    from activities.routing import RosterActivities
    from warmline.escalation import DeclineRequest
    from workflows.roster import RosterWorkflow

    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-declined-departure"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    first = await first_open_offer(escalation)
    update = RosterActivities._update
    releasing, leave = asyncio.Event(), asyncio.Event()

    async def held(activities: RosterActivities, roster: str, method: Any, argument: Any) -> Any:
        if method is RosterWorkflow.release and not releasing.is_set():
            releasing.set()
            await leave.wait()
        return await update(activities, roster, method, argument)

    async def cancel_taken() -> None:
        """Until the escalation has run the workflow task that took the cancel."""
        while True:
            events = (await escalation.fetch_history()).events
            asked = [
                e.event_id
                for e in events
                if e.HasField("workflow_execution_cancel_requested_event_attributes")
            ]
            if asked and any(
                e.event_id > asked[0] and e.HasField("workflow_task_completed_event_attributes")
                for e in events
            ):
                return
            await asyncio.sleep(0.2)

    setattr(RosterActivities, "_update", held)  # noqa: B010 - a method swapped for one recording
    try:
        await escalation.execute_update(
            EscalationWorkflow.decline,
            DeclineRequest(
                offer_id=first.offer_id, specialist_id=first.specialist_id, reason="busy"
            ),
        )
        await asyncio.wait_for(releasing.wait(), timeout=30)
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
        await asyncio.wait_for(cancel_taken(), timeout=30)
    finally:
        leave.set()
        setattr(RosterActivities, "_update", update)  # noqa: B010
    await handle.result()
    await escalation.result()
    await save(client, escalation.id, f"{name}-escalation")


async def record_completed_as_the_run_ends(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """A grief handed off in a run of two messages; the specialist completes while the run's last
    message is triaged (held): the conversation closes rather than continue as new."""

    from temporalio.client import WorkflowUpdateStage

    client = env.client
    policy = peer_support_policy(task_queue, roster_id).model_copy(
        update={"max_messages_before_continue_as_new": 2, "triage_as_local_activity": False}
    )
    name = "routed-completed-as-the-run-ends"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    await accept_crisis(handle, escalation, offer.offer_id, offer.specialist_id)
    thanks = CustomerMessage(message_id="m-thanks", text="Thank you, that helps a little")
    with triage_held(thanks.message_id) as (held, released):
        message = await handle.start_update(
            ConversationWorkflow.add_message,
            thanks,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        assert await asyncio.to_thread(held.wait, 30)
        completion = await handle.start_update(
            ConversationWorkflow.complete,
            CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        released.set()
        await message.result()
        await completion.result()
    outcome = await handle.result()
    assert outcome.closed_reason == "completed"
    assert (await handle.describe()).run_id == handle.first_execution_run_id
    await save(client, handle.id, f"{name}-conversation")


async def record_paged_again(
    env: WorkflowEnvironment, task_queue: str, roster_id: str, name: str = "routed-paged-again"
) -> None:
    """A crisis nobody accepts in time, offered to the lane again with the page; then accepted."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["crisis"])
    while True:
        with contextlib.suppress(RPCError):
            view = await escalation.query(EscalationWorkflow.view)
            paged_at = view.paged_at
            again = [
                o
                for o in view.offers
                if o.status is OfferStatus.OPEN
                and paged_at is not None
                and o.created_at >= paged_at
            ]
            if again:
                break
        await env.sleep(timedelta(seconds=1))
        await asyncio.sleep(0.2)
    await accept_crisis(handle, escalation, again[0].offer_id, again[0].specialist_id)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=again[0].specialist_id, outcome="resolved"),
    )
    await handle.result()
    await save(client, escalation.id, f"{name}-escalation")


async def record_live_view_open_offers(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """The paged-again crisis, its live-view writes carrying only the open offers."""
    await record_paged_again(env, task_queue, roster_id, name="routed-live-view-open-offers")


async def record_rule_crisis_flags(
    env: WorkflowEnvironment, task_queue: str, roster_id: str
) -> None:
    """An abuse message, not a crisis of the deployment, escalated by a rule on `not crisis`."""
    from warmline.conversation import RuleSpec
    from warmline.triage.types import RiskFlag

    policy = POLICY.model_copy(
        update={
            "rules": [
                RuleSpec(
                    name="distressed",
                    when="distress >= 0.8 and not crisis",
                    queue="care",
                    priority=80,
                    reason="The customer is very distressed.",
                )
            ],
            "crisis_flags": [f for f in RiskFlag if f.is_crisis and f is not RiskFlag.ABUSE],
        }
    )
    name = "conversation-rule-crisis-flags"
    handle = await start_acme(env.client, task_queue, name, policy)
    answer = await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(
            message_id="m0", text="My husband is going to kill me when he sees the bill"
        ),
    )
    assert answer.escalated
    assert not answer.crisis
    await handle.signal(ConversationWorkflow.close, CloseRequest())
    await handle.result()
    await save(env.client, handle.id, name)


async def record_waited(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A grief whose first offer is accepted, then completed."""
    client = env.client
    policy = peer_support_policy(task_queue, roster_id)
    name = "routed-waited"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["grief"])
    offer = await first_open_offer(escalation)
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
    )
    await escalation.result()
    while (await handle.query(ConversationWorkflow.view)).handoff is None:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id=offer.specialist_id, outcome="resolved"),
    )
    await handle.result()
    await save(client, escalation.id, f"{name}-escalation")


async def record_continued(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A paged crisis nobody accepts until its escalation has continued as new (its history bound
    lowered), then accepted in the next run: the first run and the accepted one are saved."""
    from tests.workflows.test_escalation_continue_as_new import (
        continued,
        open_offers,
        runs_of,
        start_crisis,
    )

    policy = peer_support_policy(task_queue, roster_id)
    _, escalation = await start_crisis(env, policy, task_queue)
    await continued(env, escalation, 1)
    [offer, *_] = await open_offers(escalation)
    await escalation.execute_update(
        EscalationWorkflow.accept,
        AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
    )
    await escalation.result()
    first, *_, last = await runs_of(env, escalation)
    for name, history in (("routed-continued", first), ("routed-continued-accepted", last)):
        (HISTORIES / f"{name}-escalation.json").write_text(history.to_json())
        print(f"recorded {name}-escalation: {len(history.events)} events")


async def record_continued_left(env: WorkflowEnvironment, task_queue: str, roster_id: str) -> None:
    """A crisis whose escalation, started by the conversation, continues as new (its history
    bound lowered); then the customer leaves and the conversation cancels it by workflow id."""
    from tests.workflows.test_escalation_continue_as_new import continued, lowered, open_offers

    client = env.client
    policy = lowered(peer_support_policy(task_queue, roster_id))
    name = "routed-continued-left"
    handle, escalation = await open_conversation(client, task_queue, policy, name, ROUTED["crisis"])
    await continued(env, escalation, 1)
    await open_offers(escalation)
    await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    await handle.result()
    await escalation.result()
    await save(client, handle.id, f"{name}-conversation")


Recording = Callable[[WorkflowEnvironment, str, str], Awaitable[None]]
ONE_RECORDING: dict[str, Recording] = {
    "departure": record_departure,
    "late-departure": record_late_departure,
    "repeated-reply": record_repeated_reply,
    "orphan": record_orphan,
    "stagger": record_staggered,
    "survey-crisis": record_survey_crisis,
    "tenants": record_tenants,
    "withdrawn": record_withdrawn,
    "view-behind": record_view_behind,
    "rechecked": record_rechecked,
    "retried": record_retried,
    "crisis-upgrade": record_crisis_upgrade,
    "crisis-called-off": record_crisis_called_off,
    "retried-ends": record_retried_ends,
    "long-transcript": record_long_transcript,
    "quiet-spell": record_quiet_spell,
    "rating-after-close": record_rating_after_close,
    "completed-as-the-run-ends": record_completed_as_the_run_ends,
    "rule-crisis-flags": record_rule_crisis_flags,
    "declined-departure": record_declined_departure,
    "paged-again": record_paged_again,
    "live-view-open-offers": record_live_view_open_offers,
    "waited": record_waited,
    "continued": record_continued,
    "continued-left": record_continued_left,
}
"""The groups that are one recording on a roster of their own."""


GROUPS: tuple[str, ...] = (
    "newest",
    "wellness",
    "wellness-policy",
    "wellness-retried",
    "wellness-stand-in",
    "wellness-sent-again",
    "wellness-off-and-on",
    "wellness-missed-checkin",
    "wellness-break-past-end",
    "wellness-late-work",
    "wellness-versioned-view",
    "cover",
    "responder",
    "assigned",
    "late-assigned",
    "replayed-package",
    *ONE_RECORDING,
)
"""The groups `main` records one at a time; anything else is refused rather than taken for
everything, which would overwrite every recorded history."""


async def main(only: str | None = None) -> None:
    """Record everything, or with `only` one of `GROUPS`."""
    services = {ServiceName.KAFKA, ServiceName.REDIS}
    with LocalServices(only=services, embedded=True) as endpoints:
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        publisher = EventPublisher.connect(endpoints.kafka, topic="recordings")
        live_view = LiveView.connect(endpoints.redis, prefix="recordings")
        config = load_config(PEER_SUPPORT, resolve_secrets=False)
        from redis import Redis

        from warmline.wellness.view import WellnessStateStore, WorkerWellness

        wellness = WellnessStateStore(
            Redis.from_url(endpoints.redis), deployment="recordings", prefix="recordings"
        )
        routing = Routing(
            roster=roster_settings(config),
            live_view=live_view,
            renderer=renderer_from_config(config),
            wellness=wellness,
        )
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(temporal_test_server_path()),
        )
        try:
            with ThreadPoolExecutor(ACTIVITY_THREADS) as pool:
                worker = build_worker(
                    env.client,
                    provider=LexiconProvider(),
                    publisher=publisher,
                    task_queue="record",
                    executor=pool,
                    routing=routing,
                )

                async def own_roster(name: str) -> str:
                    """A fresh roster for one recording, so its history holds only that one."""
                    roster_id = f"roster/{name}/record"
                    await ensure_roster(env.client, roster_id, routing.roster, task_queue="record")
                    return roster_id

                async with worker:
                    if only in ONE_RECORDING:
                        roster_id = await own_roster(f"recordings-{only}")
                        await ONE_RECORDING[only](env, "record", roster_id)
                        return
                    if only in {"assigned", "late-assigned"}:
                        wellness.write(WorkerWellness(worker_id="staff-nia", crisis_blocked=True))
                        for person in ("staff-ren", "staff-luis"):
                            wellness.write(WorkerWellness(worker_id=person, on_break=True))
                        roster_id = await own_roster(f"recordings-{only}")
                        await record_assigned(
                            env, "record", roster_id, late=only == "late-assigned"
                        )
                        return
                    if only in {"cover", "responder"}:
                        # Staff-ren goes home in an hour; staff-nia and staff-luis are the
                        # evening's crisis cover. The grief goes to vol-aoife, the crisis to
                        # staff-ren, whose shift ends lowest (by exposure now: staff-nia). With
                        # the held responder the grief goes to vol-aoife too: staff-ren, the
                        # next crisis's first choice, is held back from it.
                        ends = await env.get_current_time() + timedelta(hours=6)
                        for person, exposure, hours in (
                            ("staff-ren", 155.0, 1),
                            ("staff-nia", 10.0, 6),
                            ("staff-luis", 20.0, 6),
                            ("vol-aoife", 0.0, 6),
                            ("vol-marcus", 100.0, 6),
                        ):
                            wellness.write(
                                WorkerWellness(
                                    worker_id=person,
                                    exposure_minutes=exposure,
                                    budget_pace=0.5,
                                    shift_ends_at=ends - timedelta(hours=6 - hours),
                                )
                            )
                        roster_id = await own_roster(f"recordings-{only}")
                        await record_routed(
                            env.client, "record", roster_id, prefix=f"routed-{only}"
                        )
                        return
                    if only == "replayed-package":
                        await record_replayed_package(env, publisher, routing.renderer)
                        return
                    wellness_recordings = {
                        "wellness-policy": record_wellness_policy,
                        "wellness-retried": record_wellness_retried,
                        "wellness-stand-in": record_wellness_stand_in,
                        "wellness-sent-again": record_wellness_sent_again,
                        "wellness-off-and-on": record_wellness_off_and_on,
                        "wellness-missed-checkin": record_wellness_missed_checkin,
                        "wellness-break-past-end": record_wellness_break_past_end,
                        "wellness-late-work": record_wellness_late_work,
                        "wellness-versioned-view": record_wellness_versioned_view,
                    }
                    if only in wellness_recordings:
                        recording = wellness_recordings[only]
                        await recording(env, "record")
                        return
                    if only == "wellness":
                        await record_wellness(env, "record")
                        # Two of the team on a break: the roster ranks around them.
                        for person in ("staff-ren", "vol-aoife"):
                            wellness.write(WorkerWellness(worker_id=person, on_break=True))
                        roster_id = await own_roster("recordings-wellness")
                        await record_routed(
                            env.client, "record", roster_id, prefix="routed-wellness"
                        )
                        return
                    scripts = SCRIPTS
                    if only == "newest":
                        scripts = {n: v for n, v in SCRIPTS.items() if NEWEST in n}
                    await record(env.client, "record", scripts)
                    roster_id = await own_roster("recordings")
                    await record_routed(env.client, "record", roster_id, prefix="routed-local")
        finally:
            await env.shutdown()
            publisher.close()
            live_view.close()
            wellness.close()


def parse_group(argv: list[str]) -> str | None:
    """The group named on the command line (`None` for `all`); a usage error for anything else."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.workflows.record_histories",
        description="Record workflow histories into tests/histories/.",
    )
    parser.add_argument("group", choices=("all", *GROUPS), help="what to record")
    group: str = parser.parse_args(argv).group
    return None if group == "all" else group


if __name__ == "__main__":
    asyncio.run(main(parse_group(sys.argv[1:])))
