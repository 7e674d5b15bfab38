"""The supervisor API against warmline's real workflows: a paged crisis is listed, and a
supervisor assigns it to a specialist the wellness filter left out; the specialist accepts it
through the specialist API like any offer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc

from tests.api.conftest import Api, Deployment, bearer
from tests.api.test_flow import CRISIS, ids, refused, say
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import supervisor_pb2 as spb
from warmline.conversation import Status
from warmline.wellness.view import WorkerWellness
from workflows.conversation import ConversationWorkflow

WAIT_S = 30.0


def supervisor(supervisor_id: str) -> tuple[tuple[str, str], ...]:
    """The peer-support test config's supervisor tokens are `secret-<variable>`."""
    variable = f"WARMLINE_TOKEN_{supervisor_id.upper().replace('-', '_')}"
    return (("authorization", f"Bearer secret-{variable}"),)


def assign(
    conversation: dict[str, str], specialist: str, reason: str = ""
) -> spb.AssignEscalationRequest:
    return spb.AssignEscalationRequest(**conversation, specialist_id=specialist, reason=reason)


async def paged(api: Api, conversation_id: str) -> spb.PagedEscalation:
    for _ in range(int(WAIT_S * 5)):
        listed = await api.supervisor.ListPagedEscalations(
            spb.ListPagedEscalationsRequest(), metadata=supervisor("sup-day")
        )
        for escalation in listed.escalations:
            if escalation.conversation_id == conversation_id:
                return escalation
        await asyncio.sleep(0.2)
    raise AssertionError(f"{conversation_id} was never listed as paged")


async def test_only_supervisors_may_list_or_assign(deployment: Deployment) -> None:
    api = deployment.api
    request = spb.AssignEscalationRequest(
        tenant_id="open-door", conversation_id="c-1", specialist_id="staff-nia"
    )
    cases = [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer nobody-holds-this"),), grpc.StatusCode.UNAUTHENTICATED),
        (bearer("staff-nia"), grpc.StatusCode.PERMISSION_DENIED),
        (
            (("authorization", "Bearer secret-WARMLINE_TOKEN_AN_KIT"),),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ]
    for metadata, expected in cases:
        code, _ = await refused(api.supervisor.AssignEscalation(request, metadata=metadata))
        assert code is expected, metadata
        code, _ = await refused(
            api.supervisor.ListPagedEscalations(
                spb.ListPagedEscalationsRequest(), metadata=metadata
            )
        )
        assert code is expected, metadata
    code, _ = await refused(
        api.supervisor.AssignEscalation(
            spb.AssignEscalationRequest(
                tenant_id="Open Door", conversation_id="c-1", specialist_id="staff-nia"
            ),
            metadata=supervisor("sup-night"),
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    code, details = await refused(
        api.supervisor.AssignEscalation(request, metadata=supervisor("sup-night"))
    )
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "no such conversation")


async def test_a_supervisor_assigns_a_paged_crisis_to_someone_at_the_crisis_cap(
    deployment: Deployment,
) -> None:
    api = deployment.api
    routing = deployment.policy.routing
    assert routing is not None
    # Nobody the routing may offer a crisis to: staff-nia is at the consecutive-crisis cap, the
    # other crisis-trained staff are unavailable; the lane gives up after two seconds.
    for other in ("staff-ren", "staff-luis"):
        await api.stub.SetAvailability(
            pb.SetAvailabilityRequest(available=False), metadata=bearer(other)
        )
    deployment.wellness.write(
        WorkerWellness(
            worker_id="staff-nia",
            consecutive_crisis=3,
            crisis_blocked=True,
            updated_at=datetime.now(UTC),
        )
    )
    lane = routing.crisis.model_copy(
        update={"accept_within": timedelta(seconds=2), "widen_after": timedelta(0)}
    )
    policy = deployment.policy.model_copy(
        update={"routing": routing.model_copy(update={"crisis": lane})}
    )
    conversation = await deployment.start_conversation(policy)
    await say(conversation, CRISIS)
    where = ids(conversation)

    listed = await paged(api, where["conversation_id"])
    assert (listed.tenant_id, listed.queue, listed.supervisor) == (
        "open-door",
        "crisis",
        "sup-night",
    )
    assert listed.reason == "nobody accepted the crisis in time"
    assert listed.crisis
    assert listed.paged_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
    assert not listed.offered_to

    sup = supervisor("sup-night")
    code, details = await refused(
        api.supervisor.AssignEscalation(assign(where, "nobody"), metadata=sup)
    )
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "'nobody' is not on the roster")
    code, details = await refused(
        api.supervisor.AssignEscalation(assign(where, "vol-marcus"), metadata=sup)
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert details == "vol-marcus lacks the queue's skills: crisis"
    code, details = await refused(
        api.supervisor.AssignEscalation(assign(where, "staff-ren"), metadata=sup)
    )
    assert (code, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "staff-ren is marked unavailable",
    )

    watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("staff-nia"))
    assigned = await api.supervisor.AssignEscalation(
        assign(where, "staff-nia", "she has worked with this caller"), metadata=sup
    )
    assert assigned.specialist_id == "staff-nia"
    offered: pb.Offer | None = None
    while offered is None:
        event = await asyncio.wait_for(watch.read(), WAIT_S)
        assert event is not grpc.aio.EOF
        if event.WhichOneof("event") == "offered":
            offered = event.offered
    watch.cancel()
    assert (offered.offer_id, offered.assigned_by) == (assigned.offer_id, "sup-night")

    accepted = await api.stub.Accept(
        pb.AcceptRequest(offer_id=assigned.offer_id), metadata=bearer("staff-nia")
    )
    assert accepted.conversation_id == where["conversation_id"]
    for _ in range(int(WAIT_S * 5)):
        view = await conversation.query(ConversationWorkflow.view)
        if view.owner == "staff-nia":
            break
        await asyncio.sleep(0.2)
    assert view.status is Status.HANDOFF

    code, details = await refused(
        api.supervisor.AssignEscalation(assign(where, "staff-luis"), metadata=sup)
    )
    assert (code, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the conversation is not waiting for a specialist",
    )
