"""The live view lost while specialists work (a FLUSHALL, a restart without persistence, a
failover): what the desk reads from it is rebuilt first, against warmline's real workflows (dev
server, Kafka, Redis)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from tests.api.conftest import Deployment, bearer
from tests.api.test_flow import GRIEF, WAIT_S, ids, next_event, only_available, say
from tests.api.test_retries import offered, until_idle
from warmline.api.v1 import specialist_pb2 as pb
from warmline.escalation import OfferStatus, escalation_workflow_id
from workflows.escalation import EscalationWorkflow


def lose_live_view(redis_url: str, offer_id: str) -> None:
    """What a FLUSHALL does to the deployment's live view: every key of its prefix goes at once
    (one DEL), the prefix found from the key of `offer_id`."""
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        escaped = offer_id.replace("%", "%25").replace(":", "%3A")
        [offer_key] = [str(k) for k in raw.scan_iter(match=f"*:offer:{escaped}")]
        prefix = offer_key.removesuffix(f":offer:{escaped}")
        raw.delete(*[str(k) for k in raw.scan_iter(match=f"{prefix}:*")])
    finally:
        raw.close()


async def test_going_unavailable_after_the_live_view_was_lost_withdraws_the_open_offer(
    deployment: Deployment, redis_url: str
) -> None:
    """The open offer is in the live view again only after a rebuild (or its escalation's next
    change). SetAvailability(false) read the lost view, withdrew nothing, and the offer stayed
    open to someone who had left the desk until it expired."""
    conversation, offer = await offered(deployment, "vol-marcus")
    escalation = escalation_workflow_id(**ids(conversation), sequence=1)
    # Its recheck with the roster would withdraw the offer by itself: let it finish first.
    await until_idle(deployment, escalation)
    lose_live_view(redis_url, offer.offer_id)
    assert await asyncio.to_thread(deployment.live_view.offers_for, "vol-marcus") == []

    await deployment.api.stub.SetAvailability(
        pb.SetAvailabilityRequest(available=False), metadata=bearer("vol-marcus")
    )

    view = await deployment.client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation
    ).query(EscalationWorkflow.view)
    statuses = {o.offer_id: o.status for o in view.offers}
    assert statuses[offer.offer_id] is OfferStatus.WITHDRAWN


async def test_an_open_watch_rebuilds_a_lost_live_view_instead_of_reporting_offers_gone(
    deployment: Deployment, redis_url: str
) -> None:
    """Only a watch's first read rebuilt a lost view: a watch open through the loss read the
    empty view, told the specialist their open offer was `gone`, and nothing rebuilt the view
    (the test's watches re-read it every second, the server's every 5 s)."""
    api = deployment.api
    await only_available(api, "vol-marcus")
    watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
    try:
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        conversation = await deployment.start_conversation()
        await say(conversation, GRIEF)
        event = await next_event(watch)
        assert event.WhichOneof("event") == "offered"
        offer = event.offered
        escalation = escalation_workflow_id(**ids(conversation), sequence=1)
        await until_idle(deployment, escalation)

        lose_live_view(redis_url, offer.offer_id)

        for _ in range(int(WAIT_S / 0.1)):
            if await asyncio.to_thread(deployment.live_view.is_built):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the open watch did not rebuild the live view in {WAIT_S} s")
        shown = await asyncio.to_thread(deployment.live_view.offers_for, "vol-marcus")
        assert [o.offer_id for o in shown] == [offer.offer_id]
        # Nothing changed for the specialist: the stream says nothing (an offer gone would
        # have been sent before the view was rebuilt).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(watch.read(), 3)
    finally:
        watch.cancel()
