"""The specialist API against warmline's real workflows: dev server, Kafka and Redis.

The deployment is the peer-support example: `listening` needs the `listening` skill, `crisis` is
offered to the three crisis-trained staff (at once in these tests).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, timedelta
from typing import Any

import grpc
import pytest

from tests.api.conftest import Api, Conversation, Deployment, bearer, run_api
from warmline import liveview
from warmline.api.auth import Caller
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.conversation import CloseRequest, CustomerMessage
from warmline.escalation import Offer, OfferStatus, escalation_workflow_id
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

GRIEF = "My husband passed away yesterday and I don't know what to do"
CRISIS = "I want to end it all, nobody would miss me"
SPECIALISTS = ["vol-aoife", "vol-marcus", "staff-ren", "staff-nia", "staff-luis"]
WAIT_S = 30.0


async def say(conversation: Conversation, text: str) -> None:
    message = CustomerMessage(message_id=uuid.uuid4().hex[:6], text=text)
    await conversation.execute_update(ConversationWorkflow.add_message, message)


async def only_available(api: Api, specialist: str) -> None:
    for other in SPECIALISTS:
        response = await api.stub.SetAvailability(
            pb.SetAvailabilityRequest(available=other == specialist), metadata=bearer(other)
        )
        assert response.available is (other == specialist)


async def next_event(stream: Any) -> pb.OfferEvent:
    event = await asyncio.wait_for(stream.read(), WAIT_S)
    assert event is not grpc.aio.EOF  # type: ignore[attr-defined]  # grpc-stubs 1.53 lacks grpc.aio.EOF
    assert isinstance(event, pb.OfferEvent)
    return event


async def refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


def ids(conversation: Conversation) -> dict[str, str]:
    _, tenant_id, conversation_id = conversation.id.split("/", 2)
    return {"tenant_id": tenant_id, "conversation_id": conversation_id}


async def test_watch_accept_handoff_reply_complete(deployment: Deployment) -> None:
    api = deployment.api
    await only_available(api, "vol-marcus")
    watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
    assert (await next_event(watch)).WhichOneof("event") == "synced"

    conversation = await deployment.start_conversation()
    await say(conversation, GRIEF)
    event = await next_event(watch)
    assert event.WhichOneof("event") == "offered"
    offer = event.offered
    assert (offer.tenant_id, offer.queue) == ("open-door", "listening")
    assert offer.conversation_id == ids(conversation)["conversation_id"]
    assert offer.expires_at.ToDatetime() > offer.created_at.ToDatetime()

    for call in (
        api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-aoife")),
        api.stub.Decline(
            pb.DeclineRequest(offer_id=offer.offer_id, reason="mine now"),
            metadata=bearer("vol-aoife"),
        ),
    ):
        code, details = await refused(call)
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "another specialist" in details
    missing = offer.offer_id.rsplit("/", 1)[0] + "/99"
    code, _ = await refused(
        api.stub.Accept(pb.AcceptRequest(offer_id=missing), metadata=bearer("vol-marcus"))
    )
    assert code is grpc.StatusCode.NOT_FOUND

    accepted = await api.stub.Accept(
        pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus")
    )
    assert accepted.conversation_id == offer.conversation_id
    assert accepted.queue == "listening"
    assert accepted.HasField("handoff")
    assert GRIEF in accepted.handoff.rendered
    # The tenant as configured, not its id; each message with its time in the tenant's zone.
    assert "· Open Door Peer Support ·" in accepted.handoff.rendered
    assert re.search(r"^> \d\d:\d\d \*\*Customer:\*\* ", accepted.handoff.rendered, re.M)
    assert not accepted.handoff.requires_acknowledgement
    gone = await next_event(watch)
    assert gone.WhichOneof("event") == "gone"
    assert gone.gone.offer_id == offer.offer_id
    watch.cancel()

    # A retry after a lost answer gets the same answer while the caller holds the conversation.
    again = await api.stub.Accept(
        pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus")
    )
    assert (again.conversation_id, again.queue) == (accepted.conversation_id, "listening")
    assert again.handoff == accepted.handoff
    where = ids(conversation)
    code, details = await refused(
        api.stub.GetConversation(pb.GetConversationRequest(**where), metadata=bearer("vol-aoife"))
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert details == "you do not own this conversation"
    code, _ = await refused(
        api.stub.Reply(
            pb.ReplyRequest(**where, message_id="a1", text="Hello"), metadata=bearer("vol-aoife")
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    handoff = await api.stub.GetHandoff(
        pb.GetHandoffRequest(**where), metadata=bearer("vol-marcus")
    )
    assert handoff == accepted.handoff

    sent = pb.ReplyRequest(**where, message_id="s1", text="I'm so sorry. I'm here.")
    for _ in range(2):  # a client retrying after a lost answer
        await api.stub.Reply(sent, metadata=bearer("vol-marcus"))
    code, details = await refused(
        api.stub.Reply(
            pb.ReplyRequest(**where, message_id="s1", text="Something else"),
            metadata=bearer("vol-marcus"),
        )
    )
    assert code is grpc.StatusCode.ALREADY_EXISTS
    assert "give a new reply a new message_id" in details
    view = await api.stub.GetConversation(
        pb.GetConversationRequest(**where), metadata=bearer("vol-marcus")
    )
    assert view.status == "handoff"
    assert [(t.role, t.text) for t in view.turns][-1] == ("specialist", "I'm so sorry. I'm here.")
    assert [t.message_id for t in view.turns].count("s1") == 1, "the retry was sent once"
    sent_at = [t.sent_at.ToDatetime(tzinfo=UTC) for t in view.turns]
    assert all(t.HasField("sent_at") for t in view.turns)
    assert sent_at == sorted(sent_at), "turns come in the order they were recorded"
    assert view.handoff == accepted.handoff

    await api.stub.Complete(
        pb.CompleteRequest(**where, outcome="resolved", summary="listened"),
        metadata=bearer("vol-marcus"),
    )
    assert (await conversation.result()).handoff_outcome == "resolved"
    assert deployment.live_view.claim_holder(where["tenant_id"], where["conversation_id"]) is None
    code, details = await refused(
        api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus"))
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert details == "the offer is no longer open (it was accepted)"
    code, details = await refused(
        api.stub.Reply(
            pb.ReplyRequest(**where, message_id="s2", text="One more thing"),
            metadata=bearer("vol-marcus"),
        )
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION, details


async def test_crisis_first_accept_wins_and_risk_must_be_acknowledged(
    deployment: Deployment,
) -> None:
    api = deployment.api
    routing = deployment.policy.routing
    assert routing is not None
    # All three at once (the example staggers the offers; the workflow tests cover that).
    lane = routing.crisis.model_copy(update={"widen_after": timedelta(0)})
    policy = deployment.policy.model_copy(
        update={"routing": routing.model_copy(update={"crisis": lane})}
    )
    conversation = await deployment.start_conversation(policy)
    await say(conversation, CRISIS)
    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    offers = await offers_of(api, escalation, ["staff-ren", "staff-nia", "staff-luis"])

    code, _ = await refused(
        api.stub.Accept(
            pb.AcceptRequest(offer_id=offers["staff-ren"].offer_id), metadata=bearer("vol-marcus")
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    accepted = await api.stub.Accept(
        pb.AcceptRequest(offer_id=offers["staff-ren"].offer_id), metadata=bearer("staff-ren")
    )
    assert accepted.handoff.requires_acknowledgement
    assert accepted.handoff.risk_flags
    assert accepted.handoff.referrals
    code, details = await refused(
        api.stub.Accept(
            pb.AcceptRequest(offer_id=offers["staff-nia"].offer_id), metadata=bearer("staff-nia")
        )
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "staff-ren" not in details

    where = ids(conversation)
    reply = pb.ReplyRequest(**where, message_id="s1", text="I'm here with you.")
    code, details = await refused(api.stub.Reply(reply, metadata=bearer("staff-ren")))
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "acknowledge" in details
    await api.stub.AcknowledgeRisk(pb.AcknowledgeRiskRequest(**where), metadata=bearer("staff-ren"))
    await api.stub.Reply(reply, metadata=bearer("staff-ren"))
    corrected = pb.CorrectTriageRequest(
        **where, labels=["fear", "sadness", "fear"], note="frightened, not angry"
    )
    for _ in range(2):  # a client retrying after a lost answer
        correction = await api.stub.CorrectTriage(corrected, metadata=bearer("staff-ren"))
    assert list(correction.labels) == ["fear", "sadness"]
    assert len((await conversation.query(ConversationWorkflow.view)).corrections) == 1
    assert correction.message_id

    await api.stub.HandBack(
        pb.HandBackRequest(**where, note="calmer now; check in tomorrow"),
        metadata=bearer("staff-ren"),
    )
    assert deployment.live_view.claim_holder(where["tenant_id"], where["conversation_id"]) is None
    code, _ = await refused(
        api.stub.Reply(
            pb.ReplyRequest(**where, message_id="s2", text="Still there?"),
            metadata=bearer("staff-ren"),
        )
    )
    assert code in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION}


async def offers_of(api: Api, escalation: str, specialists: list[str]) -> dict[str, pb.Offer]:
    """Each specialist's open offer of `escalation`, as their own WatchOffers shows it."""
    found: dict[str, pb.Offer] = {}
    for specialist in specialists:
        watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer(specialist))
        try:
            while specialist not in found:
                event = await next_event(watch)
                if event.WhichOneof("event") == "offered" and event.offered.offer_id.startswith(
                    escalation
                ):
                    found[specialist] = event.offered
        finally:
            watch.cancel()
    return found


async def grief_offered(api: Api, conversation: Conversation, specialist: str) -> pb.Offer:
    """The offer `specialist` sees once the customer writes of a bereavement."""
    await say(conversation, GRIEF)
    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    return (await offers_of(api, escalation, [specialist]))[specialist]


async def test_a_conversation_that_ends_without_the_desk_frees_its_claim(
    deployment: Deployment,
) -> None:
    """The customer leaves while a specialist holds the conversation: the claim goes with it
    (else whoever accepts when the customer writes again is refused), and a call that arrives
    as it closes is a refusal the client can read, not an internal error."""
    api = deployment.api
    await only_available(api, "vol-marcus")
    conversation = await deployment.start_conversation()
    offer = await grief_offered(api, conversation, "vol-marcus")
    await api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus"))
    where = ids(conversation)
    held = (where["tenant_id"], where["conversation_id"])
    assert deployment.live_view.claim_holder(*held) == "vol-marcus"

    await conversation.signal(ConversationWorkflow.close, CloseRequest(reason="left"))
    reply = pb.ReplyRequest(**where, message_id="s9", text="Are you still there?")
    code, details = await refused(api.stub.Reply(reply, metadata=bearer("vol-marcus")))
    assert code is grpc.StatusCode.FAILED_PRECONDITION, details
    assert "ended" in details
    await conversation.result()
    assert deployment.live_view.claim_holder(*held) is None


async def test_a_claim_left_by_a_desk_that_stopped_is_taken_over_by_the_next_accept(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A desk that stops between its claim and its accept leaves the claim behind (it has no
    TTL). While the claim may still back an accept it refuses others; once unused for
    `CLAIM_IN_USE`, and its holder does not own the conversation, the next accept takes it over
    instead of being refused until the conversation ends. An owner's claim is never taken."""
    monkeypatch.setattr(liveview, "CLAIM_IN_USE", timedelta(seconds=1))
    api = deployment.api
    await only_available(api, "vol-marcus")
    conversation = await deployment.start_conversation()
    offer = await grief_offered(api, conversation, "vol-marcus")
    where = ids(conversation)
    held = (where["tenant_id"], where["conversation_id"])
    assert deployment.live_view.claim(*held, "vol-aoife") == "vol-aoife"  # then her desk stopped

    accept = pb.AcceptRequest(offer_id=offer.offer_id)
    code, details = await refused(api.stub.Accept(accept, metadata=bearer("vol-marcus")))
    assert (code, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the conversation was already accepted by another specialist",
    )

    await asyncio.sleep(1.2)
    accepted = await api.stub.Accept(accept, metadata=bearer("vol-marcus"))
    assert accepted.conversation_id == where["conversation_id"]
    assert deployment.live_view.claim_holder(*held) == "vol-marcus"
    handoff = await api.stub.GetHandoff(
        pb.GetHandoffRequest(**where), metadata=bearer("vol-marcus")
    )
    assert handoff.conversation_id == where["conversation_id"]
    assert handoff.rendered

    await asyncio.sleep(1.2)
    aoife = Caller("vol-aoife", frozenset({"listening"}))
    now = await api.desk._take_over_left_claim(aoife, *held, "vol-marcus")
    assert now == "vol-marcus"
    assert deployment.live_view.claim_holder(*held) == "vol-marcus"


async def test_a_customer_who_writes_again_after_leaving_is_offered_again(
    deployment: Deployment,
) -> None:
    """The conversation starts again under its id, and so does its first escalation: its offer
    must reach the specialist's screen although the live view still remembers the old one."""
    api = deployment.api
    await only_available(api, "vol-marcus")
    first = await deployment.start_conversation()
    before = await grief_offered(api, first, "vol-marcus")
    await first.signal(ConversationWorkflow.close, CloseRequest(reason="left"))
    await first.result()

    conversation = ids(first)["conversation_id"]
    again = await deployment.start_conversation(conversation=conversation)
    offer = await grief_offered(api, again, "vol-marcus")
    assert offer.created_at.ToDatetime() > before.created_at.ToDatetime()
    accepted = await api.stub.Accept(
        pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus")
    )
    assert accepted.conversation_id == conversation


async def test_an_expired_offer_cannot_be_accepted(deployment: Deployment) -> None:
    api = deployment.api
    assert deployment.policy.routing is not None
    quick = deployment.policy.routing.model_copy(
        update={
            "queues": [
                queue.model_copy(update={"accept_within": timedelta(seconds=4)})
                for queue in deployment.policy.routing.queues
            ]
        }
    )
    await only_available(api, "vol-aoife")
    conversation = await deployment.start_conversation(
        deployment.policy.model_copy(update={"routing": quick})
    )
    await say(conversation, GRIEF)
    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    offer = (await offers_of(api, escalation, ["vol-aoife"]))["vol-aoife"]
    await asyncio.sleep(max(0.0, offer.expires_at.ToDatetime(UTC).timestamp() - time.time()) + 0.5)

    code, details = await refused(
        api.stub.Accept(pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-aoife"))
    )

    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in details


async def live_offers(deployment: Deployment, specialist: str) -> list[Offer]:
    """The specialist's open offers once there are any, read from the live view (a watch's
    stream would hold a thread of the server for a few seconds after the test)."""
    for _ in range(int(WAIT_S / 0.1)):
        offers = await asyncio.to_thread(deployment.live_view.offers_for, specialist)
        if offers:
            return offers
        await asyncio.sleep(0.1)
    raise AssertionError(f"no offer reached {specialist} within {WAIT_S} s")


async def test_going_unavailable_hands_ones_open_offer_to_the_next_specialist(
    deployment: Deployment,
) -> None:
    """The offer does not wait out its 3 minutes for someone who has left the desk: it is
    withdrawn (not declined) and the escalation offers the conversation to the next person."""
    api = deployment.api
    await only_available(api, "vol-marcus")
    conversation = await deployment.start_conversation()
    await say(conversation, GRIEF)
    [first] = await live_offers(deployment, "vol-marcus")
    await api.stub.SetAvailability(
        pb.SetAvailabilityRequest(available=True), metadata=bearer("vol-aoife")
    )

    await api.stub.SetAvailability(
        pb.SetAvailabilityRequest(available=False), metadata=bearer("vol-marcus")
    )

    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    [second] = await live_offers(deployment, "vol-aoife")
    assert second.offer_id != first.offer_id
    assert deployment.live_view.offers_for("vol-marcus") == []
    view = await deployment.client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation
    ).query(EscalationWorkflow.view)
    statuses = {o.offer_id: (o.specialist_id, o.status) for o in view.offers}
    assert statuses[first.offer_id] == ("vol-marcus", OfferStatus.WITHDRAWN)
    code, details = await refused(
        api.stub.Accept(pb.AcceptRequest(offer_id=first.offer_id), metadata=bearer("vol-marcus"))
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "withdrawn" in details


async def test_offers_of_a_queue_whose_skills_the_caller_lacks_are_hidden_and_refused(
    deployment: Deployment, peer_support: WarmlineConfig
) -> None:
    """The API's configuration now asks `listening` for `bereavement`, which Marcus lacks."""
    stricter = peer_support.model_copy(
        update={
            "routing": peer_support.routing.model_copy(
                update={
                    "queues": [
                        q.model_copy(update={"skills": [*q.skills, "bereavement"]})
                        if q.name == "listening"
                        else q
                        for q in peer_support.routing.queues
                    ]
                }
            )
        }
    )
    await only_available(deployment.api, "vol-marcus")
    conversation = await deployment.start_conversation()
    await say(conversation, GRIEF)
    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    offer = (await offers_of(deployment.api, escalation, ["vol-marcus"]))["vol-marcus"]

    async for api in run_api(deployment.client, deployment.live_view, stricter):
        watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        watch.cancel()
        code, details = await refused(
            api.stub.Accept(
                pb.AcceptRequest(offer_id=offer.offer_id), metadata=bearer("vol-marcus")
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "skills" in details
