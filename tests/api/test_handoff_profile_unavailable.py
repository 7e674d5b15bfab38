"""The `Handoff` message tells the specialist's client when the customer's CRM profile could not
be read, so an empty `customer_profile` is not taken for a customer the CRM does not know.

The deployment's worker is given a profile source that fails for conversations whose id starts
with `crm-down-` (as a CRM connector does during an outage) and answers the request's own facts
for the others.
"""

from __future__ import annotations

import uuid

import pytest

import warmline.worker
from tests.api.conftest import Deployment, bearer
from tests.api.test_flow import GRIEF, ids, say
from tests.api.test_handoff_truncated import accept_handoff, offers_of_marcus
from warmline.api.v1 import specialist_pb2 as pb
from warmline.handoff import RequestProfileSource

DOWN = "crm-down-"


class _CrmDownForSome(RequestProfileSource):
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        if conversation_id.startswith(DOWN):
            raise ConnectionError("CRM answered 503 Service Unavailable")
        return super().lookup(tenant_id, conversation_id, country, customer_tier)


@pytest.fixture(autouse=True)
def crm_down_for_some(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's default profile source, before `deployment` builds the worker with it."""
    monkeypatch.setattr(warmline.worker, "RequestProfileSource", _CrmDownForSome)


async def test_a_handoff_without_the_crm_profile_says_so_and_one_with_it_does_not(
    deployment: Deployment,
) -> None:
    watch = await offers_of_marcus(deployment)

    read = await deployment.start_conversation(conversation=f"read-{uuid.uuid4().hex[:8]}")
    await say(read, GRIEF)
    handoff = await accept_handoff(deployment, watch, read)
    assert dict(handoff.customer_profile) == {"country": "GB"}
    assert not handoff.profile_unavailable

    down = await deployment.start_conversation(conversation=f"{DOWN}{uuid.uuid4().hex[:8]}")
    await say(down, GRIEF)
    handoff = await accept_handoff(deployment, watch, down)
    watch.cancel()
    assert handoff.profile_unavailable
    assert dict(handoff.customer_profile) == {}
    assert GRIEF in handoff.rendered
    where = ids(down)
    fetched = await deployment.api.stub.GetHandoff(
        pb.GetHandoffRequest(**where), metadata=bearer("vol-marcus")
    )
    assert fetched.profile_unavailable
    view = await deployment.api.stub.GetConversation(
        pb.GetConversationRequest(**where), metadata=bearer("vol-marcus")
    )
    assert view.handoff.profile_unavailable
