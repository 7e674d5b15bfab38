"""The roster keys a conversation by its tenant and id: two tenants' conversations of one id are
two conversations (offers, load and completions apart), and what a history recorded before the
roster kept tenants holds still counts as the conversation it names."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene, roster_view, set_available
from warmline.conversation import CompleteRequest, ConversationInput, workflow_id
from warmline.escalation import EscalationOutcome, escalation_workflow_id
from warmline.roster import (
    AssignToRequest,
    FreeRequest,
    MemberState,
    OccupyRequest,
    ReserveRequest,
    RosterMemberView,
)
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow

OTHERS = ("vol-aoife", "staff-ren", "staff-nia", "staff-luis")
"""Everyone on the peer-support roster but vol-marcus (capacity 2)."""


class TenantScene(Scene):
    """A conversation of `tenant`, its id shared with another tenant's."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        deployment: RoutedDeployment,
        tenant: str,
        conversation: str,
    ) -> None:
        super().__init__(env, deployment)
        self.tenant = tenant
        self.conversation = conversation

    async def start_for_tenant(self) -> TenantScene:
        self.handle = await self.env.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=self.tenant,
                conversation_id=self.conversation,
                country="GB",
                policy=self.deployment.policy,
            ),
            id=workflow_id(self.tenant, self.conversation),
            task_queue=self.deployment.task_queue,
        )
        self.deployment.started += [
            self.handle.id,
            *(escalation_workflow_id(self.tenant, self.conversation, n) for n in (1, 2, 3)),
        ]
        return self

    def escalation(
        self, sequence: int = 1
    ) -> WorkflowHandle[EscalationWorkflow, EscalationOutcome]:
        return self.env.client.get_workflow_handle_for(
            EscalationWorkflow.run,
            escalation_workflow_id(self.tenant, self.conversation, sequence),
        )


async def member(
    env: WorkflowEnvironment, deployment: RoutedDeployment, who: str
) -> RosterMemberView:
    return next(m for m in (await roster_view(env, deployment)).members if m.member.id == who)


def roster(
    env: WorkflowEnvironment, deployment: RoutedDeployment
) -> WorkflowHandle[RosterWorkflow, None]:
    assert deployment.policy.routing is not None
    return env.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )


async def test_two_tenants_conversations_of_one_id_are_offered_held_and_freed_apart(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    for person in OTHERS:
        await set_available(workflow_env, routed, person, False)
    shared = f"conv-{uuid.uuid4().hex[:8]}"
    first = await TenantScene(workflow_env, routed, "open-door", shared).start_for_tenant()
    await first.say(GRIEF)
    [offer] = await first.open_offers()
    await first.accept(offer)
    await first.owned_by("vol-marcus")

    # Another tenant's conversation of the same id is not one vol-marcus already owns: he has a
    # free slot, so he is offered it (before: nobody was, for as long as he held the first).
    second = await TenantScene(workflow_env, routed, "other-tenant", shared).start_for_tenant()
    await second.say(GRIEF)
    [offer] = await second.open_offers()
    assert (offer.specialist_id, offer.tenant_id) == ("vol-marcus", "other-tenant")
    await second.accept(offer)
    await second.owned_by("vol-marcus")
    marcus = await member(workflow_env, routed, "vol-marcus")
    assert marcus.state.owned == [("open-door", shared), ("other-tenant", shared)]
    assert marcus.routing_state.active == 2

    # Completing one frees that one only.
    await first.handle.execute_update(
        ConversationWorkflow.complete,
        CompleteRequest(specialist_id="vol-marcus", outcome="resolved"),
    )
    await first.handle.result()
    marcus = await member(workflow_env, routed, "vol-marcus")
    assert marcus.state.owned == [("other-tenant", shared)]


async def test_the_roster_keys_on_tenant_and_id_and_tenantless_requests_match_any_tenant(
    workflow_env: WorkflowEnvironment, routed: RoutedDeployment
) -> None:
    for person in OTHERS:
        await set_available(workflow_env, routed, person, False)
    handle = roster(workflow_env, routed)
    shared = f"conv-{uuid.uuid4().hex[:8]}"

    def reserve(offer: str, tenant: str | None) -> ReserveRequest:
        return ReserveRequest(conversation_id=shared, offer_ids=[offer], tenant_id=tenant)

    # Tenant a's conversation is reserved and occupied; tenant b's of the same id is assigned to
    # the same person (not refused as one he already holds) and occupied too.
    [held] = (await handle.execute_update(RosterWorkflow.reserve, reserve("a-1", "a"))).reservations
    assert (held.specialist_id, held.tenant_id) == ("vol-marcus", "a")
    await handle.execute_update(RosterWorkflow.occupy, OccupyRequest(offer_id="a-1"))
    assigned = await handle.execute_update(
        RosterWorkflow.assign_to,
        AssignToRequest(
            conversation_id=shared, offer_id="b-1", specialist_id="vol-marcus", tenant_id="b"
        ),
    )
    assert assigned.refused is None, assigned.message
    await handle.execute_update(RosterWorkflow.occupy, OccupyRequest(offer_id="b-1"))
    marcus = await member(workflow_env, routed, "vol-marcus")
    assert marcus.state.owned == [("a", shared), ("b", shared)]
    assert marcus.state.conversations == [shared, shared]

    # A request without a tenant (from an escalation recorded before the field) names the id in
    # any tenant, as every request did then: he owns it, so he is offered it no second time.
    legacy = await handle.execute_update(RosterWorkflow.reserve, reserve("legacy-1", None))
    assert legacy.reservations == []

    async def free(tenant: str | None) -> list[tuple[str | None, str]]:
        await handle.execute_update(
            RosterWorkflow.free,
            FreeRequest(specialist_id="vol-marcus", conversation_id=shared, tenant_id=tenant),
        )
        return (await member(workflow_env, routed, "vol-marcus")).state.owned

    # Tenant a's completion frees a's alone, and once; a completion without a tenant frees the
    # one left.
    assert await free("a") == [("b", shared)]
    assert await free("a") == [("b", shared)]
    assert await free(None) == []


def test_a_state_carried_over_from_before_tenants_owns_its_conversations_under_any_tenant() -> None:
    old = MemberState.model_validate({"id": "vol-marcus", "conversations": ["c-1", "c-2"]})
    assert old.owned == [(None, "c-1"), (None, "c-2")]
    assert old.owns(("open-door", "c-1"))
    assert not old.owns(("open-door", "c-3"))
    new = old.with_owned([*old.owned, ("open-door", "c-1")])
    assert new.tenants == [None, None, "open-door"]
    assert not new.with_owned([("a", "c-1")]).owns(("b", "c-1"))
