"""On Temporal's own server, a customer who leaves reaches an escalation that continued as new.

A cancel sent through a child workflow handle names the child's first run; Temporal's server
takes it as done once that run has continued as new, and the run that goes on never hears of it
(the time-skipping test server forwards it, so only this server shows the difference). The
conversation therefore cancels its escalation by workflow id. Here a paged crisis nobody accepts
continues as new in real time (short deadlines, the history bound at its lowest), then the
customer leaves: the current run must end and take its offers with it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from tests.api.conftest import Deployment
from warmline.conversation import CloseRequest, CustomerMessage
from warmline.escalation import EscalationStatus, OfferStatus, escalation_workflow_id
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

CRISIS = "I can't go on, I want to end my life tonight"
RUN_BOUND = 200
"""The lowest `history_events_per_run`: a round of the lane adds about 60 events."""


async def test_a_customer_who_leaves_ends_the_escalations_continued_run(
    deployment: Deployment,
) -> None:
    routing = deployment.policy.routing
    assert routing is not None
    lane = routing.crisis.model_copy(
        update={"accept_within": timedelta(seconds=1), "widen_after": timedelta(0)}
    )
    policy = deployment.policy.model_copy(
        update={
            "routing": routing.model_copy(
                update={"crisis": lane, "history_events_per_run": RUN_BOUND}
            )
        }
    )
    conversation_id = f"conv-{uuid.uuid4().hex[:8]}"
    conversation = await deployment.start_conversation(policy, conversation=conversation_id)
    answer = await conversation.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=CRISIS)
    )
    assert answer.escalated
    assert answer.crisis
    escalation = deployment.client.get_workflow_handle_for(
        EscalationWorkflow.run, escalation_workflow_id("open-door", conversation_id, 1)
    )

    async def continued_as_new() -> bool:
        history = await escalation.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        return bool(started.continued_execution_run_id)

    deadline = time.monotonic() + 120
    while not await continued_as_new():
        assert time.monotonic() < deadline, "the escalation did not continue as new in 120 s"
        await asyncio.sleep(1)

    await conversation.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
    outcome = await asyncio.wait_for(conversation.result(), timeout=60)
    assert outcome.closed_reason == "customer_left"
    ended = await asyncio.wait_for(escalation.result(), timeout=60)
    assert ended.status is EscalationStatus.CANCELLED
    view = await escalation.query(EscalationWorkflow.view)
    assert not [o for o in view.offers if o.status is OfferStatus.OPEN]
