"""Calls a client makes again after a lost or incomplete answer get the first call's answer, and
nothing happens twice: against warmline's real workflows (dev server, Kafka, Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from temporalio.client import WorkflowHandle

from tests.api.conftest import Api, Conversation, Deployment, bearer, run_api
from tests.api.test_flow import GRIEF, ids, next_event, only_available, refused, say
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.escalation import OfferStatus, escalation_workflow_id
from warmline.roster import RosterInput, RosterSettings
from warmline.runtime import roster_settings
from workflows.roster import RosterWorkflow

QUICK_HANDOFF_WAIT = timedelta(milliseconds=300)


@pytest.fixture
async def quick_api(deployment: Deployment, peer_support: WarmlineConfig) -> AsyncIterator[Api]:
    """A second API over `deployment` whose Accept waits only briefly for the handoff package."""
    assert deployment.policy.routing is not None
    async for api in run_api(
        deployment.client,
        deployment.live_view,
        peer_support,
        roster_id=deployment.policy.routing.roster_id,
        task_queue=deployment.task_queue,
        handoff_wait=QUICK_HANDOFF_WAIT,
    ):
        yield api


async def offered(deployment: Deployment, specialist: str) -> tuple[Conversation, pb.Offer]:
    """A new grief conversation and the offer of it to `specialist`, the only one available."""
    await only_available(deployment.api, specialist)
    watch = deployment.api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer(specialist))
    try:
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        conversation = await deployment.start_conversation()
        await say(conversation, GRIEF)
        event = await next_event(watch)
        assert event.WhichOneof("event") == "offered"
        return conversation, event.offered
    finally:
        watch.cancel()


async def until_idle(deployment: Deployment, workflow_id: str) -> None:
    """Wait until the workflow runs no activity (twice in a row, a moment apart)."""
    handle = deployment.client.get_workflow_handle(workflow_id)
    idle = 0
    for _ in range(100):
        description = await handle.describe()
        idle = 0 if description.raw_description.pending_activities else idle + 1
        if idle == 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} kept running activities")


async def stall_the_roster(
    deployment: Deployment, roster_id: str, settings: RosterSettings
) -> WorkflowHandle[Any, Any]:
    """Replace the roster with one no worker serves: updates to it wait (the escalation's activity
    that occupies the accepting specialist's slot among them) until it is terminated."""
    await deployment.client.get_workflow_handle(roster_id).terminate("the roster stops answering")
    return await deployment.client.start_workflow(
        RosterWorkflow.run,
        RosterInput(roster_id=roster_id, settings=settings),
        id=roster_id,
        task_queue=f"nobody-serves-{uuid.uuid4().hex[:8]}",
    )


async def test_an_accept_retried_before_the_conversation_is_told_gets_the_same_answer(
    deployment: Deployment, quick_api: Api, peer_support: WarmlineConfig
) -> None:
    """The escalation tells the conversation of an accept only after it occupied the roster: a
    retry in between (here the roster stops answering, so it lasts) found the conversation without
    an owner and was refused FAILED_PRECONDITION, "the offer is no longer open (it was accepted)",
    to the very specialist whose accept had won."""
    conversation, offer = await offered(deployment, "vol-marcus")
    # The escalation rechecks the offer with the roster once the offer is shown: let it finish.
    await until_idle(deployment, escalation_workflow_id(**ids(conversation), sequence=1))
    assert deployment.policy.routing is not None
    roster_id = deployment.policy.routing.roster_id
    roster = await stall_the_roster(deployment, roster_id, roster_settings(peer_support))
    request = pb.AcceptRequest(offer_id=offer.offer_id)

    first = await quick_api.stub.Accept(request, metadata=bearer("vol-marcus"))
    assert first.conversation_id == offer.conversation_id
    assert not first.HasField("handoff"), "the conversation has not been told yet"
    for _ in range(100):  # the escalation writes the accept to the live view
        seen = deployment.live_view.offer(offer.offer_id)
        if seen is None or seen.status is not OfferStatus.OPEN:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the live view still shows the offer open")

    again = await quick_api.stub.Accept(request, metadata=bearer("vol-marcus"))
    assert (again.offer_id, again.conversation_id, again.queue) == (
        offer.offer_id,
        offer.conversation_id,
        "listening",
    )
    assert not again.HasField("handoff")

    other = await refused(quick_api.stub.Accept(request, metadata=bearer("vol-aoife")))
    assert other[0] is grpc.StatusCode.PERMISSION_DENIED, "still the caller's own offer only"
    await roster.terminate("the test is over")


async def test_a_decline_retried_after_a_lost_answer_succeeds(deployment: Deployment) -> None:
    """A second Decline of the caller's declined offer was FAILED_PRECONDITION, "the offer is no
    longer open (it was declined)": the client could not tell its retry from a failure."""
    api = deployment.api
    _, offer = await offered(deployment, "vol-marcus")
    request = pb.DeclineRequest(offer_id=offer.offer_id, reason="at capacity")

    for _ in range(3):  # at once, and again once the live view no longer shows the offer
        await api.stub.Decline(request, metadata=bearer("vol-marcus"))
    for _ in range(100):
        if deployment.live_view.offer(offer.offer_id) is None:
            break
        await asyncio.sleep(0.05)
    await api.stub.Decline(request, metadata=bearer("vol-marcus"))

    code, details = await refused(
        api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus"))
    )
    assert (code, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the offer is no longer open (it was declined)",
    )
    code, _ = await refused(api.stub.Decline(request, metadata=bearer("vol-aoife")))
    assert code is grpc.StatusCode.PERMISSION_DENIED


async def test_a_completion_retried_after_the_conversation_closed_gets_the_same_answer(
    deployment: Deployment,
) -> None:
    """Without a survey, Complete closes the conversation: its retry found the workflow ended and
    was refused FAILED_PRECONDITION, "the conversation has ended", though the first had gone
    through. Another request, or another specialist, is still refused."""
    api = deployment.api
    conversation, offer = await offered(deployment, "vol-marcus")
    await api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus"))
    where = ids(conversation)
    request = pb.CompleteRequest(**where, outcome="resolved", summary="listened")

    await api.stub.Complete(request, metadata=bearer("vol-marcus"))
    assert (await conversation.result()).handoff_outcome == "resolved"
    await api.stub.Complete(request, metadata=bearer("vol-marcus"))
    assert deployment.live_view.claim_holder(where["tenant_id"], where["conversation_id"]) is None

    other = pb.CompleteRequest(**where, outcome="referred", summary="listened")
    assert await refused(api.stub.Complete(other, metadata=bearer("vol-marcus"))) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "you already completed this conversation with outcome 'resolved'; it is no longer "
        "yours to act on",
    )
    assert await refused(api.stub.Complete(request, metadata=bearer("vol-aoife"))) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the conversation has ended",
    )


async def test_a_hand_back_retried_after_a_lost_answer_succeeds(deployment: Deployment) -> None:
    """A second HandBack was FAILED_PRECONDITION, "no specialist owns this conversation now"."""
    api = deployment.api
    conversation, offer = await offered(deployment, "vol-marcus")
    await api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus"))
    request = pb.HandBackRequest(**ids(conversation), note="calmer now")
    for _ in range(2):
        await api.stub.HandBack(request, metadata=bearer("vol-marcus"))
    code, details = await refused(api.stub.HandBack(request, metadata=bearer("vol-aoife")))
    assert (code, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "no specialist owns this conversation now",
    )
