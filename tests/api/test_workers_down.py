"""The specialist API when a workflow's workers are down: calls end UNAVAILABLE after the desk's
deadline instead of hanging, and an accept that did not go through leaves no claim behind."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tests.api.conftest import TENANT, IdleDeployment, bearer
from tests.api.test_flow import refused
from warmline.api.v1 import specialist_pb2 as pb
from warmline.conversation import ConversationInput, workflow_id
from warmline.escalation import (
    EscalationStatus,
    EscalationView,
    Offer,
    OfferStatus,
    escalation_workflow_id,
    offer_id,
)
from workflows.conversation import ConversationWorkflow

NO_ANSWER = "the workflow did not answer in time; try again"
CLIENT_DEADLINE_S = 5.0
"""Longer than the idle desk's one-second wait: a call that hangs ends DEADLINE_EXCEEDED."""


def waiting_escalation(conversation: str, specialist: str) -> EscalationView:
    escalation = escalation_workflow_id(TENANT, conversation, 1)
    now = datetime.now(UTC)
    offer = Offer(
        offer_id=offer_id(escalation, 1),
        specialist_id=specialist,
        tenant_id=TENANT,
        conversation_id=conversation,
        queue="listening",
        priority=50,
        reason="grief",
        crisis=False,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        status=OfferStatus.OPEN,
    )
    return EscalationView(
        escalation_id=escalation,
        version=1,
        tenant_id=TENANT,
        conversation_id=conversation,
        status=EscalationStatus.WAITING,
        queue="listening",
        priority=50,
        crisis=False,
        entered_queue_at=now,
        offers=[offer],
    )


async def offered_by_a_stuck_escalation(idle: IdleDeployment, conversation: str) -> Offer:
    """An open offer to vol-aoife, in the live view, from an escalation no worker runs."""
    view = waiting_escalation(conversation, "vol-aoife")
    await idle.client.start_workflow(
        "EscalationWorkflow", view, id=view.escalation_id, task_queue=idle.task_queue
    )
    await asyncio.to_thread(idle.live_view.apply, view)
    return view.offers[0]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_accept_nobody_answers_is_unavailable_and_leaves_no_claim(
    idle_deployment: IdleDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    offer = await offered_by_a_stuck_escalation(idle_deployment, "c-stuck")
    started = time.monotonic()

    code, details = await refused(
        idle_deployment.api.stub.Accept(
            pb.AcceptRequest(offer_id=offer.offer_id),
            metadata=bearer("vol-aoife"),
            timeout=CLIENT_DEADLINE_S,
        )
    )

    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, NO_ANSWER)
    assert time.monotonic() - started < CLIENT_DEADLINE_S - 1
    holder = await asyncio.to_thread(idle_deployment.live_view.claim_holder, TENANT, "c-stuck")
    assert holder is None, "the claim of an accept that did not go through is released"
    assert errors(caplog) == []


async def test_an_accept_the_client_gives_up_on_leaves_no_claim_and_no_error(
    idle_deployment: IdleDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    offer = await offered_by_a_stuck_escalation(idle_deployment, "c-gave-up")
    live = idle_deployment.live_view
    call = idle_deployment.api.stub.Accept(
        pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-aoife")
    )
    for _ in range(50):  # the desk took the claim and waits for the escalation's answer
        if await asyncio.to_thread(live.claim_holder, TENANT, "c-gave-up") == "vol-aoife":
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the accept never took the claim")

    call.cancel()

    for _ in range(100):
        if await asyncio.to_thread(live.claim_holder, TENANT, "c-gave-up") is None:
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(live.claim_holder, TENANT, "c-gave-up") is None
    assert errors(caplog) == []


async def test_a_conversation_nobody_answers_for_is_unavailable(
    idle_deployment: IdleDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    await idle_deployment.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id=TENANT, conversation_id="c-silent"),
        id=workflow_id(TENANT, "c-silent"),
        task_queue=idle_deployment.task_queue,
    )

    code, details = await refused(
        idle_deployment.api.stub.GetConversation(
            pb.GetConversationRequest(tenant_id=TENANT, conversation_id="c-silent"),
            metadata=bearer("vol-aoife"),
            timeout=CLIENT_DEADLINE_S,
        )
    )

    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, NO_ANSWER)
    assert errors(caplog) == []
