"""The `Handoff` message tells the specialist's client when the package's summary was cut.

The deployment renders with a 1 KB size limit (64 KB in production), so a conversation of a few
dozen messages goes over it the way a very long one does over the real limit.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from tests.api.conftest import Conversation, Deployment, bearer
from tests.api.test_flow import GRIEF, ids, next_event, only_available, say
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.handoff import HandoffRenderer, renderer_from_config

SIZE_LIMIT = 1024
LONG_MESSAGES = 20
EVERYDAY = "The bus was on time this morning and the weather stayed mild all day long. " * 6


@pytest.fixture
def handoff_renderer(peer_support: WarmlineConfig) -> HandoffRenderer:
    return dataclasses.replace(renderer_from_config(peer_support), max_bytes=SIZE_LIMIT)


async def accept_handoff(
    deployment: Deployment, watch: Any, conversation: Conversation
) -> pb.Handoff:
    """Accept the offer of `conversation` as vol-marcus; its handoff as Accept answers it."""
    wanted = ids(conversation)["conversation_id"]
    while True:
        event = await next_event(watch)
        if event.WhichOneof("event") == "offered" and event.offered.conversation_id == wanted:
            break
    accepted: pb.AcceptResponse = await deployment.api.stub.Accept(
        pb.AcceptRequest(offer_id=event.offered.offer_id), metadata=bearer("vol-marcus")
    )
    assert accepted.HasField("handoff")
    return accepted.handoff


async def offers_of_marcus(deployment: Deployment) -> Any:
    """The offers stream of vol-marcus, the one specialist available, once it has synced."""
    api = deployment.api
    await only_available(api, "vol-marcus")
    watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
    assert (await next_event(watch)).WhichOneof("event") == "synced"
    return watch


async def test_a_long_conversations_handoff_says_it_was_cut_and_a_short_ones_does_not(
    deployment: Deployment,
) -> None:
    watch = await offers_of_marcus(deployment)

    short = await deployment.start_conversation(conversation=f"short-{uuid.uuid4().hex[:8]}")
    await say(short, GRIEF)
    handoff = await accept_handoff(deployment, watch, short)
    assert GRIEF in handoff.rendered
    assert not handoff.truncated

    long = await deployment.start_conversation(conversation=f"long-{uuid.uuid4().hex[:8]}")
    for _ in range(LONG_MESSAGES):
        await say(long, EVERYDAY)
    await say(long, GRIEF)
    handoff = await accept_handoff(deployment, watch, long)
    watch.cancel()
    assert handoff.truncated
    assert f"cut here: the handoff summary is longer than {SIZE_LIMIT} bytes" in handoff.rendered
    where = ids(long)
    fetched = await deployment.api.stub.GetHandoff(
        pb.GetHandoffRequest(**where), metadata=bearer("vol-marcus")
    )
    assert fetched.truncated
    view = await deployment.api.stub.GetConversation(
        pb.GetConversationRequest(**where), metadata=bearer("vol-marcus")
    )
    assert view.handoff.truncated
