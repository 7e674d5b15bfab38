"""A Temporal namespace over its rate limit: every API service answers UNAVAILABLE, "retry".

The dev server here really rate-limits (one request a second for the namespace, set through its
dynamic configuration); the services' Temporal client gives up on a refusal at once (the default
one retries for up to 10 s first, and then fails the same way).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig, RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import UNREACHABLE_REDIS, bearer, load_peer_support
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.v1 import annotator_pb2 as apb
from warmline.api.v1 import annotator_pb2_grpc as apb_grpc
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.api.v1 import wellness_pb2 as wpb
from warmline.api.v1 import wellness_pb2_grpc as wpb_grpc
from warmline.api.wellness import WellnessAuthenticator, WellnessService
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView
from warmline.runtime import wellness_policy, worker_kinds
from warmline.services.binaries import temporal_cli_path
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore

ONE_REQUEST_A_SECOND = [
    *("--dynamic-config-value", "frontend.namespaceRPS=1"),
    *("--dynamic-config-value", "frontend.globalNamespaceRPS=1"),
    *("--dynamic-config-value", "frontend.namespaceBurstRatio=1"),
]
GIVE_UP_AT_ONCE = RetryConfig(
    initial_interval_millis=50, max_interval_millis=100, max_elapsed_time_millis=300, max_retries=1
)
ATTEMPTS = 10
"""Calls tried while the namespace is over its limit: one may slip through as the limit refills
(then it answers as usual), but not all of them."""


@dataclass
class Stubs:
    config: WarmlineConfig
    client: Client
    specialist: pb_grpc.SpecialistServiceStub
    annotator: apb_grpc.AnnotatorServiceStub
    wellness: wpb_grpc.WellnessServiceStub


@pytest.fixture
async def rate_limited() -> AsyncIterator[Stubs]:
    """The three services over a dev server of their own whose namespace allows 1 request/s."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()),
        dev_server_log_level="error",
        dev_server_extra_args=ONE_REQUEST_A_SECOND,
    )
    config = load_peer_support()
    deployment = f"limited-{uuid.uuid4().hex[:8]}"
    live_view = LiveView.connect(UNREACHABLE_REDIS)
    store = WellnessStateStore.connect(UNREACHABLE_REDIS, deployment=deployment)
    try:
        client = await Client.connect(
            env.client.service_client.config.target_host,
            data_converter=pydantic_data_converter,
            retry_config=GIVE_UP_AT_ONCE,
        )
        workers = WellnessClient(
            client,
            deployment=deployment,
            policy=wellness_policy(config),
            task_queue=deployment,
            kinds=worker_kinds(config),
        )
        with ThreadPoolExecutor(2) as executor:
            server, port = await start_server(
                Desk(client, live_view, config, executor),
                Authenticator.from_config(config),
                "127.0.0.1:0",
                annotator=AnnotatorService(client, config),
                wellness=WellnessService(
                    config, workers, store, WellnessAuthenticator.from_config(config)
                ),
            )
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            try:
                yield Stubs(
                    config,
                    client,
                    pb_grpc.SpecialistServiceStub(channel),
                    apb_grpc.AnnotatorServiceStub(channel),
                    wpb_grpc.WellnessServiceStub(channel),
                )
            finally:
                await channel.close(None)  # no grace, as the default: grpc-stubs omits it
                await server.stop(grace=None)
    finally:
        store.close()
        live_view.close()
        await env.shutdown()


async def exhaust(client: Client) -> None:
    """Spend the namespace's requests until Temporal refuses one for its rate limit."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id="nobody")
    )
    for _ in range(100):
        try:
            await client.workflow_service.describe_workflow_execution(request, retry=False)
        except RPCError as error:
            if error.status is RPCStatusCode.RESOURCE_EXHAUSTED:
                return
    raise AssertionError("the namespace is not rate-limited")


async def answer_while_limited(client: Client, call: Callable[[], Awaitable[object]]) -> str:
    """The details of the first UNAVAILABLE answer to `call` made while the namespace is over its
    limit; no answer may be INTERNAL."""
    answers: list[tuple[grpc.StatusCode, str]] = []
    for _ in range(ATTEMPTS):
        await exhaust(client)
        answers.append(await status_of(call()))
        code, details = answers[-1]
        assert code is not grpc.StatusCode.INTERNAL, details
        if code is grpc.StatusCode.UNAVAILABLE:
            return details
    raise AssertionError(f"no call was refused for the rate limit: {answers}")


async def status_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def test_a_namespace_over_its_rate_limit_is_unavailable_with_a_retry_in_every_service(
    rate_limited: Stubs,
) -> None:
    config = rate_limited.config
    specialist = config.routing.specialists[0].id
    annotator = config.annotation.annotators[0].token.reveal()

    details = [
        await answer_while_limited(
            rate_limited.client,
            lambda: rate_limited.specialist.GetConversation(
                pb.GetConversationRequest(tenant_id=config.tenants[0].id, conversation_id="c1"),
                metadata=bearer(specialist),
            ),
        ),
        await answer_while_limited(
            rate_limited.client,
            lambda: rate_limited.annotator.NextTask(
                apb.NextTaskRequest(), metadata=(("authorization", f"Bearer {annotator}"),)
            ),
        ),
        await answer_while_limited(
            rate_limited.client,
            lambda: rate_limited.wellness.GetMyWellness(
                wpb.GetMyWellnessRequest(), metadata=bearer(specialist)
            ),
        ),
    ]

    for told in details:
        assert "rate limit" in told
        assert "retry" in told
