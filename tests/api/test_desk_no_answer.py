"""The specialist desk with no worker polling the task queue, on the time-skipping server: every
call that waits for a workflow ends `UNAVAILABLE` ("the workflow did not answer in time; try
again") once the desk's bound passes, instead of waiting for ever.

The desk runs with its default bound (`RPC_TIMEOUT`, 15 s): the SDK's `rpc_timeout` bounds one
RPC of an update, which polls again for as long as the server answers "not yet", and the
time-skipping server answers so before a 15 s RPC times out (not before a 2 s one), so only the
desk's bound on the whole call ends it. Real time-skipping server, real gRPC channel; the workers
are simply not started. The calls run side by side, so each test waits one bound, not one per
call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.routing import ensure_roster
from tests.api.conftest import TENANT, Api, bearer, run_api
from tests.api.test_workers_down import waiting_escalation
from tests.no_answer import no_answer
from warmline.api.auth import NO_ANSWER_MESSAGE
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.conversation import ConversationInput, workflow_id
from warmline.liveview import LiveView
from warmline.runtime import roster_settings
from workflows.conversation import ConversationWorkflow
from workflows.roster import RosterWorkflow

SPECIALIST = "vol-aoife"
CONVERSATION = "c-unattended"
ROSTER = "roster/unattended"


@dataclass
class Unattended:
    """A specialist API whose workflows nobody runs."""

    env: WorkflowEnvironment
    api: Api
    task_queue: str
    live_view: LiveView


@pytest.fixture
async def unattended(
    workflow_env: WorkflowEnvironment, peer_support: WarmlineConfig, redis_url: str
) -> AsyncIterator[Unattended]:
    task_queue = f"nobody-polls-{uuid.uuid4()}"
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    await ensure_roster(
        workflow_env.client, ROSTER, roster_settings(peer_support), task_queue=task_queue
    )
    with redis.Redis.from_url(redis_url) as raw:  # built, as after a rebuild: no rebuild runs
        await asyncio.to_thread(raw.set, f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    live_view = LiveView.connect(redis_url, prefix=prefix)
    await workflow_env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id=TENANT, conversation_id=CONVERSATION),
        id=workflow_id(TENANT, CONVERSATION),
        task_queue=task_queue,
    )
    try:
        async for api in run_api(
            workflow_env.client,
            live_view,
            peer_support,
            task_queue=task_queue,
            roster_id=ROSTER,
            handoff_wait=timedelta(0),
        ):
            yield Unattended(workflow_env, api, task_queue, live_view)
    finally:
        live_view.close()


async def test_every_call_that_waits_for_a_workflow_is_unavailable_with_no_worker(
    unattended: Unattended,
) -> None:
    stub = unattended.api.stub
    me = bearer(SPECIALIST)
    ref = {"tenant_id": TENANT, "conversation_id": CONVERSATION}
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "Reply": lambda: stub.Reply(
            pb.ReplyRequest(**ref, message_id="m-1", text="I'm here."), metadata=me
        ),
        "AcknowledgeRisk": lambda: stub.AcknowledgeRisk(
            pb.AcknowledgeRiskRequest(**ref), metadata=me
        ),
        "CorrectTriage": lambda: stub.CorrectTriage(
            pb.CorrectTriageRequest(**ref, labels=["grief"]), metadata=me
        ),
        "Complete": lambda: stub.Complete(
            pb.CompleteRequest(**ref, outcome="resolved"), metadata=me
        ),
        "HandBack": lambda: stub.HandBack(
            pb.HandBackRequest(**ref, note="over to you"), metadata=me
        ),
        "GetConversation": lambda: stub.GetConversation(
            pb.GetConversationRequest(**ref), metadata=me
        ),
        "SetAvailability": lambda: stub.SetAvailability(
            pb.SetAvailabilityRequest(available=True), metadata=me
        ),
    }
    details = await asyncio.gather(*(no_answer(call()) for call in calls.values()))
    answers = dict(zip(calls, details, strict=True))
    assert answers == dict.fromkeys(calls, NO_ANSWER_MESSAGE)


async def test_an_accept_with_no_worker_is_unavailable_and_leaves_no_claim(
    unattended: Unattended,
) -> None:
    view = waiting_escalation("c-offered", SPECIALIST)
    await unattended.env.client.start_workflow(
        "EscalationWorkflow", view, id=view.escalation_id, task_queue=unattended.task_queue
    )
    await asyncio.to_thread(unattended.live_view.apply, view)

    details = await no_answer(
        unattended.api.stub.Accept(
            pb.AcceptRequest(offer_id=view.offers[0].offer_id), metadata=bearer(SPECIALIST)
        )
    )

    assert details == NO_ANSWER_MESSAGE
    holder = await asyncio.to_thread(unattended.live_view.claim_holder, TENANT, "c-offered")
    assert holder is None, "the claim of an accept that did not go through is released"


async def test_going_unavailable_with_an_offer_nobody_answers_for_is_unavailable(
    workflow_env: WorkflowEnvironment, peer_support: WarmlineConfig, redis_url: str
) -> None:
    """The roster answers (a worker runs it), the escalation whose offer is withdrawn does not."""
    roster_queue = f"roster-{uuid.uuid4()}"
    unpolled = f"nobody-polls-{uuid.uuid4()}"
    roster = f"roster/{uuid.uuid4().hex[:8]}"
    await ensure_roster(
        workflow_env.client, roster, roster_settings(peer_support), task_queue=roster_queue
    )
    view = waiting_escalation("c-withdrawn", SPECIALIST)
    await workflow_env.client.start_workflow(
        "EscalationWorkflow", view, id=view.escalation_id, task_queue=unpolled
    )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(redis_url) as raw:  # built, as after a rebuild: no rebuild runs
        await asyncio.to_thread(raw.set, f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    live_view = LiveView.connect(redis_url, prefix=prefix)
    try:
        await asyncio.to_thread(live_view.apply, view)
        async with Worker(workflow_env.client, task_queue=roster_queue, workflows=[RosterWorkflow]):
            async for api in run_api(
                workflow_env.client, live_view, peer_support, roster_id=roster
            ):
                details = await no_answer(
                    api.stub.SetAvailability(
                        pb.SetAvailabilityRequest(available=False), metadata=bearer(SPECIALIST)
                    )
                )
    finally:
        live_view.close()

    assert details == NO_ANSWER_MESSAGE
