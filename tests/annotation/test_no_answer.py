"""The annotator service with no worker polling the task queue: every call that waits for the
annotation loop or a wellness workflow ends `UNAVAILABLE` ("the workflow did not answer in time;
try again") once the service's bound passes, instead of waiting for ever.

Real time-skipping server and gRPC channel; the loop is started but no worker ever runs it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.annotation.test_api import bearer
from tests.api.conftest import load_peer_support
from tests.no_answer import Servers, no_answer, within_patience
from warmline.annotation.client import AnnotationLoop, AnnotationNoAnswerError, start_loop
from warmline.annotation.model import policy_from_config
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import NO_ANSWER_MESSAGE
from warmline.api.v1 import annotator_pb2 as pb
from warmline.api.v1 import annotator_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient

SHORT_BOUND = timedelta(seconds=2)
"""The service's bound in these tests; production's is the desk's `RPC_TIMEOUT` (15 s)."""
TASK = "open-door/c9/m1/emotion/1"


@dataclass
class Unattended:
    """An annotator service whose loop and wellness workflows nobody runs."""

    env: WorkflowEnvironment
    config: WarmlineConfig
    serve: Callable[[timedelta | None], Awaitable[pb_grpc.AnnotatorServiceStub]]


@pytest.fixture
async def unattended(
    workflow_env: WorkflowEnvironment, redis_url: str
) -> AsyncIterator[Unattended]:
    base = load_peer_support()
    config = base.model_copy(
        update={"metadata": base.metadata.model_copy(update={"name": f"ps-{uuid.uuid4().hex[:8]}"})}
    )
    task_queue = f"nobody-polls-{uuid.uuid4()}"
    await start_loop(workflow_env.client, policy_from_config(config), task_queue=task_queue)
    wellness = WellnessClient(
        workflow_env.client,
        deployment=config.metadata.name,
        policy=wellness_policy(config),
        task_queue=task_queue,
        kinds=worker_kinds(config),
    )
    live_view = LiveView.connect(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    with ThreadPoolExecutor(2) as executor:
        servers = Servers(workflow_env.client, live_view, config, executor)

        async def serve(bound: timedelta | None) -> pb_grpc.AnnotatorServiceStub:
            """The service with `bound`, or with its default bound when None."""
            if bound is None:
                service = AnnotatorService(workflow_env.client, config, wellness=wellness)
            else:
                service = AnnotatorService(
                    workflow_env.client, config, wellness=wellness, rpc_timeout=bound
                )
            return pb_grpc.AnnotatorServiceStub(await servers.channel(annotator=service))

        try:
            yield Unattended(workflow_env, config, serve)
        finally:
            await servers.close()
            live_view.close()


async def test_next_task_with_no_worker_is_unavailable_within_the_default_bound(
    unattended: Unattended,
) -> None:
    """The client sets no deadline: the service's own bound (15 s) ends the call."""
    stub = await unattended.serve(None)
    me = bearer(unattended.config, "an-kit")
    assert await no_answer(stub.NextTask(pb.NextTaskRequest(), metadata=me)) == NO_ANSWER_MESSAGE


async def test_every_call_that_waits_for_a_workflow_is_unavailable_with_no_worker(
    unattended: Unattended,
) -> None:
    stub = await unattended.serve(SHORT_BOUND)
    me = bearer(unattended.config, "an-kit")
    supervisor = bearer(unattended.config, "sup-night")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "NextTask": lambda: stub.NextTask(pb.NextTaskRequest(), metadata=me),
        "SubmitLabels": lambda: stub.SubmitLabels(
            pb.SubmitLabelsRequest(task_id=TASK, labels=["sadness"]), metadata=me
        ),
        "SkipTask": lambda: stub.SkipTask(
            pb.SkipTaskRequest(task_id=TASK, reason="too close to home"), metadata=me
        ),
        "FlagDistressing": lambda: stub.FlagDistressing(
            pb.FlagDistressingRequest(task_id=TASK), metadata=me
        ),
        "RevealText": lambda: stub.RevealText(pb.RevealTextRequest(task_id=TASK), metadata=me),
        "GetAgreementReport": lambda: stub.GetAgreementReport(
            pb.GetAgreementReportRequest(), metadata=supervisor
        ),
        "SetAvailability": lambda: stub.SetAvailability(
            pb.SetAnnotatorAvailabilityRequest(available=False), metadata=me
        ),
    }
    answers = {name: await no_answer(call()) for name, call in calls.items()}
    assert answers == dict.fromkeys(calls, NO_ANSWER_MESSAGE)


async def test_the_loop_client_raises_no_answer_past_its_bound(unattended: Unattended) -> None:
    """`AnnotationLoop` itself (the sampler's and the benchmarks' way in) with a bound."""
    loop = AnnotationLoop(
        unattended.env.client, unattended.config.metadata.name, rpc_timeout=SHORT_BOUND
    )
    for call in (loop.next_task("an-kit"), loop.report()):
        with pytest.raises(AnnotationNoAnswerError) as raised:
            await within_patience(call)
        assert raised.value.message == NO_ANSWER_MESSAGE
