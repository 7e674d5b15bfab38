"""A specialist API server on 127.0.0.1:0 and clients for it, over real grpc.aio channels."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import redis
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.routing import ensure_roster
from warmline.api.auth import Authenticator
from warmline.api.desk import HANDOFF_WAIT, RPC_TIMEOUT, Desk
from warmline.api.server import (
    KEEPALIVE_TIME,
    KEEPALIVE_TIMEOUT,
    SupervisorService,
    start_server,
)
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.api.v1 import supervisor_pb2_grpc as spb_grpc
from warmline.api.wellness import WellnessAuthenticator
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    ConversationInput,
    ConversationOutcome,
    EscalationPolicy,
    workflow_id,
)
from warmline.events import EventPublisher
from warmline.handoff import HandoffRenderer, renderer_from_config
from warmline.liveview import LiveView
from warmline.runtime import escalation_policy, roster_settings
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow

PEER_SUPPORT = Path(__file__).resolve().parents[2] / "examples" / "peer-support" / "warmline.yaml"
UNREACHABLE_TEMPORAL = "127.0.0.1:9"
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def token_of(specialist_id: str) -> str:
    return f"token-of-{specialist_id}"


def load_peer_support() -> WarmlineConfig:
    """The peer-support example with every secret set; a specialist's token is `token_of(id)`."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", PEER_SUPPORT.read_text()))
    env = {name: f"secret-{name}" for name in names}
    specialists = load_config(PEER_SUPPORT, env=env).routing.specialists
    env.update({s.token.name: token_of(s.id) for s in specialists})
    return load_config(PEER_SUPPORT, env=env)


def bearer(specialist_id: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_of(specialist_id)}"),)


@dataclass
class Api:
    """A running server and a channel to it."""

    port: int
    channel: grpc.aio.Channel
    stub: pb_grpc.SpecialistServiceStub
    desk: Desk
    supervisor: spb_grpc.SupervisorServiceStub


@pytest.fixture(scope="session")
def peer_support() -> WarmlineConfig:
    return load_peer_support()


async def run_api(
    client: Client,
    live_view: LiveView,
    config: WarmlineConfig,
    *,
    roster_id: str | None = None,
    task_queue: str | None = None,
    handoff_wait: timedelta = HANDOFF_WAIT,
    rpc_timeout: timedelta = RPC_TIMEOUT,
    keepalive_time: timedelta = KEEPALIVE_TIME,
    keepalive_timeout: timedelta = KEEPALIVE_TIMEOUT,
    watch_slice_s: float = 1.0,
) -> AsyncIterator[Api]:
    """The specialist API over `client` and `live_view`. Watches wake at least every second (the
    server's 5 s): a cancelled watch's thread then ends within a second, and the thread pool,
    which waits for it, closes as quickly after each test."""
    with ThreadPoolExecutor(8, thread_name_prefix="test-api") as executor:
        desk = Desk(
            client,
            live_view,
            config,
            executor,
            roster_id=roster_id,
            task_queue=task_queue,
            handoff_wait=handoff_wait,
            rpc_timeout=rpc_timeout,
            watch_slice_s=watch_slice_s,
        )
        server, port = await start_server(
            desk,
            Authenticator.from_config(config),
            "127.0.0.1:0",
            supervisor=SupervisorService(desk, WellnessAuthenticator.from_config(config)),
            keepalive_time=keepalive_time,
            keepalive_timeout=keepalive_timeout,
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield Api(
                port,
                channel,
                pb_grpc.SpecialistServiceStub(channel),
                desk,
                spb_grpc.SupervisorServiceStub(channel),
            )
        finally:
            await channel.close(None)  # no grace, as the default: grpc-stubs omits it
            await server.stop(grace=None)


@pytest.fixture
async def offline_api(peer_support: WarmlineConfig) -> AsyncIterator[Api]:
    """A server whose Temporal and Redis are unreachable (never contacted: the client is lazy).

    Whatever these tests expect must be decided before any backend call; a call that reached a
    backend would fail as INTERNAL or UNAVAILABLE instead.
    """
    client = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    live_view = LiveView.connect(UNREACHABLE_REDIS)
    try:
        async for api in run_api(client, live_view, peer_support, handoff_wait=timedelta(0)):
            yield api
    finally:
        live_view.close()


# --- a deployment whose workers are down: dev server namespace and Redis, no worker -------------

QUICK_RPC_TIMEOUT = timedelta(seconds=1)
"""The desk's wait for a workflow's answer in `idle_deployment`: nobody answers there."""
QUICK_WATCH_SLICE_S = 0.5
"""A watch's thread is free this soon after the watch ends, so the server stops quickly."""


@dataclass
class IdleDeployment:
    """An API over a namespace of its own and a built live view, with no worker running."""

    client: Client
    task_queue: str
    live_view: LiveView
    api: Api
    redis: redis.Redis
    prefix: str

    def lose_live_view(self) -> None:
        """What a Redis restart without persistence does to this deployment's live view."""
        for key in self.redis.scan_iter(f"{self.prefix}:*"):
            self.redis.delete(key)


@pytest.fixture
async def idle_deployment(
    namespace_client: Client, peer_support: WarmlineConfig, redis_url: str, task_queue: str
) -> AsyncIterator[IdleDeployment]:
    """The specialist API on `task_queue`, whose workers are all down: a workflow started there
    never answers, and the desk waits `QUICK_RPC_TIMEOUT` for it. The live view is marked built
    (as after a rebuild), so a watch needs no workflow; `lose_live_view` unbuilds it."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    live_view = LiveView.connect(redis_url, prefix=prefix)
    try:
        async for api in run_api(
            namespace_client,
            live_view,
            peer_support,
            task_queue=task_queue,
            handoff_wait=timedelta(0),
            rpc_timeout=QUICK_RPC_TIMEOUT,
            watch_slice_s=QUICK_WATCH_SLICE_S,
        ):
            yield IdleDeployment(namespace_client, task_queue, live_view, api, raw, prefix)
    finally:
        live_view.close()
        raw.close()


# --- a whole deployment: dev server namespace, real worker, Kafka, Redis -------------------------


@dataclass
class Deployment:
    """The peer-support deployment with its own namespace, task queue, roster and live view."""

    client: Client
    task_queue: str
    policy: EscalationPolicy
    live_view: LiveView
    api: Api
    wellness: WellnessStateStore
    """The workers' wellness view the roster reads: empty (everyone fresh) unless a test writes."""

    async def start_conversation(
        self, policy: EscalationPolicy | None = None, *, conversation: str | None = None
    ) -> Conversation:
        conversation = conversation or f"conv-{uuid.uuid4().hex[:8]}"
        return await self.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=TENANT,
                conversation_id=conversation,
                country="GB",
                policy=policy or self.policy,
            ),
            id=workflow_id(TENANT, conversation),
            task_queue=self.task_queue,
        )


TENANT = "open-door"
Conversation = WorkflowHandle[ConversationWorkflow, ConversationOutcome]


@pytest.fixture
def handoff_renderer(peer_support: WarmlineConfig) -> HandoffRenderer:
    """The worker's handoff renderer in `deployment`; a test module overrides it to render with
    other limits."""
    return renderer_from_config(peer_support)


@pytest.fixture
async def deployment(
    namespace_client: Client,
    peer_support: WarmlineConfig,
    handoff_renderer: HandoffRenderer,
    kafka_bootstrap: str,
    redis_url: str,
    task_queue: str,
) -> AsyncIterator[Deployment]:
    """warmline's real worker and the specialist API over the same Temporal, Kafka and Redis."""
    policy = escalation_policy(peer_support)
    assert policy.routing is not None
    roster_id = f"roster/test-{uuid.uuid4().hex[:8]}"
    policy = policy.model_copy(
        update={"routing": policy.routing.model_copy(update={"roster_id": roster_id})}
    )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    live_view = LiveView.connect(redis_url, prefix=prefix)
    wellness = WellnessStateStore.connect(redis_url, deployment="test", prefix=f"{prefix}-wellness")
    publisher = EventPublisher.connect(kafka_bootstrap, topic=f"events-{uuid.uuid4().hex[:8]}")
    routing = Routing(
        roster=roster_settings(peer_support),
        live_view=live_view,
        renderer=handoff_renderer,
        wellness=wellness,
    )
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(
                namespace_client,
                provider=LexiconProvider(),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                routing=routing,
            ):
                await ensure_roster(
                    namespace_client, roster_id, routing.roster, task_queue=task_queue
                )
                async for api in run_api(
                    namespace_client,
                    live_view,
                    peer_support,
                    roster_id=roster_id,
                    task_queue=task_queue,
                ):
                    yield Deployment(namespace_client, task_queue, policy, live_view, api, wellness)
    finally:
        publisher.close()
        live_view.close()
        wellness.close()
