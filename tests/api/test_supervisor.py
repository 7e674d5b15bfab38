"""The supervisor API against warmline's real workflows: a paged crisis is listed, and a
supervisor assigns it to a specialist the wellness filter left out; the specialist accepts it
through the specialist API like any offer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc

from tests.api.conftest import Api, Conversation, Deployment, bearer
from tests.api.test_flow import CRISIS, GRIEF, ids, refused, say
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import supervisor_pb2 as spb
from warmline.conversation import CloseRequest, Status
from warmline.escalation import EscalationView, escalation_workflow_id
from warmline.roster import AssignToRequest, RosterView
from warmline.wellness.view import WorkerWellness
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow

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
        listed: spb.ListPagedEscalationsResponse = await api.supervisor.ListPagedEscalations(
            spb.ListPagedEscalationsRequest(), metadata=supervisor("sup-day")
        )
        for escalation in listed.escalations:
            if escalation.conversation_id == conversation_id:
                return escalation
        await asyncio.sleep(0.2)
    raise AssertionError(f"{conversation_id} was never listed as paged")


async def escalation_view(deployment: Deployment, conversation: Conversation) -> EscalationView:
    where = ids(conversation)
    handle = deployment.client.get_workflow_handle_for(
        EscalationWorkflow.run,
        escalation_workflow_id(where["tenant_id"], where["conversation_id"], 1),
    )
    return await handle.query(EscalationWorkflow.view)


async def roster_view(deployment: Deployment) -> RosterView:
    assert deployment.policy.routing is not None
    handle = deployment.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )
    return await handle.query(RosterWorkflow.view)


async def crisis_that_pages(deployment: Deployment) -> Conversation:
    """A crisis conversation whose lane gives up (and pages) after two seconds."""
    routing = deployment.policy.routing
    assert routing is not None
    lane = routing.crisis.model_copy(
        update={"accept_within": timedelta(seconds=2), "widen_after": timedelta(0)}
    )
    policy = deployment.policy.model_copy(
        update={"routing": routing.model_copy(update={"crisis": lane})}
    )
    conversation = await deployment.start_conversation(policy)
    await say(conversation, CRISIS)
    return conversation


async def until_status(conversation: Conversation, status: Status) -> None:
    for _ in range(int(WAIT_S * 5)):
        if (await conversation.query(ConversationWorkflow.view)).status is status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{conversation.id} never reached {status}")


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
    conversation = await crisis_that_pages(deployment)
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
        assert event is not grpc.aio.EOF  # type: ignore[attr-defined]  # grpc-stubs 1.53 lacks grpc.aio.EOF
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


async def test_malformed_assignments_are_invalid_arguments(offline_api: Api) -> None:
    """Refused before any backend is asked (the offline server's would fail as UNAVAILABLE)."""
    sup = supervisor("sup-day")
    good = {"tenant_id": "open-door", "conversation_id": "c-1", "specialist_id": "staff-nia"}
    cases = [
        ({"tenant_id": ""}, "tenant_id: "),
        ({"tenant_id": "Open Door"}, "tenant_id: "),
        ({"conversation_id": ""}, "conversation_id: "),
        ({"conversation_id": "c\n1"}, "conversation_id: "),
        ({"conversation_id": "c" * 257}, "conversation_id: "),
        ({"specialist_id": ""}, "specialist_id: "),
        ({"specialist_id": "s" * 257}, "specialist_id: "),
        ({"reason": "r" * 501}, "reason: "),
    ]
    for fields, field in cases:
        request = spb.AssignEscalationRequest(**{**good, **fields})
        code, details = await refused(
            offline_api.supervisor.AssignEscalation(request, metadata=sup)
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT, fields
        assert details.startswith(field), (fields, details)
    code, details = await refused(
        offline_api.supervisor.AssignEscalation(spb.AssignEscalationRequest(), metadata=sup)
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    for field in ("tenant_id: ", "conversation_id: ", "specialist_id: "):
        assert field in details, details


async def test_a_conversation_no_supervisor_was_paged_for_is_refused_and_left_alone(
    deployment: Deployment,
) -> None:
    api = deployment.api
    sup = supervisor("sup-night")
    not_waiting = (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the conversation is not waiting for a specialist",
    )

    # Not escalated: the AI still has it.
    conversation = await deployment.start_conversation()
    where = ids(conversation)
    refusal = await refused(
        api.supervisor.AssignEscalation(assign(where, "staff-nia"), metadata=sup)
    )
    assert refusal == not_waiting

    # Escalated, with the routing still offering it (the lane's 20 seconds are not up).
    await say(conversation, CRISIS)
    for _ in range(int(WAIT_S * 5)):
        try:
            offers = (await escalation_view(deployment, conversation)).offers
        except Exception:  # noqa: BLE001 - the escalation may not have started yet
            offers = []
        if offers:
            break
        await asyncio.sleep(0.2)
    assert offers, "the crisis was never offered"
    refusal = await refused(
        api.supervisor.AssignEscalation(assign(where, "staff-nia"), metadata=sup)
    )
    assert refusal == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the escalation has not paged a supervisor; the routing is still finding someone",
    )
    view = await escalation_view(deployment, conversation)
    assert view.paged_supervisor is None
    assert [o.offer_id for o in view.offers] == [o.offer_id for o in offers]
    assert all(o.assigned_by is None for o in view.offers)

    # Closed by the customer.
    await conversation.signal(ConversationWorkflow.close, CloseRequest(reason="left"))
    await until_status(conversation, Status.CLOSED)
    refusal = await refused(
        api.supervisor.AssignEscalation(assign(where, "staff-nia"), metadata=sup)
    )
    assert refusal == not_waiting

    # Escalated with no escalation running (no routing): a state, not an unknown conversation.
    unrouted = await deployment.start_conversation(
        deployment.policy.model_copy(update={"routing": None})
    )
    await say(unrouted, GRIEF)
    await until_status(unrouted, Status.ESCALATED)
    refusal = await refused(
        api.supervisor.AssignEscalation(assign(ids(unrouted), "staff-nia"), metadata=sup)
    )
    assert refusal == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the conversation's escalation has not paged a supervisor",
    )


async def test_the_rosters_refusals_reach_the_supervisor_and_any_supervisor_may_assign(
    deployment: Deployment,
) -> None:
    """A crisis nobody may be offered: staff-nia is at the consecutive-crisis cap, staff-luis on
    a break, staff-ren's one slot taken. The lane pages sup-night; sup-day, who supervises no
    crisis, assigns it (any supervisor may, see docs/specialist-api.md)."""
    api = deployment.api
    routing = deployment.policy.routing
    assert routing is not None
    now = datetime.now(UTC)
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
    roster = deployment.client.get_workflow_handle_for(RosterWorkflow.run, routing.roster_id)
    elsewhere = await roster.execute_update(
        RosterWorkflow.assign_to,
        AssignToRequest(
            conversation_id="elsewhere", offer_id="elsewhere/offer/1", specialist_id="staff-ren"
        ),
    )
    assert elsewhere.reservation is not None
    conversation = await crisis_that_pages(deployment)
    where = ids(conversation)
    assert (await paged(api, where["conversation_id"])).supervisor == "sup-night"

    sup = supervisor("sup-day")
    refusals = {
        "staff-luis": "staff-luis is on a break, and a break is never overridden",
        "staff-ren": "staff-ren has no free slot (1 of 1 in use)",
        "vol-aoife": "vol-aoife lacks the queue's skills: crisis",
    }
    for specialist, message in refusals.items():
        refusal = await refused(
            api.supervisor.AssignEscalation(assign(where, specialist), metadata=sup)
        )
        assert refusal == (grpc.StatusCode.FAILED_PRECONDITION, message), specialist
    assert not (await escalation_view(deployment, conversation)).offers
    assert [r.offer_id for r in (await roster_view(deployment)).reservations] == [
        "elsewhere/offer/1"
    ]

    assigned = await api.supervisor.AssignEscalation(assign(where, "staff-nia"), metadata=sup)
    # sup-day's retry (the first answer lost) gets the same offer; sup-night's is refused.
    again = await api.supervisor.AssignEscalation(assign(where, "staff-nia"), metadata=sup)
    assert again.offer_id == assigned.offer_id
    refusal = await refused(
        api.supervisor.AssignEscalation(
            assign(where, "staff-nia"), metadata=supervisor("sup-night")
        )
    )
    assert refusal == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "staff-nia already holds this conversation or an offer of it",
    )
    view = await escalation_view(deployment, conversation)
    assert [(o.offer_id, o.specialist_id, o.assigned_by) for o in view.offers] == [
        (assigned.offer_id, "staff-nia", "sup-day")
    ]
