"""The wellness service with no worker polling the task queue: every call that waits for a
wellness workflow ends `UNAVAILABLE` ("the workflow did not answer in time; try again") once the
service's bound passes, instead of waiting for ever, and the retries a client then sends are
applied once when the workers are back.

Real time-skipping server, real gRPC channel; the workers are simply not started (until the last
test starts them).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.wellness import WellnessActivities
from tests.api.conftest import load_peer_support, token_of
from tests.no_answer import Servers, no_answer
from tests.wellness.test_api import LEAD, bearer, supervisor_token
from warmline.api.auth import NO_ANSWER_MESSAGE
from warmline.api.v1 import wellness_pb2 as pb
from warmline.api.v1 import wellness_pb2_grpc as pb_grpc
from warmline.api.wellness import WellnessAuthenticator, WellnessService
from warmline.config.model import WarmlineConfig
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.liveview import LiveView
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore
from workflows.wellness import WellnessWorkflow

SHORT_BOUND = timedelta(seconds=2)
"""The service's bound in these tests; production's is the desk's `RPC_TIMEOUT` (15 s)."""
WORKER = "vol-aoife"


@dataclass
class Unattended:
    """A wellness service whose workflows nobody runs (yet)."""

    env: WorkflowEnvironment
    config: WarmlineConfig
    task_queue: str
    serve: Callable[[timedelta | None], Awaitable[pb_grpc.WellnessServiceStub]]


@pytest.fixture
async def unattended(
    workflow_env: WorkflowEnvironment, redis_url: str
) -> AsyncIterator[Unattended]:
    config = load_peer_support()
    task_queue = f"nobody-polls-{uuid.uuid4()}"
    client = WellnessClient(
        workflow_env.client,
        deployment=f"test-{uuid.uuid4().hex[:8]}",
        policy=wellness_policy(config),
        task_queue=task_queue,
        kinds=worker_kinds(config),
    )
    live_view = LiveView.connect(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    store = WellnessStateStore.connect(
        redis_url, deployment=client.deployment, prefix=f"test-wellness-{uuid.uuid4().hex[:8]}"
    )
    with ThreadPoolExecutor(2) as executor:
        servers = Servers(workflow_env.client, live_view, config, executor)

        async def serve(bound: timedelta | None) -> pb_grpc.WellnessServiceStub:
            """The service with `bound`, or with its default bound when None."""
            authenticator = WellnessAuthenticator.from_config(config)
            if bound is None:
                service = WellnessService(config, client, store, authenticator)
            else:
                service = WellnessService(config, client, store, authenticator, rpc_timeout=bound)
            return pb_grpc.WellnessServiceStub(await servers.channel(wellness=service))

        try:
            yield Unattended(workflow_env, config, task_queue, serve)
        finally:
            await servers.close()
            live_view.close()
            store.close()


async def test_a_check_in_with_no_worker_is_unavailable_within_the_default_bound(
    unattended: Unattended,
) -> None:
    """The client sets no deadline: the service's own bound (15 s) ends the call."""
    stub = await unattended.serve(None)
    me = bearer(token_of(WORKER))
    details = await no_answer(stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=3), metadata=me))
    assert details == NO_ANSWER_MESSAGE


async def test_every_call_that_waits_for_a_workflow_is_unavailable_with_no_worker(
    unattended: Unattended,
) -> None:
    stub = await unattended.serve(SHORT_BOUND)
    me = bearer(token_of(WORKER))
    lead = bearer(supervisor_token(unattended.config, LEAD))
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "SubmitCheckIn": lambda: stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=3), metadata=me),
        "BreakNow": lambda: stub.BreakNow(pb.BreakNowRequest(), metadata=me),
        "EndBreak": lambda: stub.EndBreak(pb.EndBreakRequest(), metadata=me),
        "GetMyWellness": lambda: stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me),
        "GetCheckInNotes": lambda: stub.GetCheckInNotes(
            pb.GetCheckInNotesRequest(worker_id=WORKER), metadata=lead
        ),
    }
    answers = {name: await no_answer(call()) for name, call in calls.items()}
    assert answers == dict.fromkeys(calls, NO_ANSWER_MESSAGE)


async def test_retries_after_no_answer_are_applied_once_when_the_workers_are_back(
    unattended: Unattended, kafka_bootstrap: str, redis_url: str
) -> None:
    """The updates that went unanswered stay with the workflow: once a worker runs it, the first
    check-in and break are applied and the client's retries are known as retries."""
    stub = await unattended.serve(SHORT_BOUND)
    me = bearer(token_of(WORKER))
    check_in = pb.SubmitCheckInRequest(mood=2, note="rough call")
    for _ in range(2):  # the call, then the client's retry
        assert await no_answer(stub.SubmitCheckIn(check_in, metadata=me)) == NO_ANSWER_MESSAGE
        assert await no_answer(stub.BreakNow(pb.BreakNowRequest(), metadata=me))

    topic = f"wellness-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic])
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic, wellness_topic=topic)
    store = WellnessStateStore.connect(
        redis_url, deployment="test", prefix=f"test-wellness-{uuid.uuid4().hex[:8]}"
    )
    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                unattended.env.client,
                task_queue=unattended.task_queue,
                workflows=[WellnessWorkflow],
                activities=[WellnessActivities(store, publisher).sync],
                activity_executor=executor,
            ):
                state = await stub.BreakNow(pb.BreakNowRequest(), metadata=me)
                assert state.on_break
                mine = await stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    finally:
        store.close()
        publisher.close()
    assert [(c.mood, c.note) for c in mine.checkins] == [(2, "rough call")]
