"""Property, through the real workflows: with random wellness states (from random shift schedules
and streams of work), no offer from an intense queue reaches anyone on a break or over budget, and
every escalation is accepted or reaches its supervisor within its SLA chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from tests.wellness.strategies import BUSY_MINUTE, Step, busy_days, days, play
from tests.workflows.conftest import PEER_SUPPORT
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.conversation import ConversationInput, CustomerMessage, EscalationPolicy, workflow_id
from warmline.escalation import (
    AcceptRequest,
    EscalationStatus,
    EscalationView,
    escalation_workflow_id,
)
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.runtime import escalation_policy, roster_settings
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.policy import Shift
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

GRIEF = "My husband passed away yesterday and I don't know what to do"
CRISIS = "I want to end it all, nobody would miss me"
SPECIALISTS = ["vol-aoife", "vol-marcus", "staff-ren", "staff-nia", "staff-luis"]
STEP = timedelta(seconds=10)
SLACK = timedelta(seconds=40)
"""Polling granularity and the roster's retry backoff on top of the chain's SLAs."""


@dataclass
class Deployment:
    env: WorkflowEnvironment
    config: WarmlineConfig
    policy: EscalationPolicy
    task_queue: str
    store: WellnessStateStore


@pytest.fixture
async def deployment(
    workflow_env: WorkflowEnvironment,
    kafka_bootstrap: str,
    task_queue: str,
    redis_url: str,
    wellness_store: WellnessStateStore,
) -> AsyncIterator[Deployment]:
    config = load_config(PEER_SUPPORT, resolve_secrets=False)
    live_view = LiveView.connect(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    topic = f"events-{uuid.uuid4().hex[:8]}"
    # Created up front: a first publish to a missing topic can block its activity (and so the
    # time skipping) while the broker creates it.
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic])
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic, wellness_topic=topic)
    routing = Routing(
        roster=roster_settings(config),
        live_view=live_view,
        renderer=renderer_from_config(config),
        wellness=wellness_store,
    )
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            workflow_env.client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
            routing=routing,
        ):
            found = Deployment(
                env=workflow_env,
                config=config,
                policy=escalation_policy(config),
                task_queue=task_queue,
                store=wellness_store,
            )
            yield found
    publisher.close()
    live_view.close()


async def escalate(deployment: Deployment, text: str) -> tuple[str, str]:
    """A conversation on a roster of its own; returns its id and its escalation's id."""
    env = deployment.env
    roster_id = f"roster/prop-{uuid.uuid4().hex[:8]}"
    await ensure_roster(
        env.client, roster_id, roster_settings(deployment.config), task_queue=deployment.task_queue
    )
    assert deployment.policy.routing is not None
    policy = deployment.policy.model_copy(
        update={"routing": deployment.policy.routing.model_copy(update={"roster_id": roster_id})}
    )
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id="open-door", conversation_id=conversation, policy=policy),
        id=workflow_id("open-door", conversation),
        task_queue=deployment.task_queue,
    )
    escalation = escalation_workflow_id("open-door", conversation, 1)
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=text)
    )
    return conversation, escalation


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    team=st.lists(days | busy_days, min_size=len(SPECIALISTS), max_size=len(SPECIALISTS)),
    minute=st.just(BUSY_MINUTE) | st.integers(0, 600),
    crisis=st.booleans(),
    accept=st.booleans(),
)
async def test_wellness_never_overloads_and_the_sla_chain_still_holds(
    deployment: Deployment,
    team: list[tuple[list[Shift], list[Step]]],
    minute: int,
    crisis: bool,
    accept: bool,
) -> None:
    views = {
        worker: play(worker, schedule, stream, minute)
        for worker, (schedule, stream) in zip(SPECIALISTS, team, strict=True)
    }
    for wellness in views.values():
        deployment.store.write(wellness)
    env = deployment.env
    queues = {q.name: q for q in deployment.config.routing.queues}
    started = await env.get_current_time()
    _, escalation_id = await escalate(deployment, CRISIS if crisis else GRIEF)
    handle = env.client.get_workflow_handle_for(EscalationWorkflow.run, escalation_id)

    view: EscalationView | None = None
    for _ in range(60):
        try:
            view = await handle.query(EscalationWorkflow.view)
        except Exception:  # noqa: BLE001 - the child may not have started yet
            await asyncio.sleep(0.1)
            continue
        for offer in view.offers:
            worker = views[offer.specialist_id]
            assert worker.may_take_any, f"an offer reached {offer.specialist_id} on a break"
            if offer.crisis or queues[offer.queue].intense:
                assert worker.may_take_intense, f"{offer.queue} offered to {worker}"
        open_offers = [o for o in view.offers if o.status == "open"]
        if accept and open_offers and view.paged_supervisor is None:
            offer = open_offers[0]
            await handle.execute_update(
                EscalationWorkflow.accept,
                AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
            )
            view = await handle.query(EscalationWorkflow.view)
            assert view.status == EscalationStatus.ACCEPTED
            return
        if view.paged_supervisor is not None:
            break
        await env.sleep(STEP)
        await asyncio.sleep(0.05)
    assert view is not None
    assert view.paged_supervisor == "sup-night", view
    chain = (
        deployment.config.triage.crisis.accept_within
        if crisis
        else sum(
            (queues[q].accept_within for q in ("listening", "listening-priority", "crisis")),
            timedelta(),
        )
    )
    waited = await env.get_current_time() - started
    assert waited <= chain + SLACK, (waited, chain)
